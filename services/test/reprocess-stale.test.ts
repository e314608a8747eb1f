/* eslint-disable @typescript-eslint/no-explicit-any -- API replies are JSON of many shapes */
/**
 * Reprocessing when the recipe changes (issue 15, control/stale-work.ts) on a real library: the
 * real stages (ingest downloads fixture audio, transcribe takes the publisher's SRT, extractive
 * enrich, hash-embedding index) on real Postgres/Redis/BullMQ and the api. A changed index
 * setting makes exactly the index stage stale; reprocess-stale runs only that stage again, at the
 * reprocess priority, after a new episode's job queued later; the nightly window of the
 * scheduler; runs recorded before recipes were.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { insideWindow } from '../src/control/stale-work';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { PRIORITY } from '../src/queue/priority';
import type { QueueName } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { call, freshDatabase, startApi } from './api-support';
import { addFeed, sqlRows } from './support/db';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

const KEY = 'reprocess-stale-admin-key';
const STAGES = ['ingest', 'transcribe', 'enrich', 'index'];

function srt(sentences: string[]): string {
  const t = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace('.', ',');
  return sentences.map((s, i) => `${i + 1}\n${t(i * 4000)} --> ${t(i * 4000 + 3900)}\n${s}\n`).join('\n');
}

const SENTENCES = [
  'The telescope found a black hole at the centre of the galaxy.',
  'Gravitational waves tell us when two black holes merge.',
  'A sourdough starter needs flour, water and patience.',
  'The goalkeeper saved the penalty in the last minute.',
  'Plants turn sunlight into sugar through photosynthesis.',
  'Volcanoes release gas and ash high into the atmosphere.',
];

/** One feed; `items(n)` serves its first n episodes (each with audio and a publisher SRT). */
function serveFeed(server: FixtureServer, n: number): void {
  const items: string[] = [];
  for (let i = 0; i < n; i++) {
    server.route(`/t/${i}.srt`, serveBody(srt([...SENTENCES.slice(i), ...SENTENCES.slice(0, i)]), { contentType: 'application/x-subrip' }));
    server.route(`/a/${i}.ogg`, serveFile(fixture('audio', `fleurs-en-00${i % 7}.ogg`), { contentType: 'audio/ogg', ranges: true }));
    items.unshift(
      `<item><guid>ep-${i}</guid><title>Episode ${i}</title><pubDate>Mon, 0${i + 1} Jan 2024 10:00:00 GMT</pubDate>` +
        `<enclosure url="${server.url(`/a/${i}.ogg`)}" type="audio/ogg" length="1000"/><podcast:transcript url="${server.url(`/t/${i}.srt`)}" type="application/x-subrip"/></item>`,
    );
  }
  server.route(
    '/feed.xml',
    serveBody(`<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Science show</title><link>https://example.com/</link><description>d</description>${items.join('')}</channel></rss>`, {
      contentType: 'application/rss+xml',
    }),
  );
}

let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: ReturnType<typeof tempDir>;
let server: FixtureServer;
let baseEnv: Record<string, string>;
let feedId: string;
/** Roles started by a test, stopped after it (or in afterAll when it failed). */
const running: { close(): Promise<unknown> }[] = [];

const configWith = (env: Record<string, string> = {}): Config => loadConfig({ env: { ...baseEnv, ...env } });
const q = (sql: string, params: unknown[] = []) => sqlRows(ctxA!.database, sql, params);
let ctxA: RoleContext | null = null;

async function stopAll(): Promise<void> {
  while (running.length) await running.pop()!.close().catch(() => undefined);
}

/** Worker processes (in this process) for the given queues on `config`. */
async function startWorkers(config: Config, queues: readonly QueueName[], concurrency?: Partial<Record<QueueName, number>>): Promise<{ ctx: RoleContext; pipeline: StageJobs; host: WorkerHost }> {
  const ctx = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, poolSize: 4 });
  const pipeline = new StageJobs(ctx);
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: [...queues], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 3000, shutdownGraceMs: 3000, concurrency });
  host.start();
  running.push(ctx, host); // popped in reverse: the host closes before its context
  return { ctx, pipeline, host };
}

async function startAdminApi(config: Config) {
  const api = await startApi({ ...config, apiPort: 0, role: 'api' });
  running.push(api);
  return { ...api, admin: (method: string, p: string, json?: unknown) => call(api.base, method, `/api/admin${p}`, { key: KEY, json }) };
}

