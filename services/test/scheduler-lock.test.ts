import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Worker } from 'bullmq';
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { nextPollDelayS } from '../src/feeds/poll-schedule';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { LeaderLock } from '../src/scheduler/leader-lock';
import { Scheduler } from '../src/scheduler/scheduler';
import { StageJobs } from '../src/jobs/stage.jobs';
import { stageJobId } from '../src/queue/queues';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';
import { addFeed, sqlRows } from './support/db';

describe('scheduler leader lock (real Redis)', () => {
  const redis = new IORedis('redis://127.0.0.1:6379');
  const key = `pbtest_e1lock_${process.pid}:scheduler:leader`;
  afterAll(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it('exactly one holder; a standby takes over once the holder stops renewing', async () => {
    const a = new LeaderLock(redis, key, 600);
    const b = new LeaderLock(redis, key, 600);
    expect(await a.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    expect(await a.tick()).toBe(true); // renewal
    expect(await redis.get(key)).toBe(a.token);
    // a dies without releasing (kill -9): b gets it after the lease
    const t0 = Date.now();
    await waitFor('standby takes over', () => b.tick(), 5000, 100);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await a.tick()).toBe(false);
    await b.release();
    expect(await redis.get(key)).toBeNull();
  });
});

describe('feed poll timing', () => {
  it('jitters ±10 % and backs off exponentially on errors, capped at a day', () => {
    expect(nextPollDelayS(3600, 0, () => 0)).toBe(3240);
    expect(nextPollDelayS(3600, 0, () => 1)).toBe(3960);
    expect(nextPollDelayS(600, 1, () => 0.5)).toBe(1200);
    expect(nextPollDelayS(600, 3, () => 0.5)).toBe(4800);
    expect(nextPollDelayS(600, 30, () => 0.5)).toBe(86400);
  });
});

describe('scheduler: polls, reconciler, reaper (real Postgres + Redis, no workers)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  let config: Config;
  let ctx: RoleContext;
  let scheduler: Scheduler;

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('e1-sched');
    config = loadConfig({ env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_e1s_${process.pid}`, RECONCILE_GRACE_MS: '0', STUCK_EPISODE_S: '2' } });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    ctx = await createRoleContext(config, { log: silentLogger, poolSize: 3 });
    scheduler = new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis);
    expect(await scheduler.lock.tick()).toBe(true);
  });
  afterAll(async () => {
    await scheduler?.stop();
    await ctx?.close();
    await clearRedisPrefix(config.redisUrl, config.queue.prefix);
    await db?.drop();
    tmp?.remove();
  });

  it('enqueues one poll per due feed, and not again before the interval', async () => {
    const feedFile = path.join(tmp.dir, 'f.xml');
    writeFileSync(feedFile, '<rss version="2.0"><channel><title>t</title></channel></rss>');
    const { feed } = await addFeed(ctx.database, feedFile, { pollIntervalS: 3600 });
    expect(await scheduler.enqueueDuePolls()).toBe(1);
    expect(await scheduler.enqueueDuePolls()).toBe(0);
    expect(await ctx.queues.get('ingest').getJobState(`poll.${feed.id}`)).toBe('waiting');
  });

  it('re-enqueues an episode whose job is gone (e.g. Redis lost it) and fails one whose job failed, keeping the error', async () => {
    const [{ id: feedId }] = await sqlRows(ctx.database, `SELECT id FROM feeds LIMIT 1`);
    const source = { guid: 'g', title: 'Lost', description: null, link: null, image: null, published: null, durationS: null, enclosure: { url: 'https://example.com/a.mp3', type: 'audio/mpeg', length: 1 }, transcripts: [], chaptersUrl: null, persons: [], season: null, episode: null, episodeType: null, explicit: null, author: null };
    await sqlRows(ctx.database, `INSERT INTO episodes (episode_key, feed_id, title, state, source, job_id) VALUES ('lost1', $1, 'Lost', 'downloading', $2, 'ingest.lost1.000000000000')`, [feedId, JSON.stringify(source)]);
    await sqlRows(ctx.database, `INSERT INTO episodes (episode_key, feed_id, title, state, source, job_id) VALUES ('bad1', $1, 'Bad', 'transcribing', $2, 'transcribe.bad1.000000000000')`, [feedId, JSON.stringify({ ...source, title: 'Bad' })]);
    // a transcribe job that has failed for good (a real worker, one attempt)
    const tq = ctx.queues.get('transcribe');
    await tq.add('stage', { episodeKey: 'bad1' }, { jobId: 'transcribe.bad1.000000000000', attempts: 1 });
    const worker = new Worker('transcribe', async () => { throw new Error('whisper crashed: out of memory'); }, { connection: ctx.redis, prefix: ctx.queues.prefix });
    await waitFor('job failed', async () => (await tq.getJobState('transcribe.bad1.000000000000')) === 'failed', 10_000);
    await worker.close();

    const r = await scheduler.reconcile();
    expect(r.reEnqueued).toBeGreaterThanOrEqual(1);
    const [lost] = await sqlRows(ctx.database, `SELECT state::text AS state, job_id FROM episodes WHERE episode_key = 'lost1'`);
    expect(lost.state).toBe('downloading');
    expect(await ctx.queues.get('ingest').getJobState(lost.job_id)).toBe('prioritized'); // stage jobs always carry a priority
    expect(lost.job_id).toMatch(/^ingest\.lost1\.[0-9a-f]{12}$/);
    const [bad] = await sqlRows(ctx.database, `SELECT state::text AS state, failed_stage, last_error FROM episodes WHERE episode_key = 'bad1'`);
    expect(bad).toEqual({ state: 'failed', failed_stage: 'transcribe', last_error: 'whisper crashed: out of memory' });
  });

  it('fails an episode whose job has been active longer than STUCK_EPISODE_S, never one waiting in a backlog', async () => {
    // lost1 now waits in the ingest queue (re-enqueued above): old, but a backlog wait is not stuck
    await sqlRows(ctx.database, `UPDATE episodes SET updated_at = now() - interval '1 hour' WHERE episode_key = 'lost1'`);
    expect((await scheduler.reconcile()).reaped).toBe(0);
    expect((await sqlRows(ctx.database, `SELECT state::text AS state FROM episodes WHERE episode_key = 'lost1'`))[0].state).toBe('downloading');
    // a worker takes the job and hangs (its lock stays renewed)
    let release!: () => void;
    const hang = new Promise<void>((r) => (release = r));
    const worker = new Worker('ingest', async (job) => { if (job.data.episodeKey === 'lost1') await hang; }, { connection: ctx.redis, prefix: ctx.queues.prefix });
    const [{ job_id }] = await sqlRows(ctx.database, `SELECT job_id FROM episodes WHERE episode_key = 'lost1'`);
    await waitFor('job active', async () => (await ctx.queues.get('ingest').getJobState(job_id)) === 'active', 10_000);
    await new Promise((r) => setTimeout(r, 2200)); // STUCK_EPISODE_S=2
    const r = await scheduler.reconcile();
    release();
    await worker.close();
    expect(r.reaped).toBe(1);
    const [row] = await sqlRows(ctx.database, `SELECT state::text AS state, failed_stage, last_error FROM episodes WHERE episode_key = 'lost1'`);
    expect(row).toMatchObject({ state: 'failed', failed_stage: 'ingest' });
    expect(row.last_error).toMatch(/^stuck: ingest job ingest\.lost1\.[0-9a-f]{12} active for \d+ s$/);
    expect(stageJobId('ingest', 'lost1', 'x'.repeat(12))).toContain('lost1');
  });
});
