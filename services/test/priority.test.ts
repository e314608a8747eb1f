/**
 * Priority classes along the stage chain (issue 15, queue/priority.ts) with real BullMQ workers:
 * a user's "process now" runs ahead of a backlog of new and back-catalogue episodes on every
 * queue, new episodes ahead of back catalogue, and each stage's job keeps the class of the
 * episode's first job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { ControlPlane } from '../src/control/control-plane';
import { jobHandlers } from '../src/jobs/handlers';
import { pollFeedJob } from '../src/jobs/poll.jobs';
import { StageJobs } from '../src/jobs/stage.jobs';
import { PRIORITY, type PriorityClass } from '../src/queue/priority';
import type { QueueName } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { apiConfig, freshDatabase } from './api-support';
import { addFeed, sqlRows } from './support/db';
import { fakeStages, writeLocalFeed } from './support/fake-stages';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let config: Config;
let ctx: RoleContext;
let pipeline: StageJobs;
let plane: ControlPlane;
let tmp: ReturnType<typeof tempDir>;
const fake = fakeStages();

const poll = (feedId: string) => pollFeedJob(ctx, pipeline, feedId, new AbortController().signal);
const episodes = async (feedId: string): Promise<{ episode_key: string; title: string; state: string; priority_class: string | null; job_id: string | null }[]> =>
  sqlRows(ctx.database, `SELECT episode_key, title, state::text AS state, priority_class, job_id FROM episodes WHERE feed_id = $1 ORDER BY title`, [feedId]);

function workers(queues: readonly QueueName[]): WorkerHost {
  const concurrency = Object.fromEntries(queues.map((q) => [q, 1]));
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: [...queues], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 3000, shutdownGraceMs: 3000, concurrency });
  host.start();
  return host;
}

/** A local feed with a policy: the titles' order is their publication order (the last is the newest). */
async function feedWith(name: string, titles: string[], policy: object): Promise<{ id: string; file: string }> {
  const file = writeLocalFeed(tmp.dir, name, titles);
  const { feed } = await addFeed(ctx.database, file, { pollIntervalS: 3600 });
  await sqlRows(ctx.database, `UPDATE feeds SET policy = $2::jsonb WHERE id = $1`, [feed.id, JSON.stringify(policy)]);
  return { id: feed.id, file };
}

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_priority');
  tmp = tempDir('priority');
  config = apiConfig(db.url, { QUEUE_BACKOFF_MS: '50', RECONCILE_GRACE_MS: '600000' });
  ctx = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, stages: fake.stages, poolSize: 4 });
  pipeline = new StageJobs(ctx);
  plane = new ControlPlane({ config, redis: ctx.redis, queues: ctx.queues, database: ctx.database, log: silentLogger, stages: ctx.stages });
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  if (config) await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await db?.drop();
  tmp?.remove();
});

describe('priority along the chain', () => {
  it('a transcribe job spawned from an interactive ingest is interactive; one from a backfill ingest is backfill', async () => {
    const feed = await feedWith('chain', ['Old one', 'Older asked for', 'Newest'], { backfill: { newest: 1 } });
    await poll(feed.id);
    const asked = (await episodes(feed.id)).find((e) => e.title === 'Older asked for')!;
    expect(asked.state).toBe('skipped');
    await plane.processEpisode(asked.episode_key, 'interactive');
    const host = workers(['ingest']);
    try {
      const transcribing = await waitFor('both ingested', async () => {
        const eps = (await episodes(feed.id)).filter((e) => e.state === 'transcribing');
        return eps.length === 2 ? eps : null;
      }, 20_000);
      const classOf = async (e: { job_id: string | null }) => {
        const job = await ctx.queues.get('transcribe').getJob(e.job_id!);
        return { priority: job!.priority, cls: job!.data.priorityClass as PriorityClass };
      };
      expect(await classOf(transcribing.find((e) => e.title === 'Older asked for')!)).toEqual({ priority: PRIORITY.interactive, cls: 'interactive' });
      expect(await classOf(transcribing.find((e) => e.title === 'Newest')!)).toEqual({ priority: PRIORITY.backfill, cls: 'backfill' });
      expect(transcribing.map((e) => e.priority_class).sort()).toEqual(['backfill', 'interactive']);
    } finally {
      await host.close();
    }
    // this feed's transcribe jobs are not wanted in the next case's order
    await ctx.queues.get('transcribe').drain(true);
  }, 60_000);

  it('with one worker per queue, the episode a user asks for runs first, then new episodes, then back catalogue, on ingest and on transcribe', async () => {
    // back catalogue: three episodes queued by the backfill (all); one left out by a filter
    const titles = ['Back 1', 'Back 2', 'Back 3', 'Asked for later'];
    const feed = await feedWith('order', titles, { backfill: 'all', exclude: ['asked'] });
    await poll(feed.id);
    // two new episodes appear on the next poll (newer than anything the first poll saw)
    writeLocalFeed(tmp.dir, 'order', [...titles, 'New 1', 'New 2']);
    await poll(feed.id);
    // the user asks for the skipped one last, behind everything already queued
    const asked = (await episodes(feed.id)).find((e) => e.title === 'Asked for later')!;
    expect(asked.state).toBe('skipped');
    await plane.processEpisode(asked.episode_key, 'interactive');
    expect(Object.fromEntries((await episodes(feed.id)).map((e) => [e.title, e.priority_class]))).toEqual({
      'Back 1': 'backfill',
      'Back 2': 'backfill',
      'Back 3': 'backfill',
      'Asked for later': 'interactive',
      'New 1': 'new',
      'New 2': 'new',
    });

    const rank = (title: string) => (title.startsWith('Asked') ? 0 : title.startsWith('New') ? 1 : 2);
    const ranks = (stage: string, from: number) => fake.order.slice(from).filter((o) => o.stage === stage).map((o) => rank(o.title));
    const ingestOrder = async () => (await sqlRows(ctx.database, `SELECT e.title FROM stage_runs r JOIN episodes e USING (episode_key) WHERE e.feed_id = $1 AND r.stage = 'ingest' ORDER BY r.started_at`, [feed.id])).map((r: { title: string }) => rank(r.title));

    // ingest alone first: every episode ends up waiting for transcribe, in the order ingest took them
    const io = workers(['ingest']);
    try {
      await waitFor('every episode waiting for transcribe', async () => (await episodes(feed.id)).every((e) => e.state === 'transcribing'), 30_000, 100);
    } finally {
      await io.close();
    }
    expect(await ingestOrder()).toEqual([0, 1, 1, 2, 2, 2]);

    const seen = fake.order.length;
    const rest = workers(['transcribe', 'enrich', 'index', 'project']);
    try {
      await waitFor('every episode done', async () => (await episodes(feed.id)).every((e) => e.state === 'done'), 30_000, 100);
    } finally {
      await rest.close();
    }
    expect(ranks('transcribe', seen)).toEqual([0, 1, 1, 2, 2, 2]);
  }, 90_000);
});
