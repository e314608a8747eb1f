/* eslint-disable @typescript-eslint/no-explicit-any -- audit params are JSON of many shapes */
/**
 * The control plane (issue 14): every admin API call is audited (admin_audit, GET /api/admin/audit);
 * the control channel (control/control-bus.ts) reaches real role processes: restart-role,
 * set-concurrency, cancel-job.
 */
import { createHash } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANCELLED_BY_ADMIN, publishControl, RESTART_EXIT_CODE, type ControlMessage } from '../src/control/control-bus';
import { addFeed, sqlRows } from './support/db';
import { serveBody, startFixtureServer } from './support/http-fixture-server';
import { serveSlowAudio } from './support/slow-audio';
import { startStack, waitFor as waitUntil, type Stack } from './support/stack';
import { auditParams } from '../src/api/admin/audit.interceptor';
import type { Config } from '../src/config/config';
import { apiConfig, call, freshDatabase, startApi, waitFor } from './api-support';

const DB = 'podbrain_test_e2_control';
const KEY = 'control-plane-admin-key';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;

beforeAll(async () => {
  db = await freshDatabase(DB);
  config = apiConfig(db.url, { AUTH_API_KEY: KEY });
  api = await startApi(config);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

type AuditItem = { id: string; at: string; actor: string; method: string; path: string; params: any; status: number };
const auditLog = async (q = ''): Promise<{ items: AuditItem[]; next_cursor: string | null }> => (await call(api.base, 'GET', `/api/admin/audit${q}`, { key: KEY })).body;

describe('admin audit', () => {
  it('records who called which admin route with what and the status, a failed 4xx one too; secrets redacted; newest first with a cursor', async () => {
    expect((await call(api.base, 'POST', '/api/admin/queues/ingest/pause', { key: KEY })).status).toBe(204);
    expect((await call(api.base, 'POST', '/api/admin/queues/nope/pause', { key: KEY })).status).toBe(404);
    expect((await call(api.base, 'POST', '/api/admin/failures/retry', { key: KEY, json: { cause: 'x', api_key: 'sk-very-secret', nested: { password: 'hunter2' } } })).status).toBe(400);
    // Reads of non-admin routes are not audited.
    expect((await call(api.base, 'GET', '/api/feeds')).status).toBe(200);

    const { items } = await waitFor(async () => {
      const page = await auditLog();
      return page.items.filter((i) => i.path !== '/api/admin/audit').length >= 3 ? page : null;
    });
    const calls = items.filter((i) => i.path !== '/api/admin/audit');
    expect(calls.map((i) => [i.method, i.path, i.status, i.actor])).toEqual([
      ['POST', '/api/admin/failures/retry', 400, 'admin-key'],
      ['POST', '/api/admin/queues/nope/pause', 404, 'admin-key'],
      ['POST', '/api/admin/queues/ingest/pause', 204, 'admin-key'],
    ]);
    expect(calls[1].params).toEqual({ params: { name: 'nope' } });
    expect(calls[0].params.body).toEqual({ cause: 'x', api_key: '[redacted]', nested: { password: '[redacted]' } });
    expect(JSON.stringify(items)).not.toContain('sk-very-secret');
    expect(JSON.stringify(items)).not.toContain('hunter2');
    expect(items.some((i) => i.path.startsWith('/api/feeds'))).toBe(false);

    const first = await auditLog('?limit=2');
    expect(first.items).toHaveLength(2);
    expect(first.next_cursor).toBe(first.items[1].id);
    const next = await auditLog(`?limit=2&cursor=${first.next_cursor}`);
    expect(Number(next.items[0].id)).toBeLessThan(Number(first.items[1].id));
  });

  it('caps what a row keeps', () => {
    const kept = auditParams({ params: {}, query: {}, body: { text: 'y'.repeat(10_000), token: 'abc' } }) as { body: { text: string; token: string } };
    expect(kept.body.token).toBe('[redacted]');
    expect(kept.body.text.length).toBeLessThanOrEqual(501);
    const big = auditParams({ params: {}, query: {}, body: { items: Array.from({ length: 50 }, (_, i) => ({ i, s: 'z'.repeat(400) })) } });
    expect(big).toMatchObject({ truncated: true });
    expect(JSON.stringify(big).length).toBeLessThan(4200);
  });

  it('admin routes refuse a missing or wrong key (401) and a tenant key (403)', async () => {
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second')`);
    await pg.query(`INSERT INTO api_keys (tenant_id, name, key_hash) VALUES ('t2', 'live', $1)`, [createHash('sha256').update('t2-key').digest('hex')]);
    await pg.end();
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/admin/audit'],
      ['GET', '/api/admin/roles'],
      ['POST', '/api/admin/roles/worker-io/restart'],
      ['PUT', '/api/admin/queues/ingest/concurrency', { concurrency: 2 }],
      ['POST', '/api/admin/queues/ingest/drain'],
      ['POST', '/api/admin/queues/ingest/clean', { state: 'failed' }],
      ['POST', '/api/admin/jobs/ingest/x/cancel'],
      ['POST', '/api/admin/jobs/ingest/x/promote'],
    ];
    for (const [method, p, json] of routes) {
      expect((await call(api.base, method, p, { json })).status, `${method} ${p}`).toBe(401);
      expect((await call(api.base, method, p, { json, key: 'wrong' })).status, `${method} ${p}`).toBe(401);
      expect((await call(api.base, method, p, { json, key: 't2-key' })).status, `${method} ${p}`).toBe(403);
    }
    // refused admin calls are audited too, with who tried
    const refused = await waitFor(async () => {
      const items = (await auditLog('?limit=500')).items.filter((i) => i.status === 401 || i.status === 403);
      return items.length >= routes.length * 3 ? items : null;
    });
    expect(refused).toContainEqual(expect.objectContaining({ method: 'POST', path: '/api/admin/roles/worker-io/restart', status: 403, actor: 'tenant:t2' }));
    expect(refused).toContainEqual(expect.objectContaining({ method: 'POST', path: '/api/admin/roles/worker-io/restart', status: 401, actor: 'wrong-key' }));
    expect(refused).toContainEqual(expect.objectContaining({ method: 'PUT', path: '/api/admin/queues/ingest/concurrency', status: 401, actor: 'anonymous', params: { params: { name: 'ingest' }, body: { concurrency: 2 } } }));
  });

  it('queue commands: promote a delayed job, drain waiting ones, clean failed ones; bad input is a 4xx', async () => {
    const connection = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue('digest', { connection, prefix: config.queue.prefix });
    try {
      await queue.add('digest', {}, { jobId: 'later', delay: 3_600_000 });
      expect((await call(api.base, 'POST', '/api/admin/jobs/digest/later/promote', { key: KEY })).status).toBe(204);
      expect(await (await queue.getJob('later'))!.getState()).toBe('waiting');
      expect((await call(api.base, 'POST', '/api/admin/jobs/digest/later/promote', { key: KEY })).status).toBe(409);
      expect((await call(api.base, 'POST', '/api/admin/jobs/digest/nope/promote', { key: KEY })).status).toBe(404);
      await queue.add('digest', {}, { jobId: 'second' });
      expect((await call(api.base, 'POST', '/api/admin/queues/digest/drain', { key: KEY })).status).toBe(204);
      expect(await queue.getWaitingCount()).toBe(0);

      const worker = new Worker('digest', async () => { throw new Error('boom'); }, { connection, prefix: config.queue.prefix });
      await queue.add('digest', {}, { jobId: 'broken', attempts: 1 });
      await waitFor(async () => (await queue.getFailedCount()) > 0);
      await worker.close();
      const before = await queue.getFailedCount();
      expect(before).toBe(1);
      const cleaned = await call(api.base, 'POST', '/api/admin/queues/digest/clean', { key: KEY, json: { state: 'failed' } });
      expect(cleaned.status).toBe(200);
      expect(cleaned.body).toEqual({ removed: before });
      expect(await queue.getFailedCount()).toBe(0);
      expect((await call(api.base, 'POST', '/api/admin/queues/digest/clean', { key: KEY, json: { state: 'active' } })).status).toBe(400);
      expect((await call(api.base, 'PUT', '/api/admin/queues/digest/concurrency', { key: KEY, json: { concurrency: 0 } })).status).toBe(400);
      expect((await call(api.base, 'POST', '/api/admin/roles/api/restart', { key: KEY })).status).toBe(400);
      const answered = await call(api.base, 'PUT', '/api/admin/queues/digest/concurrency', { key: KEY, json: { concurrency: 3 } });
      expect(answered).toMatchObject({ status: 202, body: { receivers: 0 } }); // no role process runs here
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});

/** A feed of `n` episodes whose enclosures dribble in over `ms` (downloads that are still running while the test acts). */
async function startSlowFeed(n: number, ms: number) {
  const server = await startFixtureServer();
  const audioLength = serveSlowAudio(server, '/slow.ogg', ms, 40);
  const items = Array.from({ length: n }, (_, i) => `<item><guid>slow-${i}</guid><title>Slow ${i}</title><pubDate>Mon, 0${i + 1} Jan 2024 10:00:00 GMT</pubDate><enclosure url="${server.url(`/slow.ogg?${i}`)}" type="audio/ogg" length="${audioLength}"/></item>`);
  server.route('/feed.xml', serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title><link>https://example.com</link><description>d</description>${items.join('')}</channel></rss>`, { contentType: 'application/rss+xml' }));
  return { feedUrl: server.url('/feed.xml'), close: () => server.close() };
}

describe('control channel (real role processes)', () => {
  let stack: Stack;
  let redis: IORedis;
  let ingest: Queue;
  let base: string;
  const send = (m: ControlMessage) => publishControl(redis, { queue: { prefix: stack.prefix } } as Config, m);

  beforeAll(async () => {
    stack = await startStack({ name: 'cp', env: { ALLOW_PRIVATE_NETWORK: 'true', SHUTDOWN_GRACE_MS: '2000', AUTH_API_KEY: KEY, HEALTH_CHECK_INTERVAL_S: '1' } });
    const apiRole = await stack.start('api');
    base = `http://127.0.0.1:${apiRole.healthPort}`;
    redis = new IORedis(stack.redisUrl, { maxRetriesPerRequest: null });
    ingest = new Queue('ingest', { connection: redis, prefix: stack.prefix });
  }, 120_000);

  afterAll(async () => {
    await ingest?.close();
    redis?.disconnect();
    await stack?.stop();
  }, 60_000);

  it('restart-role: the role stops gracefully and exits with RESTART_EXIT_CODE; other roles ignore it', async () => {
    const [ml] = await Promise.all([stack.start('worker-ml'), stack.start('worker-io', { name: 'restart-io' })]);
    const roles = await waitUntil('both roles listed', async () => {
      const r = await call(base, 'GET', '/api/admin/roles', { key: KEY });
      return r.body.items?.length >= 2 ? r.body.items : null;
    }, 10_000, 100);
    expect(roles.find((r: { role: string }) => r.role === 'worker-ml')).toMatchObject({ role: 'worker-ml', pid: ml.child.pid, status: expect.any(String), queues: ['enrich', 'index'] });
    expect(roles.find((r: { role: string }) => r.role === 'worker-io')).toMatchObject({ queues: expect.arrayContaining(['ingest']) });
    const restart = await call(base, 'POST', '/api/admin/roles/worker-ml/restart', { key: KEY });
    expect(restart.status).toBe(202);
    expect(restart.body.receivers).toBeGreaterThanOrEqual(2); // every non-api role listens; only worker-ml acts
    const exit = await stack.roles.get('worker-ml')!.exited;
    expect(exit).toEqual({ code: RESTART_EXIT_CODE, signal: null });
    expect(stack.logs('worker-ml')).toContain('restart requested over the control channel');
    expect(stack.logs('worker-ml')).toContain('"msg":"stopped"');
    // a clean stop removes its entry at once
    const after = (await call(base, 'GET', '/api/admin/roles', { key: KEY })).body.items as { role: string }[];
    expect(after.map((r) => r.role)).not.toContain('worker-ml');
    const audit = (await call(base, 'GET', '/api/admin/audit?limit=5', { key: KEY })).body.items as { method: string; path: string; status: number; actor: string }[];
    expect(audit).toContainEqual(expect.objectContaining({ method: 'POST', path: '/api/admin/roles/worker-ml/restart', status: 202, actor: 'admin-key' }));
    const io = stack.roles.get('restart-io')!.child;
    expect(io.exitCode).toBeNull();
    await stack.kill('restart-io');
  }, 60_000);

  it('set-concurrency raises a live worker from 1 to 2 jobs at once; cancel-job aborts a running job for good', async () => {
    const feed = await startSlowFeed(3, 20_000);
    try {
      await stack.start('scheduler');
      await stack.start('worker', { args: ['--queues', 'ingest'] });
      await send({ type: 'set-concurrency', queue: 'ingest', concurrency: 1 });
      await waitUntil('set to 1', async () => stack.logs('worker').includes('"concurrency":1'), 5000, 50);
      await addFeed(stack.db, feed.feedUrl, { pollIntervalS: 3600 });
      await waitUntil('three ingest jobs', async () => {
        const c = await ingest.getJobCounts('waiting', 'prioritized', 'active');
        return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) >= 3;
      }, 20_000, 100);
      await new Promise((r) => setTimeout(r, 500));
      expect((await ingest.getActive()).length).toBe(1);

      expect((await call(base, 'PUT', '/api/admin/queues/ingest/concurrency', { key: KEY, json: { concurrency: 2 } })).status).toBe(202);
      const two = await waitUntil('two jobs at once', async () => {
        const active = await ingest.getActive();
        return active.length === 2 ? active : null;
      }, 5000, 50);
      expect(two).toHaveLength(2);

      const victim = two[0];
      expect((await call(base, 'POST', `/api/admin/jobs/ingest/${victim.id}/cancel`, { key: KEY })).status).toBe(202);
      const failed = await waitUntil('cancelled job failed', async () => {
        const j = await ingest.getJob(String(victim.id));
        return j?.failedReason && (await j.getState()) === 'failed' ? j : null;
      }, 10_000, 100);
      expect(failed.failedReason).toBe(CANCELLED_BY_ADMIN);
      expect(failed.attemptsMade).toBe(1); // not retried
      const key = (victim.data as { episodeKey: string }).episodeKey;
      const [ep] = await sqlRows(stack.db, `SELECT state, state_reason, failed_stage FROM episodes WHERE episode_key = $1`, [key]);
      expect(ep).toMatchObject({ state: 'failed', failed_stage: 'ingest' });
      expect(ep.state_reason).toContain(CANCELLED_BY_ADMIN);
      const [run] = await sqlRows(stack.db, `SELECT status, error FROM stage_runs WHERE episode_key = $1 AND stage = 'ingest'`, [key]);
      expect(run).toMatchObject({ status: 'failed' });
      expect(run.error).toContain(CANCELLED_BY_ADMIN);
      // the other download still runs: only the named job was cancelled
      expect((await ingest.getJob(String(two[1].id)))!.failedReason ?? '').toBe('');
    } finally {
      await feed.close();
    }
  }, 60_000);
});
