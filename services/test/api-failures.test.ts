/**
 * Say why (issue 12 point 10): a failed episode's cause is returned with the episode (list and
 * detail), failed jobs are grouped by cause (admin/failures) and a whole group is retried at
 * once (admin/failures/retry).
 */
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureCause } from '../src/api/admin/failure-cause';
import type { Config } from '../src/config/config';
import { apiConfig, call, freshDatabase, startApi, waitFor } from './api-support';
import { silentLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { EpisodeRepository } from '../src/repositories/episodes.repository';

const DB = 'podbrain_test_e2_failures';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;
let redis: IORedis;

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  config = apiConfig(db.url);
  api = await startApi(config);
  redis = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
}, 120_000);

afterAll(async () => {
  await api?.close();
  const keys = await redis?.keys(`${config.queue.prefix}:*`);
  if (keys?.length) await redis.del(...keys);
  redis?.disconnect();
  await pg?.end();
  await db?.drop();
});

describe('failure causes', () => {
  it('keep what names the cause and drop what differs per episode', () => {
    expect(failureCause('cannot resolve the host of https://cdn.dead.example/shows/ep1.mp3?x=1')).toBe('cannot resolve the host of https://cdn.dead.example/…');
    expect(failureCause('cannot resolve the host of https://cdn.dead.example/shows/ep2.mp3')).toBe(failureCause('cannot resolve the host of https://cdn.dead.example/x/y.mp3'));
    expect(failureCause('cannot resolve the host of https://a.example/ep.mp3')).not.toBe(failureCause('cannot resolve the host of https://b.example/ep.mp3'));
    expect(failureCause('the enclosure at https://cdn.example/ep9.mp3 is not audio: the server sent Content-Type text/html and it starts with text "<!doctype html><html><head><title>Episode 9"')).toBe(
      'the enclosure at https://cdn.example/… is not audio: the server sent Content-Type text/html and it starts with text "…"',
    );
    expect(failureCause('cannot read /data/corpus/0123456789abcdef/ab12cd34ef56ab12cd34ef56/transcribe@0123456789ab/transcript.json: ENOENT')).toBe('cannot read …/transcript.json: ENOENT');
    expect(failureCause('the episode at https://x.example/a ended after 123456 of 999999 bytes')).toBe('the episode at https://x.example/… ended after N of N bytes');
    expect(failureCause('Error: whisper exited with code 1\n    at stack line')).toBe('whisper exited with code 1');
    expect(failureCause('the feed at https://host.example:8443/ returned HTTP 404')).toBe('the feed at https://host.example:8443 returned HTTP 404');
    expect(failureCause(null)).toMatch(/unknown/);
    expect(failureCause('x'.repeat(1000)).length).toBeLessThanOrEqual(240);
  });
});

