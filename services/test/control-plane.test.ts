/* eslint-disable @typescript-eslint/no-explicit-any -- audit params are JSON of many shapes */
/**
 * The control plane (issue 14): every admin API call is audited (admin_audit, GET /api/admin/audit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('admin routes refuse tenant-less or wrong keys', async () => {
    expect((await call(api.base, 'GET', '/api/admin/audit')).status).toBe(401);
    expect((await call(api.base, 'GET', '/api/admin/audit', { key: 'wrong' })).status).toBe(401);
  });
});
