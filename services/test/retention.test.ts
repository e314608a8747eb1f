/* eslint-disable @typescript-eslint/no-explicit-any -- SQL rows and API replies are JSON of many shapes */
/**
 * Audio retention and the disk budget (issue 15, control/retention.ts) against a real library:
 * two feeds whose episodes went through the real stage chain (ASR through the fake OpenAI
 * server, so the audio is downloaded at ingest). Each AUDIO_RETENTION mode deletes exactly the
 * audio it should — of done episodes only, never of failed or in-progress ones, never through a
 * symlink — transcripts stay, no stage runs again because audio is gone, and reprocessing from
 * transcribe downloads the audio again. DATA_MAX_GB deletes the oldest audio first until usage is
 * under the budget; the gauges are exported; the job runs on the scheduler leader only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { ControlPlane } from '../src/control/control-plane';
import { directoryBytes } from '../src/control/data-usage';
import { AudioRetention, BUDGET_TARGET } from '../src/control/retention';
import { parseAudioRetention, type AudioRetention as RetentionPolicy } from '../src/audio/retention-policy';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { walkChain } from '../src/pipeline/execute';
import { QUEUE_NAMES } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { registry } from '../src/telemetry/metrics';
import { freshDatabase } from './api-support';
import { addFeed, sqlRows } from './support/db';
import { startFakeOpenAiAsr, type FakeOpenAiAsr } from './support/fake-openai-asr';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

const GIB = 2 ** 30;
/** Feed A: five episodes (2024-01-01 … 05), feed B: three (2024-01-06 … 08). */
const FEEDS = { a: 5, b: 3 } as const;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let server: FixtureServer;
let asr: FakeOpenAiAsr;
let tmp: ReturnType<typeof tempDir>;
let config: Config;
let ctx: RoleContext;
let host: WorkerHost;
let pipeline: StageJobs;

interface Ep {
  key: string;
  feedId: string;
  title: string;
  audioRoute: string;
}
let eps: Ep[] = [];

function serveFeed(name: string, count: number, firstDay: number): { url: string; routes: string[] } {
  const items: string[] = [];
  const routes: string[] = [];
  for (let i = 0; i < count; i++) {
    const day = firstDay + i;
    const route = `/${name}/${i}.ogg`;
    routes.push(route);
    server.route(route, serveFile(fixture('audio', `fleurs-en-00${day % 7}.ogg`), { contentType: 'audio/ogg', ranges: true }));
    items.push(`<item><guid>${name}-${i}</guid><title>${name} ${day}</title><pubDate>${new Date(Date.UTC(2024, 0, day, 10)).toUTCString()}</pubDate><enclosure url="${server.url(route)}" type="audio/ogg" length="1000"/></item>`);
  }
  server.route(`/${name}.xml`, serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://example.com/</link><description>d</description>${items.join('')}</channel></rss>`, { contentType: 'application/rss+xml' }));
  return { url: server.url(`/${name}.xml`), routes };
}

/** The audio file of an episode's ingest artifact (whether or not it still exists). */
function audioOf(ep: Ep): { file: string; ingestDir: string; episodeDir: string } {
  const episodeDir = path.join(config.dataDir, 'corpus', ep.feedId, ep.key);
  const ingest = fs.readdirSync(episodeDir).find((d) => d.startsWith('ingest@'))!;
  const meta = JSON.parse(fs.readFileSync(path.join(episodeDir, ingest, 'ingest.json'), 'utf8'));
  return { file: path.join(episodeDir, ingest, meta.audio_file), ingestDir: path.join(episodeDir, ingest), episodeDir };
}
const hasAudio = (ep: Ep) => fs.existsSync(audioOf(ep).file);
const withAudio = () => eps.filter(hasAudio).map((e) => e.title);
const byTitle = (title: string) => eps.find((e) => e.title === title)!;
const configWith = (audio: RetentionPolicy, dataMaxGb = 0): Config => ({ ...config, retention: { audio, dataMaxGb } });
const retentionFor = (c: Config) => new AudioRetention({ config: c, store: ctx.store, database: ctx.database, log: silentLogger });
const runsOf = async (key: string) => Object.fromEntries((await sqlRows(ctx.database, `SELECT stage, attempts FROM stage_runs WHERE episode_key = $1`, [key])).map((r: any) => [r.stage, r.attempts]));
const stateOf = async (key: string) => (await sqlRows(ctx.database, `SELECT state::text AS state FROM episodes WHERE episode_key = $1`, [key]))[0].state;

/** Restores an episode's deleted audio from the fixture it was served from (a test re-arms the library). */
function restoreAudio(ep: Ep): void {
  const { file } = audioOf(ep);
  if (!fs.existsSync(file)) fs.copyFileSync(fixture('audio', `fleurs-en-00${dayOf(ep.title) % 7}.ogg`), file);
}
const dayOf = (title: string) => Number(title.split(' ')[1]);

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_retention');
  tmp = tempDir('retention');
  server = await startFixtureServer();
  asr = await startFakeOpenAiAsr();
  config = loadConfig({
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: path.join(tmp.dir, 'data'),
      MODELS_DIR: path.join(tmp.dir, 'models'),
      QUEUE_PREFIX: `pbtest_ret_${process.pid}`,
      ALLOW_PRIVATE_NETWORK: 'true',
      ASR_ENGINES: 'openai',
      OPENAI_BASE_URL: asr.baseUrl,
      OPENAI_ASR_RETRY_BASE_MS: '5',
      EMBEDDINGS_PROVIDER: 'hash',
      EMBEDDINGS_DIM: '64',
      QUEUE_BACKOFF_MS: '50',
      QUEUE_LOCK_MS: '5000',
      SCHEDULER_LEASE_MS: '2000',
      RECONCILE_GRACE_MS: '600000',
      FEED_BACKFILL_DEFAULT: 'all',
      LOG_LEVEL: 'silent',
    },
  });
  ctx = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, poolSize: 4 });
  pipeline = new StageJobs(ctx);
  host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: [...QUEUE_NAMES], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 5000, shutdownGraceMs: 3000 });
  host.start();
  let day = 1;
  for (const [name, count] of Object.entries(FEEDS)) {
    const served = serveFeed(name, count, day);
    day += count;
    const { feed } = await addFeed(ctx.database, served.url, { pollIntervalS: 3600 });
    await ctx.queues.addPollJob(feed.id);
    const rows = await waitFor(
      `feed ${name} done`,
      async () => {
        const r = await sqlRows(ctx.database, `SELECT episode_key, title, state::text AS state FROM episodes WHERE feed_id = $1`, [feed.id]);
        return r.length === count && r.every((e: any) => e.state === 'done') ? r : null;
      },
      90_000,
      100,
    );
    for (const r of rows) eps.push({ key: r.episode_key, feedId: feed.id, title: r.title, audioRoute: served.routes[dayOf(r.title) - (day - count)] });
  }
  eps = eps.sort((x, y) => dayOf(x.title) - dayOf(y.title));
}, 180_000);

