/* eslint-disable @typescript-eslint/no-explicit-any -- API replies are JSON of many shapes */
/**
 * The control plane's actions (issue 14, control/control-plane.ts) against real Postgres, Redis
 * and BullMQ: each one really does its thing — through the admin API (and its audit), or through
 * ControlPlane.run as the agent calls it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { ControlPlane } from '../src/control/control-plane';
import { jobHandlers } from '../src/jobs/handlers';
import { pollFeedJob } from '../src/jobs/poll.jobs';
import { StageJobs } from '../src/jobs/stage.jobs';
import { pollJobId, QUEUE_NAMES, type QueueName } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { addFeed, sqlRows } from './support/db';
import { fakeStages, writeLocalFeed } from './support/fake-stages';
import { serveBody, startFixtureServer } from './support/http-fixture-server';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

const KEY = 'control-actions-admin-key';
let db: Awaited<ReturnType<typeof freshDatabase>>;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;
let ctx: RoleContext;
let pipeline: StageJobs;
let tmp: ReturnType<typeof tempDir>;
const fake = fakeStages();

const admin = (method: string, p: string, json?: unknown) => call(api.base, method, `/api/admin${p}`, { key: KEY, json });
const state = async (key: string) => (await sqlRows(ctx.database, `SELECT state::text AS state FROM episodes WHERE episode_key = $1`, [key]))[0]?.state;
const episodesOf = async (feedId: string): Promise<{ episode_key: string; title: string; state: string }[]> =>
  sqlRows(ctx.database, `SELECT episode_key, title, state::text AS state FROM episodes WHERE feed_id = $1 ORDER BY title`, [feedId]);

function workers(queues: readonly QueueName[], concurrency?: Partial<Record<QueueName, number>>): WorkerHost {
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: [...queues], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 3000, shutdownGraceMs: 3000, concurrency });
  host.start();
  return host;
}

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_e2_actions');
  tmp = tempDir('control-actions');
  config = apiConfig(db.url, { AUTH_API_KEY: KEY, QUEUE_BACKOFF_MS: '50', SCHEDULER_LEASE_MS: '2000', RECONCILE_GRACE_MS: '600000' });
  api = await startApi(config);
  ctx = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, stages: fake.stages, poolSize: 4 });
  pipeline = new StageJobs(ctx);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await ctx?.close();
  if (config) await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await db?.drop();
  tmp?.remove();
});

describe('feeds: pause, resume, refresh', () => {
  it('a paused feed is not polled by the scheduler, cannot be refreshed, and is polled again once resumed', async () => {
    const { feed } = await addFeed(ctx.database, writeLocalFeed(tmp.dir, 'paused', ['One']), { pollIntervalS: 3600 });
    const ingest = ctx.queues.get('ingest');
    const scheduler = new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
    await scheduler.lock.tick();
    try {
      expect((await admin('POST', `/feeds/${feed.id}/pause`)).status).toBe(200);
      const listed = (await call(api.base, 'GET', '/api/feeds', { key: KEY })).body.items as { id: string; paused: boolean }[];
      expect(listed.find((f) => f.id === feed.id)).toMatchObject({ paused: true });
      await scheduler.tick();
      expect(await ingest.getJob(pollJobId(feed.id))).toBeUndefined();
      const refused = await admin('POST', `/feeds/${feed.id}/refresh`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.message).toContain('paused');
      // the tenant's own refresh is refused too: its poll would store nothing
      expect((await call(api.base, 'POST', `/api/feeds/${feed.id}/refresh`, { key: KEY })).status).toBe(409);

      expect((await admin('POST', `/feeds/${feed.id}/resume`)).status).toBe(200);
      await scheduler.tick();
      expect(await ingest.getJob(pollJobId(feed.id))).toBeDefined();
      await ingest.drain(true);

      // refresh: polled now although the scheduler just pushed its next poll an hour out
      const refreshed = await admin('POST', `/feeds/${feed.id}/refresh`);
      expect(refreshed).toMatchObject({ status: 202, body: { action: 'refresh-feed', data: { job_id: pollJobId(feed.id) } } });
      expect(await ingest.getJob(pollJobId(feed.id))).toBeDefined();
      await ingest.drain(true);
      expect((await admin('POST', '/feeds/nope/pause')).status).toBe(404);
    } finally {
      await scheduler.stop();
    }
  });

  it('a feed paused while its poll is fetching it stores and queues nothing new', async () => {
    const server = await startFixtureServer();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const xml = `<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title><link>https://example.com</link><description>d</description><item><guid>s1</guid><title>Slow one</title><enclosure url="${server.url('/a.ogg')}" type="audio/ogg" length="10"/></item></channel></rss>`;
    server.route('/slow.xml', async (req, res) => {
      await gate;
      await serveBody(xml, { contentType: 'application/rss+xml' })(req, res);
    });
    try {
      const { feed } = await addFeed(ctx.database, server.url('/slow.xml'), { pollIntervalS: 3600 });
      const poll = pollFeedJob(ctx, pipeline, feed.id, new AbortController().signal);
      await waitFor('the fetch started', async () => server.hits('/slow.xml') > 0, 10_000, 20);
      expect((await admin('POST', `/feeds/${feed.id}/pause`)).status).toBe(200);
      release();
      expect(await poll).toMatchObject({ paused: true, created: 0 });
      expect(await episodesOf(feed.id)).toEqual([]);
      expect(await ctx.queues.get('ingest').getWaitingCount()).toBe(0);
    } finally {
      release();
      await server.close();
    }
  });
});

describe('episodes: reprocess, bump priority', () => {
  it('reprocess from index runs index and project again, not transcribe or enrich', async () => {
    const host = workers(QUEUE_NAMES);
    try {
      const { feed } = await addFeed(ctx.database, writeLocalFeed(tmp.dir, 'again', ['Again']), { pollIntervalS: 3600 });
      await ctx.queues.addPollJob(feed.id);
      const [ep] = await waitFor('episode done', async () => {
        const eps = await episodesOf(feed.id);
        return eps.length === 1 && eps[0].state === 'done' ? eps : null;
      }, 30_000, 100);
      const runsOf = async () =>
        Object.fromEntries((await sqlRows(ctx.database, `SELECT stage, attempts FROM stage_runs WHERE episode_key = $1`, [ep.episode_key])).map((r: any) => [r.stage, r.attempts]));
      expect(await runsOf()).toEqual({ ingest: 1, transcribe: 1, enrich: 1, index: 1, project: 1 });
      const before = { ...fake.runs };

      // the API route plans with the real stage chain; the agent's ControlPlane with the role's (here: the fake one)
      const plane = new ControlPlane({ config, redis: ctx.redis, queues: ctx.queues, database: ctx.database, log: silentLogger, stages: ctx.stages });
      const outcome = await plane.run('reprocess-episode', { episode: ep.episode_key, from_stage: 'index' });
      expect(outcome.data).toMatchObject({ removed: 1 });
      await waitFor('index ran again', async () => fake.runs.index > before.index && (await state(ep.episode_key)) === 'done', 30_000, 100);
      await waitFor('projected again', async () => (await runsOf()).project === 2, 10_000, 100);
      expect(fake.runs).toEqual({ ...before, index: before.index + 1 });
      expect(await runsOf()).toEqual({ ingest: 1, transcribe: 1, enrich: 1, index: 2, project: 2 });

      // from transcribe: transcribe, enrich and index all run again, ingest does not
      await plane.run('reprocess-episode', { episode: ep.episode_key, from_stage: 'transcribe' });
      await waitFor('all later stages ran again', async () => (await runsOf()).project === 3 && (await state(ep.episode_key)) === 'done', 30_000, 100);
      expect(await runsOf()).toEqual({ ingest: 1, transcribe: 2, enrich: 2, index: 3, project: 3 });

      expect((await admin('POST', '/episodes/nope/reprocess', { from_stage: 'index' })).status).toBe(404);
      const bad = await admin('POST', `/episodes/${ep.episode_key}/reprocess`, { from_stage: 'digest' });
      expect(bad.status).toBe(400);
      expect((await admin('POST', `/episodes/${ep.episode_key}/priority`)).status).toBe(409); // done: no waiting job
      expect((await admin('POST', '/episodes/nope/priority')).status).toBe(404);
    } finally {
      await host.close();
    }
  }, 90_000);

  it('bump-priority makes the episode the next one its queue hands out', async () => {
    // everything but transcribe runs: the episodes pile up waiting for it
    const host = workers(QUEUE_NAMES.filter((q) => q !== 'transcribe'));
    let gpu: WorkerHost | null = null;
    try {
      const { feed } = await addFeed(ctx.database, writeLocalFeed(tmp.dir, 'backlog', ['First', 'Second', 'Third']), { pollIntervalS: 3600 });
      await ctx.queues.addPollJob(feed.id);
      const transcribe = ctx.queues.get('transcribe');
      // stage jobs carry a priority (queue/priority.ts): BullMQ keeps them in its prioritized set
      const waitingJobs = () => transcribe.getJobs(['waiting', 'prioritized'], 0, -1, true);
      await waitFor('three episodes waiting for transcribe', async () => (await waitingJobs()).length === 3 && (await episodesOf(feed.id)).every((e) => e.state === 'transcribing'), 30_000, 100);
      // listed ascending: in the order workers take the jobs; bump the one that would go last.
      const waiting = await waitingJobs();
      const newest = waiting[waiting.length - 1];
      const key = (newest.data as { episodeKey: string }).episodeKey;
      const bumped = await admin('POST', `/episodes/${key}/priority`);
      expect(bumped).toMatchObject({ status: 200, body: { action: 'bump-priority', data: { queue: 'transcribe', job_id: newest.id } } });
      const title = (await episodesOf(feed.id)).find((e) => e.episode_key === key)!.title;

      const seen = fake.order.length;
      gpu = workers(['transcribe'], { transcribe: 1 });
      await waitFor('all transcribed', async () => fake.order.slice(seen).filter((o) => o.stage === 'transcribe').length >= 3, 30_000, 100);
      const taken = fake.order.slice(seen).filter((o) => o.stage === 'transcribe').map((o) => o.title);
      expect(taken[0]).toBe(title);
      expect(new Set(taken)).toEqual(new Set(['First', 'Second', 'Third']));
      await waitFor('all done', async () => (await episodesOf(feed.id)).every((e) => e.state === 'done'), 30_000, 100);
    } finally {
      await gpu?.close();
      await host.close();
    }
  }, 90_000);
});

describe('clean-artifacts', () => {
  it('deletes old audio of done episodes only (not recent audio, not other states, never through a symlink); transcripts stay', async () => {
    const rows: { episode_key: string; feed_id: string; state: string; title: string }[] = await sqlRows(ctx.database, `SELECT episode_key, feed_id, state::text AS state, title FROM episodes WHERE state = 'done' ORDER BY title`);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const audioOf = (r: { feed_id: string; episode_key: string }) => {
      const dir = path.join(config.dataDir, 'corpus', r.feed_id, r.episode_key);
      const ingest = fs.readdirSync(dir).find((d) => d.startsWith('ingest@'))!;
      const meta = JSON.parse(fs.readFileSync(path.join(dir, ingest, 'ingest.json'), 'utf8')) as { audio_file: string };
      return { dir, audio: path.join(dir, ingest, meta.audio_file), ingestDir: path.join(dir, ingest) };
    };
    const old = new Date(Date.now() - 3 * 86_400_000);
    for (const r of rows) fs.utimesSync(audioOf(r).audio, old, old);
    const [failed, recent, ...cleaned] = rows;
    await sqlRows(ctx.database, `UPDATE episodes SET state = 'failed' WHERE episode_key = $1`, [failed.episode_key]);
    fs.utimesSync(audioOf(recent).audio, new Date(), new Date());
    // a symlink planted in a done episode's ingest directory, to an old audio file outside DATA_DIR
    const outside = path.join(tmp.dir, 'outside.mp3');
    fs.writeFileSync(outside, 'not yours');
    fs.utimesSync(outside, old, old);
    fs.symlinkSync(outside, path.join(audioOf(cleaned[0]).ingestDir, 'evil.mp3'));
    const sizes = cleaned.reduce((n, r) => n + fs.statSync(audioOf(r).audio).size, 0);

    expect((await admin('POST', '/actions/clean-artifacts', { args: { older_than: 'yesterday' } })).status).toBe(400);
    const res = await admin('POST', '/actions/clean-artifacts', { args: { older_than: '1d' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ files: cleaned.length, bytes: sizes, episodes: cleaned.length });
    for (const r of cleaned) {
      const a = audioOf(r);
      expect(fs.existsSync(a.audio)).toBe(false);
      const transcript = fs.readdirSync(a.dir).find((d) => d.startsWith('transcribe@'))!;
      expect(fs.existsSync(path.join(a.dir, transcript, 'transcript.json'))).toBe(true);
    }
    expect(fs.existsSync(audioOf(failed).audio)).toBe(true);
    expect(fs.existsSync(audioOf(recent).audio)).toBe(true);
    expect(fs.readFileSync(outside, 'utf8')).toBe('not yours');
    // the api serves no audio for a cleaned episode (404), not an error
    expect((await call(api.base, 'GET', `/api/episodes/${cleaned[0].episode_key}/audio`, { key: KEY })).status).toBe(404);
  });
});

describe('jobs and queues through the actions endpoint', () => {
  it('retry-failed, retry-job, promote-job, cancel-job act on real jobs; unknown ids are 404, bad args 400', async () => {
    const queue = new Queue('digest', { connection: ctx.redis, prefix: ctx.queues.prefix });
    const worker = new Worker('digest', async (job) => { if (job.data.fail) throw new Error(`boom ${job.id}`); }, { connection: ctx.redis.duplicate(), prefix: ctx.queues.prefix });
    try {
      await queue.add('digest', { fail: true }, { jobId: 'f1', attempts: 1 });
      await queue.add('digest', { fail: true }, { jobId: 'f2', attempts: 1 });
      await waitFor('two failed', async () => (await queue.getFailedCount()) === 2, 10_000, 50);
      await worker.pause();
      const retried = await admin('POST', '/actions/retry-failed', { args: { queue: 'digest' } });
      expect(retried).toMatchObject({ status: 200, body: { data: { retried: 2, skipped: 0 } } });
      expect(await queue.getFailedCount()).toBe(0);
      expect(await (await queue.getJob('f1'))!.getState()).toBe('waiting');
      expect((await admin('POST', '/actions/retry-job', { args: { queue: 'digest', id: 'f1' } })).status).toBe(409);
      expect((await admin('POST', '/actions/retry-job', { args: { queue: 'digest', id: 'nope' } })).status).toBe(404);
      expect((await admin('POST', '/actions/retry-failed', { args: { cause: 'no such cause' } })).status).toBe(404);

      await queue.add('digest', {}, { jobId: 'later', delay: 3_600_000 });
      expect((await admin('POST', '/actions/promote-job', { args: { queue: 'digest', id: 'later' } })).status).toBe(200);
      expect(await (await queue.getJob('later'))!.getState()).toBe('waiting');
      const cancelled = await admin('POST', '/actions/cancel-job', { args: { queue: 'digest', id: 'later' } });
      expect(cancelled.body.data).toEqual({ cancelled: 'removed' });
      expect(await queue.getJob('later')).toBeUndefined();

      const bad = await admin('POST', '/actions/retry-job', { args: { queue: 'nope', id: 'x' } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toContain('queue');
      expect((await admin('POST', '/actions/launch-missiles', { args: {} })).status).toBe(404);
      expect((await admin('POST', '/actions/pause-queue', { args: { queue: 'digest', extra: 1 } })).status).toBe(400);
      const listed = (await admin('GET', '/actions')).body.items as { id: string; summary: string; args: any }[];
      expect(listed.map((a) => a.id)).toContain('clean-artifacts');
      expect(listed.find((a) => a.id === 'reprocess-episode')!.args.properties.from_stage.enum).toContain('index');
      // audited, with who
      const audit = (await admin('GET', '/audit?limit=50')).body.items as { path: string; status: number; actor: string }[];
      expect(audit).toContainEqual(expect.objectContaining({ path: '/api/admin/actions/retry-failed', status: 200, actor: 'admin-key' }));
    } finally {
      await queue.drain(true);
      await worker.close();
      await queue.close();
    }
  });
});

describe('runtime settings through the API', () => {
  it('lists, sets (400 for a bad key or value), resets; set-concurrency stores the value too', async () => {
    const list = async () => Object.fromEntries(((await admin('GET', '/settings')).body.items as any[]).map((s) => [s.key, s]));
    expect((await list())['feeds.poll_interval_s']).toMatchObject({ value: config.feeds.pollIntervalS, default: config.feeds.pollIntervalS, source: 'env', updated_at: null, updated_by: null });
    expect((await admin('PUT', '/settings/feeds.poll_interval_s', { value: 5 })).status).toBe(400);
    expect((await admin('PUT', '/settings/no.such.key', { value: 5 })).status).toBe(400);
    expect((await admin('PUT', '/settings/feeds.poll_interval_s', {})).status).toBe(400);
    expect((await admin('PUT', '/settings/feeds.poll_interval_s', { value: 900 })).status).toBe(200);
    expect((await list())['feeds.poll_interval_s']).toMatchObject({ value: 900, source: 'runtime', updated_by: 'admin-key', updated_at: expect.any(String) });
    expect((await admin('DELETE', '/settings/feeds.poll_interval_s')).status).toBe(200);
    expect((await list())['feeds.poll_interval_s']).toMatchObject({ value: config.feeds.pollIntervalS, source: 'env' });
    expect((await admin('PUT', '/queues/enrich/concurrency', { concurrency: 5 })).status).toBe(202);
    expect((await list())['queue.enrich.concurrency']).toMatchObject({ value: 5, source: 'runtime' });
    expect((await admin('POST', '/actions/set-setting', { args: { key: 'agent.kill_switch', value: 'on' } })).body.data).toMatchObject({ key: 'agent.kill_switch', value: true });
  });
});