describe('api: a failed episode says why', () => {
  it('list and detail return the stored error next to the state reason', async () => {
    await pg.query(`INSERT INTO feeds (id, url, title) VALUES ('ff', 'https://example.com/ff.xml', 'F')`);
    await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'ff')`);
    // As the pipeline records a last failed attempt (jobs/stage.jobs.ts failIfLastAttempt).
    const error = 'cannot resolve the host of https://cdn.dead.example/ep1.mp3';
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, title, published_at, source, state, failed_stage, attempts, last_error, state_reason)
       VALUES ('ff-1', 'ff', 'Gone', now(), '{}', 'failed', 'ingest', 3, $1, $2), ('ff-2', 'ff', 'Fine', now() - interval '1 day', '{}', 'done', NULL, 0, NULL, NULL)`,
      [error, `ingest failed after 3 attempt(s): ${error}`],
    );
    const list = await call(api.base, 'GET', '/api/episodes?state=failed');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([expect.objectContaining({ episode_key: 'ff-1', state: 'failed', failed_stage: 'ingest', last_error: error, state_reason: `ingest failed after 3 attempt(s): ${error}` })]);
    const all = await call(api.base, 'GET', '/api/episodes');
    expect(all.body.items.find((e: { episode_key: string }) => e.episode_key === 'ff-2').last_error).toBeNull();
    const detail = await call(api.base, 'GET', '/api/episodes/ff-1');
    expect(detail.body).toMatchObject({ state: 'failed', last_error: error });
    // The episode page's failure panel: stage, the Admin page's cause, attempts, whether a retry may help.
    expect(detail.body.failure).toEqual({ stage: 'ingest', cause: 'cannot resolve the host of https://cdn.dead.example/…', message: error, attempts: 3, retryable: true });
    // The download failed because the publisher's host is gone: the player is offered nothing to play.
    expect(detail.body.audio_url).toBeNull();
    expect((await call(api.base, 'GET', '/api/episodes/ff-2')).body.failure).toBeNull();
    const doc = await call(api.base, 'GET', '/api/docs/json');
    expect(Object.keys(doc.body.paths['/api/episodes'].get.responses['200'].content['application/json'].schema.properties.items.items.properties)).toContain('last_error');
  });

  it('a failure a retry will not fix says so; one that is not the source keeps the enclosure playable', async () => {
    const gone = 'the enclosure at https://cdn.example.com/ep3.mp3 returned HTTP 404';
    const disk = 'ENOSPC: no space left on device, write';
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, title, published_at, source, enclosure, state, failed_stage, attempts, last_error, state_reason)
       VALUES ('ff-3', 'ff', 'Gone for good', now(), '{}', '{"url": "https://cdn.example.com/ep3.mp3"}', 'failed', 'ingest', 3, $1, $2),
              ('ff-4', 'ff', 'Full disk', now(), '{}', '{"url": "https://cdn.example.com/ep4.mp3"}', 'failed', 'ingest', 2, $3, $4),
              ('ff-5', 'ff', 'Rate limited', now(), '{}', '{"url": "https://cdn.example.com/ep5.mp3"}', 'failed', 'transcribe', 1, 'the enclosure at https://cdn.example.com/ep5.mp3 returned HTTP 429', NULL)`,
      [gone, `ingest failed after 3 attempt(s): ${gone}`, disk, `ingest failed after 2 attempt(s): ${disk}`],
    );
    const g = (await call(api.base, 'GET', '/api/episodes/ff-3')).body;
    expect(g.failure).toMatchObject({ stage: 'ingest', cause: 'the enclosure at https://cdn.example.com/… returned HTTP 404', attempts: 3, retryable: false });
    expect(g.audio_url).toBeNull();
    const d = (await call(api.base, 'GET', '/api/episodes/ff-4')).body;
    expect(d.failure).toMatchObject({ stage: 'ingest', message: disk, attempts: 2, retryable: true });
    expect(d.audio_url).toBe('https://cdn.example.com/ep4.mp3');
    const r = (await call(api.base, 'GET', '/api/episodes/ff-5')).body;
    expect(r.failure).toMatchObject({ stage: 'transcribe', retryable: true });
    expect(r.audio_url).toBe('https://cdn.example.com/ep5.mp3');
  });

  it('an episode retried after a failure keeps its last error while it runs again and drops it once done', async () => {
    const database = new Database(config, silentLogger, { poolSize: 1 });
    try {
      const episodes = new EpisodeRepository(database);
      await episodes.setState('ff-1', { state: 'pending' });
      expect((await call(api.base, 'GET', '/api/episodes/ff-1')).body).toMatchObject({ state: 'pending', last_error: 'cannot resolve the host of https://cdn.dead.example/ep1.mp3' });
      await episodes.setState('ff-1', { state: 'done' });
      expect((await call(api.base, 'GET', '/api/episodes/ff-1')).body).toMatchObject({ state: 'done', last_error: null, failed_stage: null });
    } finally {
      await database.close();
    }
  });
});

describe('api: failed jobs grouped by cause, retried a group at a time', () => {
  it('groups the failed jobs of every queue by cause and retries one whole group', async () => {
    const connection = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
    const failing: Record<string, string> = {
      'ingest.a1': 'cannot resolve the host of https://cdn.dead.example/ep1.mp3',
      'ingest.a2': 'cannot resolve the host of https://cdn.dead.example/ep2.mp3',
      'ingest.a3': 'cannot resolve the host of https://cdn.dead.example/sub/ep3.mp3?t=1',
      'ingest.b1': 'the enclosure at https://cdn.ok.example/ep4.mp3 is not audio: the server sent Content-Type text/html and it starts with text "<!doctype html><html lang=en>"',
      'transcribe.c1': 'whisper exited with code 1',
    };
    const queues = { ingest: new Queue('ingest', { connection, prefix: config.queue.prefix }), transcribe: new Queue('transcribe', { connection, prefix: config.queue.prefix }) };
    const workers = (['ingest', 'transcribe'] as const).map(
      (name) =>
        new Worker(
          name,
          async (job) => {
            throw new Error(failing[String(job.id)]);
          },
          { connection, prefix: config.queue.prefix },
        ),
    );
    try {
      for (const id of Object.keys(failing)) {
        const queue = id.startsWith('ingest') ? queues.ingest : queues.transcribe;
        await queue.add(queue.name, { episodeKey: `ep-${id}`, feedId: id === 'ingest.a3' ? 'feed-b' : 'feed-a' }, { jobId: id, attempts: 1 });
        await new Promise((r) => setTimeout(r, 3)); // distinct timestamps: groups of one size are ordered newest first
      }
      await waitFor(async () => (await call(api.base, 'GET', '/api/admin/failures')).body.total === 5, 20_000);
      await Promise.all(workers.map((w) => w.close()));

      const f = await call(api.base, 'GET', '/api/admin/failures');
      expect(f.status).toBe(200);
      expect(f.body.truncated).toBe(false);
      // Biggest group first, then the newest: whisper's job was enqueued last.
      expect(f.body.groups.map((g: { cause: string; count: number }) => [g.cause, g.count])).toEqual([
        ['cannot resolve the host of https://cdn.dead.example/…', 3],
        ['whisper exited with code 1', 1],
        ['the enclosure at https://cdn.ok.example/… is not audio: the server sent Content-Type text/html and it starts with text "…"', 1],
      ]);
      const dead = f.body.groups[0];
      expect(dead.queues).toEqual({ ingest: 3 });
      expect(dead.feeds).toEqual({ 'feed-a': 2, 'feed-b': 1 });
      expect(dead.first).toBeLessThan(dead.latest);
      expect(f.body.groups[1].first).toBe(f.body.groups[1].latest);
      expect(dead.jobs.map((j: { id: string }) => j.id).sort()).toEqual(['ingest.a1', 'ingest.a2', 'ingest.a3']);
      expect(dead.jobs[0]).toMatchObject({ queue: 'ingest', failed_reason: expect.stringContaining('cdn.dead.example/'), cause: dead.cause });
      // The list of failed jobs carries the cause too.
      const listed = await call(api.base, 'GET', '/api/admin/jobs?state=failed');
      expect(listed.body.items.find((j: { id: string }) => j.id === 'ingest.a1').cause).toBe(dead.cause);

      const retry = await call(api.base, 'POST', '/api/admin/failures/retry', { json: { cause: dead.cause } });
      expect(retry.status).toBe(202);
      expect(retry.body).toMatchObject({ cause: dead.cause, retried: 3, skipped: 0 });
      for (const id of ['ingest.a1', 'ingest.a2', 'ingest.a3']) expect((await call(api.base, 'GET', `/api/jobs/${id}`)).body.state).toBe('waiting');
      expect((await call(api.base, 'GET', '/api/jobs/ingest.b1')).body.state).toBe('failed');
      const after = await call(api.base, 'GET', '/api/admin/failures');
      expect(after.body.total).toBe(2);
      expect(after.body.groups.map((g: { cause: string }) => g.cause)).not.toContain(dead.cause);

      // Only one queue; a cause nobody has (any more); bad input.
      const transcribeOnly = await call(api.base, 'GET', '/api/admin/failures?queue=transcribe');
      expect(transcribeOnly.body.groups.map((g: { cause: string }) => g.cause)).toEqual(['whisper exited with code 1']);
      expect((await call(api.base, 'POST', '/api/admin/failures/retry', { json: { cause: 'whisper exited with code 1', queue: 'ingest' } })).status).toBe(404);
      expect((await call(api.base, 'POST', '/api/admin/failures/retry', { json: { cause: dead.cause } })).status).toBe(404);
      const missing = await call(api.base, 'POST', '/api/admin/failures/retry', { json: {} });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toMatch(/cause/);
      expect((await call(api.base, 'GET', '/api/admin/failures?queue=bogus')).status).toBe(404);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(Object.values(queues).map((q) => q.close()));
      connection.disconnect();
    }
  }, 60_000);
});