afterAll(async () => {
  await host?.close();
  await ctx?.close();
  if (config) await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await asr?.close();
  await server?.close();
  await db?.drop();
  tmp?.remove();
});

describe('AUDIO_RETENTION', () => {
  it('parses its four forms and refuses the rest', () => {
    expect(loadConfig({ env: {} }).retention).toEqual({ audio: { mode: 'keep-all' }, dataMaxGb: 0 });
    expect(parseAudioRetention('delete-after-transcribe')).toEqual({ mode: 'delete-after-transcribe' });
    expect(parseAudioRetention('last:3')).toEqual({ mode: 'last', n: 3 });
    expect(parseAudioRetention('days:30')).toEqual({ mode: 'days', days: 30 });
    for (const bad of ['last:0', 'days:0', 'last:-1', 'keep', 'days:1.5', 'last:abc', '']) expect(parseAudioRetention(bad), bad).toBeNull();
    expect(() => loadConfig({ env: { AUDIO_RETENTION: 'forever' } })).toThrow(/AUDIO_RETENTION .*keep-all, delete-after-transcribe, last:N/);
    expect(() => loadConfig({ env: { DATA_MAX_GB: '-1' } })).toThrow(/DATA_MAX_GB/);
  });

  it('keep-all deletes nothing; days:D deletes audio downloaded more than D days ago, of done episodes only', async () => {
    expect(eps.map((e) => e.title)).toEqual(['a 1', 'a 2', 'a 3', 'a 4', 'a 5', 'b 6', 'b 7', 'b 8']);
    expect(withAudio()).toHaveLength(8);
    expect(await retentionFor(configWith({ mode: 'keep-all' })).applyPolicy()).toBeNull();
    expect(withAudio()).toHaveLength(8);

    const old = new Date(Date.now() - 10 * 86_400_000);
    for (const t of ['a 1', 'a 2', 'b 6']) fs.utimesSync(audioOf(byTitle(t)).file, old, old);
    // a 2 failed, b 6 is being transcribed again: theirs stay whatever their age
    await sqlRows(ctx.database, `UPDATE episodes SET state = 'failed' WHERE episode_key = $1`, [byTitle('a 2').key]);
    await sqlRows(ctx.database, `UPDATE episodes SET state = 'transcribing' WHERE episode_key = $1`, [byTitle('b 6').key]);
    try {
      const freed = fs.statSync(audioOf(byTitle('a 1')).file).size;
      const cleaned = await retentionFor(configWith({ mode: 'days', days: 7 })).applyPolicy();
      expect(cleaned).toEqual({ files: 1, bytes: freed, episodes: 1 });
      expect(withAudio()).toEqual(eps.filter((e) => e.title !== 'a 1').map((e) => e.title));
    } finally {
      await sqlRows(ctx.database, `UPDATE episodes SET state = 'done' WHERE episode_key = ANY($1)`, [[byTitle('a 2').key, byTitle('b 6').key]]);
    }
    restoreAudio(byTitle('a 1'));
  });

  it('last:N keeps the N newest done episodes of each feed', async () => {
    // a 5 (the newest of a) failed: it neither keeps its place among the newest nor loses its audio
    await sqlRows(ctx.database, `UPDATE episodes SET state = 'failed' WHERE episode_key = $1`, [byTitle('a 5').key]);
    try {
      const cleaned = await retentionFor(configWith({ mode: 'last', n: 2 })).applyPolicy();
      // a: done are 1-4, newest two 3, 4 keep theirs; b: 6-8, newest two 7, 8
      expect(cleaned?.episodes).toBe(3);
      expect(withAudio()).toEqual(['a 3', 'a 4', 'a 5', 'b 7', 'b 8']);
    } finally {
      await sqlRows(ctx.database, `UPDATE episodes SET state = 'done' WHERE episode_key = $1`, [byTitle('a 5').key]);
    }
    for (const e of eps) restoreAudio(e);
    expect(withAudio()).toHaveLength(8);
  });

  it('delete-after-transcribe deletes the audio of every done episode, never through a symlink; transcripts stay and no stage runs again', async () => {
    const inProgress = byTitle('b 7');
    await sqlRows(ctx.database, `UPDATE episodes SET state = 'indexing' WHERE episode_key = $1`, [inProgress.key]);
    const outside = path.join(tmp.dir, 'outside.ogg');
    fs.writeFileSync(outside, 'not yours');
    const planted = path.join(audioOf(byTitle('a 3')).ingestDir, 'evil.ogg');
    fs.symlinkSync(outside, planted);
    // a done episode whose directory is a symlink to elsewhere is left alone too
    const linked = byTitle('a 4');
    const realDir = audioOf(linked).episodeDir;
    const movedTo = path.join(tmp.dir, 'moved-episode');
    fs.renameSync(realDir, movedTo);
    fs.symlinkSync(movedTo, realDir);
    const runsBefore = Object.fromEntries(await Promise.all(eps.map(async (e) => [e.key, await runsOf(e.key)] as const)));
    try {
      const cleaned = await retentionFor(configWith({ mode: 'delete-after-transcribe' })).applyPolicy();
      expect(cleaned?.episodes).toBe(6);
      expect(withAudio()).toEqual(['a 4', 'b 7']);
      expect(fs.readFileSync(outside, 'utf8')).toBe('not yours');
      expect(fs.lstatSync(planted).isSymbolicLink()).toBe(true);
    } finally {
      fs.rmSync(realDir);
      fs.renameSync(movedTo, realDir);
      fs.rmSync(planted);
      await sqlRows(ctx.database, `UPDATE episodes SET state = 'done' WHERE episode_key = $1`, [inProgress.key]);
    }
    for (const e of eps.filter((x) => !hasAudio(x))) {
      // the ingest artifact is still committed: the chain is complete, nothing is next
      const loaded = (await ctx.episodes.feedEpisode(e.key))!;
      const walk = await walkChain(ctx, loaded.episode);
      expect(walk.next, e.title).toBeUndefined();
      expect(Object.keys(walk.inputs)).toEqual(['ingest', 'transcribe', 'enrich', 'index']);
      expect(fs.existsSync(path.join(audioOf(e).episodeDir, fs.readdirSync(audioOf(e).episodeDir).find((d) => d.startsWith('transcribe@'))!, 'transcript.json'))).toBe(true);
    }
    // the reconciler and a scheduler pass leave them alone: no stage ran
    const scheduler = new Scheduler({ ...ctx, config: configWith({ mode: 'keep-all' }) }, pipeline, ctx.queues, ctx.redis);
    await scheduler.lock.tick();
    try {
      await scheduler.tick();
    } finally {
      await scheduler.stop();
    }
    for (const e of eps) expect(await runsOf(e.key), e.title).toEqual(runsBefore[e.key]);
  });

  it('reprocessing from transcribe after the audio was deleted downloads it again (ingest does not run)', async () => {
    const ep = byTitle('a 1');
    expect(hasAudio(ep)).toBe(false);
    const hits = server.hits(ep.audioRoute);
    const asrBefore = asr.requests.length;
    const runs = await runsOf(ep.key);
    const plane = new ControlPlane({ config, redis: ctx.redis, queues: ctx.queues, database: ctx.database, log: silentLogger, stages: ctx.stages });
    await plane.run('reprocess-episode', { episode: ep.key, from_stage: 'transcribe' });
    await waitFor('reprocessed', async () => (await stateOf(ep.key)) === 'done' && (await runsOf(ep.key)).transcribe > runs.transcribe, 60_000, 100);
    expect(server.hits(ep.audioRoute)).toBe(hits + 1);
    expect(asr.requests.length).toBe(asrBefore + 1);
    const after = await runsOf(ep.key);
    expect(after.ingest).toBe(runs.ingest);
    const dir = audioOf(ep).episodeDir;
    const transcribe = JSON.parse(fs.readFileSync(path.join(dir, fs.readdirSync(dir).find((d) => d.startsWith('transcribe@'))!, 'meta.json'), 'utf8'));
    expect(transcribe.info).toMatchObject({ engine: 'openai', audio_source: 'downloaded' });
    // fetched for ASR only: the ingest artifact still has none, nothing is left in staging
    expect(hasAudio(ep)).toBe(false);
    expect(fs.readdirSync(path.join(config.dataDir, 'tmp'))).toEqual([]);
  });
});