const states = async () => (await q(`SELECT state::text AS state FROM episodes ORDER BY title`)).map((r: any) => r.state as string);
const allDone = (n: number) => waitFor(`${n} episodes done`, async () => ((await states()).length === n && (await states()).every((s) => s === 'done') ? true : null), 60_000, 200);
/** Per stage: the runs of every episode (fingerprint count, attempts). */
const runsOf = (stage: string) =>
  q(`SELECT e.title, count(*)::int AS runs, sum(r.attempts)::int AS attempts FROM stage_runs r JOIN episodes e USING (episode_key) WHERE r.stage = $1 AND r.status = 'done' GROUP BY e.title ORDER BY e.title`, [stage]);
const byStage = (body: any) => Object.fromEntries((body.items as any[]).map((s) => [s.stage, s]));

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_reprocess_stale');
  tmp = tempDir('reprocess-stale');
  server = await startFixtureServer();
  serveFeed(server, 3);
  baseEnv = {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DATA_DIR: `${tmp.dir}/data`,
    MODELS_DIR: `${tmp.dir}/models`,
    QUEUE_PREFIX: `pbtest_rs_${process.pid}`,
    AUTH_API_KEY: KEY,
    ALLOW_PRIVATE_NETWORK: 'true',
    ASR_ENGINES: 'feed',
    EMBEDDINGS_PROVIDER: 'hash',
    EMBEDDINGS_DIM: '64',
    QUEUE_BACKOFF_MS: '50',
    QUEUE_LOCK_MS: '3000',
    RECONCILE_GRACE_MS: '600000',
    LOG_LEVEL: 'silent',
  };
  // The library: three episodes made with the default recipe.
  const { ctx, pipeline } = await startWorkers(configWith(), ['ingest', 'transcribe', 'enrich', 'index', 'project']);
  ctxA = await createRoleContext({ ...configWith(), role: 'scheduler' }, { log: silentLogger, poolSize: 2 });
  const { feed } = await addFeed(ctx.database, server.url('/feed.xml'), { pollIntervalS: 3600 });
  feedId = feed.id;
  await new Scheduler(ctx, pipeline, ctx.queues, ctx.redis).enqueueDuePolls();
  await allDone(3);
  await stopAll();
}, 120_000);

afterAll(async () => {
  await stopAll();
  await ctxA?.close();
  if (baseEnv) await clearRedisPrefix(baseEnv.REDIS_URL, baseEnv.QUEUE_PREFIX).catch(() => undefined);
  await server?.close();
  await db?.drop();
  tmp?.remove();
});

