import { Worker } from 'bullmq';
import IORedis from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { jobOptions, parseQueueList, pollJobId, QUEUE_NAMES, QUEUE_SETTINGS, Queues, ROLE_QUEUES, stageJobId } from '../src/queue/queues';
import { PRIORITY } from '../src/queue/priority';
import { canTransition, STAGE_OF_STATE, STATE_OF_STAGE } from '../src/episodes/state';
import { clearRedisPrefix, waitFor } from './support/stack';

describe('queue settings', () => {
  it('every queue has settings with 3 attempts, exponential backoff, a timeout and retention', () => {
    expect(Object.keys(QUEUE_SETTINGS).sort()).toEqual([...QUEUE_NAMES].sort());
    for (const name of QUEUE_NAMES) {
      const s = QUEUE_SETTINGS[name];
      expect(s.attempts, name).toBe(3);
      expect(s.concurrency, name).toBeGreaterThan(0);
      expect(s.timeoutMs, name).toBeGreaterThan(0);
      const o = jobOptions(name);
      expect(o.backoff).toEqual({ type: 'exponential', delay: s.backoffMs });
      expect(o.removeOnComplete).toEqual({ count: s.keepCompleted.count, age: s.keepCompleted.ageS });
      expect(o.removeOnFail).toEqual({ count: s.keepFailed.count, age: s.keepFailed.ageS });
    }
    expect(QUEUE_SETTINGS.transcribe.concurrency).toBe(1);
    // Compile-time: a Record over QueueName; a missing queue is a type error.
    // @ts-expect-error digest is missing
    const incomplete: typeof QUEUE_SETTINGS = { ingest: QUEUE_SETTINGS.ingest, transcribe: QUEUE_SETTINGS.transcribe, enrich: QUEUE_SETTINGS.enrich, index: QUEUE_SETTINGS.index, project: QUEUE_SETTINGS.project };
    expect(incomplete).toBeDefined();
  });

  it('roles consume the queues of ARCHITECTURE §3; --queues parses all or a list and rejects unknown names', () => {
    expect(ROLE_QUEUES['worker-io']).toEqual(['ingest', 'project', 'digest']);
    expect(ROLE_QUEUES['worker-gpu']).toEqual(['transcribe']);
    expect(ROLE_QUEUES['worker-ml']).toEqual(['enrich', 'index']);
    expect(parseQueueList('all')).toEqual([...QUEUE_NAMES]);
    expect(parseQueueList('transcribe, enrich,transcribe')).toEqual(['transcribe', 'enrich']);
    expect(() => parseQueueList('ingest,bogus')).toThrow(/unknown queue\(s\) bogus/);
    expect(() => parseQueueList('')).toThrow(/unknown queue/);
  });

  it('job ids are deterministic, colon-free and carry the 12-char fingerprint', () => {
    const id = stageJobId('transcribe', 'a1b2c3', 'f'.repeat(64));
    expect(id).toBe(`transcribe.a1b2c3.${'f'.repeat(12)}`);
    expect(id).not.toContain(':');
    expect(pollJobId('feed1')).toBe('poll.feed1');
  });

  it('the state machine maps running states to stage queues and back', () => {
    for (const [stage, state] of Object.entries(STATE_OF_STAGE)) expect(STAGE_OF_STATE[state]).toBe(stage);
    expect(STAGE_OF_STATE.pending).toBe('ingest');
    expect(canTransition('pending', 'downloading')).toBe(true);
    expect(canTransition('indexing', 'transcribing')).toBe(false);
    expect(canTransition('transcribing', 'failed')).toBe(true);
    expect(canTransition('done', 'pending')).toBe(true);
    expect(canTransition('done', 'transcribing')).toBe(false);
  });
});

describe('queues on real Redis', () => {
  const prefix = `pbtest_e1q_${process.pid}`;
  const redis = new IORedis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const queues = new Queues(redis, prefix, 10);
  afterAll(async () => {
    await queues.close();
    await clearRedisPrefix('redis://127.0.0.1:6379', prefix);
    redis.disconnect();
  });

  it('a double enqueue is a no-op and keys live under the configured prefix', async () => {
    const q = queues.get('enrich');
    await q.pause();
    const data = { episodeKey: 'ep1', feedId: 'f1', fingerprint: 'abc123abc123abc123' };
    await queues.addStageJob('enrich', data);
    await queues.addStageJob('enrich', data);
    await queues.addPollJob('f1');
    await queues.addPollJob('f1');
    // A stage job always has a priority (queue/priority.ts; `new` when the enqueuer names no class), so BullMQ
    // keeps it in its prioritized set; a poll job has none: BullMQ 6 keeps it in a paused queue's wait list.
    expect(await q.getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 0, prioritized: 1 });
    expect((await q.getJob('enrich.ep1.abc123abc123'))?.priority).toBe(PRIORITY.new);
    expect(await queues.get('ingest').getJobCounts('waiting')).toEqual({ waiting: 1 });
    const job = await q.getJob('enrich.ep1.abc123abc123');
    expect(job?.opts.attempts).toBe(3);
    expect(job?.opts.backoff).toEqual({ type: 'exponential', delay: 10 });
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(await redis.keys(`bull:enrich:*ep1*`)).toEqual([]);
  });

  it('re-sending a finished (completed or failed) job replaces it instead of being swallowed by the kept copy', async () => {
    const q = queues.get('index');
    let fail = true;
    const worker = new Worker('index', async () => { if (fail) throw new Error('boom'); }, { connection: redis, prefix });
    try {
      const data = { episodeKey: 'ep2', feedId: 'f1', fingerprint: 'def456def456def456' };
      const id = await queues.addStageJob('index', { ...data });
      // three attempts (10 ms backoff) then failed, kept for inspection
      await waitFor('failed', async () => (await q.getJobState(id)) === 'failed', 10_000, 50);
      fail = false;
      await queues.addStageJob('index', data);
      await waitFor('completed on the second send', async () => (await q.getJobState(id)) === 'completed', 10_000, 50);
      const firstRun = (await q.getJob(id))!.timestamp;
      await new Promise((r) => setTimeout(r, 5));
      await queues.addStageJob('index', data);
      await waitFor('completed again, as a new job', async () => (await q.getJobState(id)) === 'completed' && (await q.getJob(id))!.timestamp > firstRun, 10_000, 50);
    } finally {
      await worker.close();
    }
  });
});