describe('DATA_MAX_GB', () => {
  it('over the budget, the oldest done episodes lose their audio first until usage is under it (with a margin); the gauges say so', async () => {
    for (const e of eps) restoreAudio(e);
    await sqlRows(ctx.database, `UPDATE episodes SET state = 'failed' WHERE episode_key = $1`, [byTitle('a 1').key]); // the oldest, but failed
    try {
      const used = await directoryBytes(config.dataDir);
      const sizes = eps.map((e) => fs.statSync(audioOf(e).file).size);
      // a budget that needs three done episodes' audio gone (from a 2 on) to get under BUDGET_TARGET of it
      const needed = sizes[1] + sizes[2] + sizes[3] - 1;
      const budgetBytes = Math.ceil((used - needed) / BUDGET_TARGET);
      expect(budgetBytes).toBeLessThan(used);
      const retention = retentionFor(configWith({ mode: 'keep-all' }, budgetBytes / GIB));
      const pass = await retention.tick(Date.now(), true);
      expect(pass.policy).toBeNull();
      expect(pass.budget).toMatchObject({ episodes: 3, bytes: sizes[1] + sizes[2] + sizes[3] });
      expect(withAudio()).toEqual(['a 1', 'a 5', 'b 6', 'b 7', 'b 8']);
      expect(pass.dataBytes).toBe(await directoryBytes(config.dataDir));
      expect(pass.dataBytes!).toBeLessThanOrEqual(budgetBytes * BUDGET_TARGET);

      const text = await registry.metrics();
      expect(text).toContain(`podbrain_data_bytes ${pass.dataBytes}`);
      expect(text).toContain(`podbrain_data_budget_bytes ${Math.floor(budgetBytes)}`);
      expect(text).toMatch(/podbrain_audio_deleted_bytes_total\{reason="budget"\} \d+/);

      // under the budget now: the next pass deletes nothing
      expect((await retention.tick(Date.now(), true)).budget).toBeNull();
    } finally {
      await sqlRows(ctx.database, `UPDATE episodes SET state = 'done' WHERE episode_key = $1`, [byTitle('a 1').key]);
    }
  });

  it('runs on the scheduler leader only', async () => {
    for (const e of eps) restoreAudio(e);
    const leaderless = { ...ctx, config: { ...configWith({ mode: 'delete-after-transcribe' }), queue: { ...config.queue, prefix: `${config.queue.prefix}_lead` } } };
    const a = new Scheduler(leaderless, pipeline, ctx.queues, ctx.redis);
    const b = new Scheduler(leaderless, pipeline, ctx.queues, ctx.redis);
    try {
      expect(await a.lock.tick()).toBe(true);
      expect(await b.lock.tick()).toBe(false);
      await b.tick();
      expect(withAudio()).toHaveLength(8);
      await a.tick();
      expect(withAudio()).toEqual([]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