describe('GET /api/admin/stale and POST /api/admin/reprocess-stale', () => {
  it('an unchanged recipe: nothing is stale and nothing is queued', async () => {
    const api = await startAdminApi(configWith());
    try {
      const r = await api.admin('GET', '/stale');
      expect(r.status, r.text).toBe(200);
      expect(r.body.items.map((s: any) => s.stage)).toEqual(STAGES);
      for (const s of r.body.items) expect(s).toMatchObject({ stale: 0, done_total: 3, unknown: 0 });
      expect(r.body.reprocess).toEqual({ auto: false, window: '01:00-06:00', batch: 50 });
      const none = await api.admin('POST', '/reprocess-stale', {});
      expect(none.status, none.text).toBe(202);
      expect(none.body).toEqual({ queued: 0, checked: 0, current: 0, unable: 0, remaining: 0 });
    } finally {
      await stopAll();
    }
  });

  it('a changed index setting makes only index stale; reprocess runs index (and project) again at the reprocess priority, after a new episode queued later', async () => {
    const before = byStage((await (await startAdminApi(configWith())).admin('GET', '/stale')).body);
    await stopAll();
    const changed = configWith({ CHUNK_TOKENS: '120' });
    const api = await startAdminApi(changed);
    try {
      const r = await api.admin('GET', '/stale');
      expect(r.status, r.text).toBe(200);
      const s = byStage(r.body);
      expect(s.index).toMatchObject({ stale: 3, done_total: 3, unknown: 0 });
      for (const st of ['ingest', 'transcribe', 'enrich']) expect(s[st]).toMatchObject({ stale: 0, done_total: 3 });
      expect(s.index.current_recipe).not.toEqual(before.index.current_recipe);
      expect(s.transcribe.current_recipe).toEqual(before.transcribe.current_recipe);
      // per feed, and hostile input
      expect(byStage((await api.admin('GET', `/stale?feed_id=${feedId}`)).body).index.stale).toBe(3);
      expect((await api.admin('GET', '/stale?feed_id=no-such-feed')).status).toBe(404);
      expect((await api.admin('GET', '/stale?feed_id=%00bad')).status).toBe(400);
      expect((await api.admin('POST', '/reprocess-stale', { stage: 'digest' })).status).toBe(400);
      expect((await api.admin('POST', '/reprocess-stale', { limit: 0 })).status).toBe(400);
      expect((await api.admin('POST', '/reprocess-stale', { surprise: 1 })).status).toBe(400);
      expect((await api.admin('POST', '/reprocess-stale', { episode_key: 'no-such-episode' })).status).toBe(404);
      expect((await call(api.base, 'POST', '/api/admin/reprocess-stale', { json: {} })).status).toBe(401);

      // Two of the three are queued (the limit), nothing runs yet: their index jobs wait at the reprocess priority.
      const queued = await api.admin('POST', '/reprocess-stale', { limit: 2 });
      expect(queued.status, queued.text).toBe(202);
      expect(queued.body).toMatchObject({ queued: 2, checked: 2, remaining: 1 });
      const workerCtx = await createRoleContext({ ...changed, role: 'worker' }, { log: silentLogger, poolSize: 2 });
      running.push(workerCtx);
      const index = workerCtx.queues.get('index');
      const waiting = await index.getJobs(['prioritized', 'waiting']);
      expect(waiting).toHaveLength(2);
      for (const j of waiting) {
        expect(j.priority).toBe(PRIORITY.reprocess);
        expect(j.data.priorityClass).toBe('reprocess');
      }
      expect((await q(`SELECT count(*)::int AS n FROM episodes WHERE state = 'indexing' AND priority_class = 'reprocess'`))[0].n).toBe(2);

      // A new episode arrives meanwhile; everything before index runs for it, index is not served yet.
      serveFeed(server, 4);
      const early = await startWorkers(changed, ['ingest', 'transcribe', 'enrich']);
      await early.ctx.queues.addPollJob(feedId);
      await waitFor('the new episode waits on index', async () => (await index.getJobs(['prioritized', 'waiting'])).length === 3 || null, 30_000);
      const newJob = (await index.getJobs(['prioritized', 'waiting'])).find((j) => j.data.priorityClass === 'new');
      expect(newJob?.priority).toBe(PRIORITY.new);

      // One index worker: the new episode's job runs first although it was queued last.
      const [{ t0 }] = await q(`SELECT now() AS t0`);
      await startWorkers(changed, ['index', 'project'], { index: 1 });
      await allDone(4);
      const order = await q(`SELECT e.title FROM stage_runs r JOIN episodes e USING (episode_key) WHERE r.stage = 'index' AND r.started_at > $1 AND r.status = 'done' ORDER BY r.started_at`, [t0]);
      expect(order[0].title).toBe('Episode 3');
      expect(order).toHaveLength(3);

      // The third stale episode, then nothing is stale; earlier stages never ran again.
      expect((await api.admin('POST', '/reprocess-stale', {})).body).toMatchObject({ queued: 1, remaining: 0 });
      await allDone(4);
      for (const s of (await api.admin('GET', '/stale')).body.items) expect(s).toMatchObject({ stale: 0, unknown: 0, done_total: 4 });
      for (const st of ['ingest', 'transcribe', 'enrich']) for (const r of await runsOf(st)) expect(r).toMatchObject({ runs: 1, attempts: 1 });
      const indexRuns = await runsOf('index');
      expect(indexRuns.map((r: any) => [r.title, r.runs])).toEqual([
        ['Episode 0', 2],
        ['Episode 1', 2],
        ['Episode 2', 2],
        ['Episode 3', 1],
      ]);
    } finally {
      await stopAll();
    }
  }, 90_000);

  it('runs recorded before recipes were are unknown; reprocess-stale marks the current ones without queueing them', async () => {
    const changed = configWith({ CHUNK_TOKENS: '120' });
    const [ep] = await q(`SELECT episode_key FROM episodes WHERE title = 'Episode 1'`);
    await q(`UPDATE stage_runs SET recipe = NULL WHERE episode_key = $1`, [ep.episode_key]);
    const api = await startAdminApi(changed);
    try {
      for (const s of (await api.admin('GET', '/stale')).body.items) expect(s).toMatchObject({ stale: 0, unknown: 1 });
      const r = await api.admin('POST', '/reprocess-stale', { episode_key: ep.episode_key });
      expect(r.body).toEqual({ queued: 0, checked: 1, current: 1, unable: 0, remaining: 0 });
      // the same through the control-plane action (what the agent runs)
      const action = await api.admin('POST', '/actions/reprocess-stale', { args: { feed: feedId } });
      expect(action.status, action.text).toBe(200);
      expect(action.body).toMatchObject({ action: 'reprocess-stale', data: { queued: 0, checked: 0, remaining: 0 } });
      expect((await api.admin('POST', '/actions/reprocess-stale', { args: { stage: 'project' } })).status).toBe(400);
      for (const s of (await api.admin('GET', '/stale')).body.items) expect(s).toMatchObject({ stale: 0, unknown: 0, done_total: 4 });
      expect(await states()).toEqual(['done', 'done', 'done', 'done']);
    } finally {
      await stopAll();
    }
  });
});

describe('the nightly window (scheduler, REPROCESS_AUTO)', () => {
  it('insideWindow: local time, end excluded, past midnight', () => {
    const at = (h: number, m = 0) => new Date(2024, 0, 1, h, m);
    expect(insideWindow('01:00-06:00', at(1))).toBe(true);
    expect(insideWindow('01:00-06:00', at(5, 59))).toBe(true);
    expect(insideWindow('01:00-06:00', at(6))).toBe(false);
    expect(insideWindow('01:00-06:00', at(0, 59))).toBe(false);
    expect(insideWindow('22:00-05:00', at(23))).toBe(true);
    expect(insideWindow('22:00-05:00', at(4))).toBe(true);
    expect(insideWindow('22:00-05:00', at(12))).toBe(false);
    expect(insideWindow('03:00-03:00', at(3))).toBe(false);
    expect(() => configWith({ REPROCESS_WINDOW: '1am-6am' })).toThrow(/REPROCESS_WINDOW/);
  });

  it('back on the old recipe: queued only inside the window, only without new work waiting; old artifacts are reused (project only), the episode that never had one runs index', async () => {
    // Going back to the default chunking makes index stale again (the latest runs are of the other recipe).
    let clock = new Date(2024, 0, 1, 12, 0);
    const config = configWith({ REPROCESS_AUTO: 'true', REPROCESS_WINDOW: '01:00-06:00', REPROCESS_BATCH: '4' });
    const ctx = await createRoleContext({ ...config, role: 'scheduler' }, { log: silentLogger, poolSize: 2 });
    running.push(ctx);
    const scheduler = new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis, { now: () => clock });
    const indexBefore = await runsOf('index');

    expect(await scheduler.reprocessStale()).toEqual({ skipped: 'outside_window' });
    clock = new Date(2024, 0, 2, 3, 0);
    scheduler.setReprocessAuto(false);
    expect(await scheduler.reprocessStale()).toEqual({ skipped: 'off' });
    scheduler.setReprocessAuto(true);
    // a new episode's job waiting anywhere holds the reprocess back
    await ctx.queues.addStageJob('transcribe', { episodeKey: 'someone-new', feedId, fingerprint: 'f', priorityClass: 'new' });
    expect(await scheduler.reprocessStale()).toEqual({ skipped: 'new_work_waiting' });
    await ctx.queues.get('transcribe').obliterate({ force: true });
    expect(await states()).toEqual(['done', 'done', 'done', 'done']);

    const r = await scheduler.reprocessStale();
    expect(r).toMatchObject({ queued: 4, checked: 4 });
    const project = await ctx.queues.get('project').getJobs(['prioritized', 'waiting']);
    const index = await ctx.queues.get('index').getJobs(['prioritized', 'waiting']);
    expect(project).toHaveLength(3);
    expect(index).toHaveLength(1);
    for (const j of [...project, ...index]) expect(j.priority).toBe(PRIORITY.reprocess);
    // the batch is in the queues: the next tick adds nothing
    expect(await scheduler.reprocessStale()).toEqual({ skipped: 'batch_in_queue' });

    await startWorkers(config, ['ingest', 'transcribe', 'enrich', 'index', 'project']);
    await allDone(4);
    // Episodes 0-2 still have the default recipe's index artifact: reused, not run; Episode 3 was only indexed with the other one.
    expect(await runsOf('index')).toEqual(indexBefore.map((r: any) => (r.title === 'Episode 3' ? { ...r, runs: 2, attempts: 2 } : r)));
    const api = await startAdminApi(config);
    for (const s of (await api.admin('GET', '/stale')).body.items) expect(s).toMatchObject({ stale: 0, unknown: 0, done_total: 4 });
    // nothing stale: a pass checks nothing, and the next ones wait
    expect(await scheduler.reprocessStale()).toMatchObject({ queued: 0, checked: 0 });
    expect(await scheduler.reprocessStale()).toEqual({ skipped: 'nothing_stale_lately' });
    await stopAll();
  }, 90_000);
});
