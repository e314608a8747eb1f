/* eslint-disable @typescript-eslint/no-explicit-any -- test replies are JSON of many shapes */
/**
 * Playback state per tenant (issue 18): PUT/GET /api/episodes/:key/playback (one upsert), the
 * Library and the episode detail carry position_ms and played, POST /api/playback/mark in bulk,
 * tenants never see each other's state, a signed-in viewer's session cookie may save it (and
 * nothing else), hostile input is a 400 and someone else's episode a 404.
 */
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiConfig, call, freshDatabase, startApi } from './api-support';

const DB = 'podbrain_test_playback';
const KEY = 'playback-admin-key';
const T2_KEY = 'playback-tenant2-key';
const EP1 = 'feedpb-ep1';
const EP2 = 'feedpb-ep2';
const EP3 = 'feedpb-ep3';
const OTHER = 'feedother-ep1'; // an episode of a feed only tenant t2 subscribes to

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let api: Awaited<ReturnType<typeof startApi>>;
const hash = (k: string) => createHash('sha256').update(k).digest('hex');

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second')`);
  await pg.query(`INSERT INTO api_keys (tenant_id, name, key_hash) VALUES ('t2', 'live', $1)`, [hash(T2_KEY)]);
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('feedpb', 'https://example.com/pb.xml', 'Feed PB', 3600, now()), ('feedother', 'https://example.com/o.xml', 'Other', 3600, now())`);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feedpb'), ('t2', 'feedpb'), ('t2', 'feedother')`);
  for (const [key, feed, n] of [[EP1, 'feedpb', 1], [EP2, 'feedpb', 2], [EP3, 'feedpb', 3], [OTHER, 'feedother', 4]] as const) {
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, title, published_at, duration_s, enclosure, transcripts, source, state)
       VALUES ($1, $2, $3, now() - ($4 || ' hours')::interval, 3600, '{"url":"https://example.com/a.mp3","type":"audio/mpeg","length":1}', '[]', '{}', 'done')`,
      [key, feed, `Episode ${n}`, String(n)],
    );
  }
  api = await startApi(apiConfig(db.url, { AUTH_API_KEY: KEY, WEB_DIST_DIR: 'off' }));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await pg?.end();
  await db?.drop();
});

describe('PUT/GET /api/episodes/:key/playback', () => {
  it('an episode never played reads as position 0, unplayed, never saved', async () => {
    const r = await call(api.base, 'GET', `/api/episodes/${EP3}/playback`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ episode_key: EP3, position_ms: 0, duration_ms: null, played: false, updated_at: null });
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('saves the position (upsert), reads it back, keeps duration and played when omitted', async () => {
    const first = await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: KEY, json: { position_ms: 12_345, duration_ms: 3_600_000 } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ episode_key: EP1, position_ms: 12_345, duration_ms: 3_600_000, played: false });
    expect(Date.parse(first.body.updated_at)).toBeGreaterThan(Date.now() - 60_000);
    const second = await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: KEY, json: { position_ms: 20_000 } });
    expect(second.body).toMatchObject({ position_ms: 20_000, duration_ms: 3_600_000, played: false });
    const marked = await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: KEY, json: { position_ms: 3_599_000, played: true } });
    expect(marked.body).toMatchObject({ position_ms: 3_599_000, played: true });
    const kept = await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: KEY, json: { position_ms: 5_000 } });
    expect(kept.body).toMatchObject({ position_ms: 5_000, played: true });
    const read = await call(api.base, 'GET', `/api/episodes/${EP1}/playback`);
    expect(read.body).toMatchObject({ episode_key: EP1, position_ms: 5_000, duration_ms: 3_600_000, played: true });
    const rows = await pg.query(`SELECT count(*)::int AS n FROM playback WHERE episode_key = $1`, [EP1]);
    expect(rows.rows[0].n).toBe(1);
  });

  it('the Library and the episode detail carry position_ms and played', async () => {
    await call(api.base, 'PUT', `/api/episodes/${EP2}/playback`, { key: KEY, json: { position_ms: 61_000 } });
    const page = await call(api.base, 'GET', '/api/episodes?limit=10');
    expect(page.status).toBe(200);
    const byKey = Object.fromEntries(page.body.items.map((e: any) => [e.episode_key, { position_ms: e.position_ms, played: e.played }]));
    expect(byKey[EP1]).toEqual({ position_ms: 5_000, played: true });
    expect(byKey[EP2]).toEqual({ position_ms: 61_000, played: false });
    expect(byKey[EP3]).toEqual({ position_ms: 0, played: false });
    const detail = await call(api.base, 'GET', `/api/episodes/${EP2}`);
    expect(detail.body).toMatchObject({ episode_key: EP2, position_ms: 61_000, played: false });
  });

  it('someone else’s or an unknown episode is a 404, and nothing is written', async () => {
    for (const key of [OTHER, 'no-such-episode']) {
      const put = await call(api.base, 'PUT', `/api/episodes/${key}/playback`, { key: KEY, json: { position_ms: 1000 } });
      expect(put.status, key).toBe(404);
      expect(put.body.error.code).toBe('not_found');
      expect((await call(api.base, 'GET', `/api/episodes/${key}/playback`)).status, key).toBe(404);
    }
    expect((await pg.query(`SELECT count(*)::int AS n FROM playback WHERE episode_key = $1`, [OTHER])).rows[0].n).toBe(0);
  });

  it('hostile input is a 400 naming the problem, never a 500', async () => {
    const bad: unknown[] = [
      {},
      { position_ms: -1 },
      { position_ms: 1.5 },
      { position_ms: '1000' },
      { position_ms: 1e15 },
      { position_ms: 7 * 86_400_000 + 1 },
      { position_ms: Number.MAX_SAFE_INTEGER },
      { position_ms: 5000, duration_ms: 4000 },
      { position_ms: 10, duration_ms: 0 },
      { position_ms: 10, played: 'yes' },
      { position_ms: 10, extra: 1 },
      { position_ms: 10, 'a\u0000b': 1 },
      [],
      null,
    ];
    for (const json of bad) {
      const r = await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: KEY, json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error.message, JSON.stringify(json)).toEqual(expect.any(String));
    }
    const notJson = await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: KEY, body: '{"position_ms":', type: 'application/json' });
    expect(notJson.status).toBe(400);
    for (const key of ['a%00b', '..%2F..%2Fetc', 'x'.repeat(201), '%E2%80%AE']) {
      const r = await call(api.base, 'PUT', `/api/episodes/${key}/playback`, { key: KEY, json: { position_ms: 1 } });
      expect([400, 404], key).toContain(r.status);
    }
    expect((await call(api.base, 'GET', `/api/episodes/${EP1}/playback`)).body.position_ms).toBe(5_000);
  });

  it('a save without a duration never lands past the one measured before (clamped to it); a new measurement wins', async () => {
    const put = (json: object) => call(api.base, 'PUT', `/api/episodes/${OTHER}/playback`, { key: T2_KEY, json });
    expect((await put({ position_ms: 60_000, duration_ms: 120_000 })).body).toMatchObject({ position_ms: 60_000, duration_ms: 120_000 });
    const past = await put({ position_ms: 500_000 });
    expect(past.status).toBe(200);
    expect(past.body).toMatchObject({ position_ms: 120_000, duration_ms: 120_000, played: false });
    expect((await call(api.base, 'GET', `/api/episodes/${OTHER}/playback`, { key: T2_KEY })).body).toMatchObject({ position_ms: 120_000, duration_ms: 120_000 });
    expect((await put({ position_ms: 500_000, duration_ms: 600_000 })).body).toMatchObject({ position_ms: 500_000, duration_ms: 600_000 });
    expect((await put({ position_ms: 30_000 })).body).toMatchObject({ position_ms: 30_000, duration_ms: 600_000 });
  });

  it('a write needs a key (or a session): anonymous and wrong keys are refused', async () => {
    expect((await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { json: { position_ms: 1 } })).status).toBe(401);
    expect((await call(api.base, 'PUT', `/api/episodes/${EP1}/playback`, { key: 'wrong', json: { position_ms: 1 } })).status).toBe(401);
    expect((await call(api.base, 'POST', '/api/playback/mark', { json: { episode_keys: [EP1], played: false } })).status).toBe(401);
  });
});

describe('tenant isolation', () => {
  it("a tenant's position is its own: the same episode reads differently per tenant", async () => {
    const r = await call(api.base, 'PUT', `/api/episodes/${EP2}/playback`, { key: T2_KEY, json: { position_ms: 999_000, played: true } });
    expect(r.status).toBe(200);
    expect((await call(api.base, 'GET', `/api/episodes/${EP2}/playback`, { key: T2_KEY })).body).toMatchObject({ position_ms: 999_000, played: true });
    expect((await call(api.base, 'GET', `/api/episodes/${EP2}/playback`)).body).toMatchObject({ position_ms: 61_000, played: false });
    const t2page = await call(api.base, 'GET', '/api/episodes?limit=10', { key: T2_KEY });
    const t2 = t2page.body.items.find((e: any) => e.episode_key === EP2);
    expect(t2).toMatchObject({ position_ms: 999_000, played: true });
    expect(t2page.body.items.find((e: any) => e.episode_key === EP1)).toMatchObject({ position_ms: 0, played: false });
    // t2 may write its own feed's episode; the default tenant still cannot see it.
    expect((await call(api.base, 'PUT', `/api/episodes/${OTHER}/playback`, { key: T2_KEY, json: { position_ms: 7 } })).status).toBe(200);
    expect((await call(api.base, 'GET', `/api/episodes/${OTHER}/playback`)).status).toBe(404);
  });

  it('a tenant going away takes its playback rows with it (FK cascade)', async () => {
    await pg.query(`INSERT INTO tenants (id, name) VALUES ('t3', 'Gone')`);
    await pg.query(`INSERT INTO playback (tenant_id, episode_key, position_ms) VALUES ('t3', $1, 1)`, [EP3]);
    await pg.query(`DELETE FROM tenants WHERE id = 't3'`);
    expect((await pg.query(`SELECT count(*)::int AS n FROM playback WHERE tenant_id = 't3'`)).rows[0].n).toBe(0);
  });
});

describe('POST /api/playback/mark', () => {
  it('marks several played at once (position kept), unplayed (position back to 0), names the unknown keys', async () => {
    const played = await call(api.base, 'POST', '/api/playback/mark', { key: KEY, json: { episode_keys: [EP2, EP3, EP3, OTHER, 'nope'], played: true } });
    expect(played.status).toBe(200);
    expect(played.body).toEqual({ played: true, updated: 2, not_found: [OTHER, 'nope'] });
    expect((await call(api.base, 'GET', `/api/episodes/${EP2}/playback`)).body).toMatchObject({ position_ms: 61_000, played: true });
    expect((await call(api.base, 'GET', `/api/episodes/${EP3}/playback`)).body).toMatchObject({ position_ms: 0, played: true });
    const unplayed = await call(api.base, 'POST', '/api/playback/mark', { key: KEY, json: { episode_keys: [EP2], played: false } });
    expect(unplayed.body).toEqual({ played: false, updated: 1, not_found: [] });
    expect((await call(api.base, 'GET', `/api/episodes/${EP2}/playback`)).body).toMatchObject({ position_ms: 0, played: false });
    // The other tenant's state of EP2 is untouched.
    expect((await call(api.base, 'GET', `/api/episodes/${EP2}/playback`, { key: T2_KEY })).body).toMatchObject({ position_ms: 999_000, played: true });
  });

  it('404 when none of the keys is the caller’s; 400 for hostile bodies', async () => {
    const none = await call(api.base, 'POST', '/api/playback/mark', { key: KEY, json: { episode_keys: [OTHER], played: true } });
    expect(none.status).toBe(404);
    for (const json of [{}, { episode_keys: [], played: true }, { episode_keys: [EP1] }, { episode_keys: [EP1], played: 1 }, { episode_keys: ['../x'], played: true }, { episode_keys: Array(501).fill(EP1), played: true }, { episode_keys: [EP1], played: true, more: 1 }, { episode_keys: 'x', played: true }]) {
      const r = await call(api.base, 'POST', '/api/playback/mark', { key: KEY, json });
      expect(r.status, JSON.stringify(json).slice(0, 80)).toBe(400);
    }
  });
});

describe("the viewer's session cookie saves playback (and nothing else)", () => {
  async function signIn(key: string): Promise<string> {
    const res = await fetch(`${api.base}/api/session`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    return (res.headers.get('set-cookie') ?? '').split(';')[0];
  }
  const withCookie = (cookie: string, method: string, p: string, json?: unknown, extra: Record<string, string> = {}) =>
    fetch(`${api.base}${p}`, { method, headers: { cookie, ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...extra }, body: json !== undefined ? JSON.stringify(json) : undefined });

  it('PUT playback and POST mark work with the cookie alone, for its tenant', async () => {
    const cookie = await signIn(T2_KEY);
    const put = await withCookie(cookie, 'PUT', `/api/episodes/${EP3}/playback`, { position_ms: 42_000 }, { origin: api.base });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ episode_key: EP3, position_ms: 42_000 });
    expect((await call(api.base, 'GET', `/api/episodes/${EP3}/playback`, { key: T2_KEY })).body.position_ms).toBe(42_000);
    expect((await call(api.base, 'GET', `/api/episodes/${EP3}/playback`)).body.position_ms).toBe(0);
    const mark = await withCookie(cookie, 'POST', '/api/playback/mark', { episode_keys: [EP3], played: true });
    expect(mark.status).toBe(200);
  });

  it('the cookie still opens no other write, and another site cannot use it', async () => {
    const cookie = await signIn(KEY);
    expect((await withCookie(cookie, 'POST', `/api/episodes/${EP1}/process`)).status).toBe(401);
    expect((await withCookie(cookie, 'POST', '/api/feeds', { url: 'https://example.com/x.xml' })).status).toBe(401);
    expect((await withCookie(cookie, 'GET', '/api/admin/config')).status).toBe(401);
    const cross = await withCookie(cookie, 'PUT', `/api/episodes/${EP1}/playback`, { position_ms: 1 }, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect((await call(api.base, 'GET', `/api/episodes/${EP1}/playback`)).body.position_ms).toBe(5_000);
    const forged = await withCookie('podbrain_session=v1.forged.sig', 'PUT', `/api/episodes/${EP1}/playback`, { position_ms: 1 });
    expect(forged.status).toBe(401);
  });
});

describe('GET /api/playback (continue listening)', () => {
  it('in progress by default, played or all on request, most recently saved first, per tenant', async () => {
    await call(api.base, 'PUT', `/api/episodes/${EP2}/playback`, { key: KEY, json: { position_ms: 1_000 } });
    const inProgress = await call(api.base, 'GET', '/api/playback');
    expect(inProgress.status).toBe(200);
    expect(inProgress.headers.get('cache-control')).toBe('no-store');
    expect(inProgress.body.items.map((i: any) => i.episode_key)).toEqual([EP2]);
    expect(inProgress.body.items[0]).toMatchObject({ episode_key: EP2, position_ms: 1_000, played: false, title: 'Episode 2', feed_id: 'feedpb', feed_title: 'Feed PB', duration_s: 3600 });
    const played = await call(api.base, 'GET', '/api/playback?filter=played');
    expect(played.body.items.map((i: any) => i.episode_key)).toEqual([EP3, EP1]);
    const all = await call(api.base, 'GET', '/api/playback?filter=all&limit=2');
    expect(all.body.items.map((i: any) => i.episode_key)).toEqual([EP2, EP3]);
    const t2 = await call(api.base, 'GET', '/api/playback', { key: T2_KEY });
    expect(t2.body.items.map((i: any) => i.episode_key)).toEqual([OTHER]);
  });

  it('episodes of a feed no longer followed drop out; hostile queries are a 400', async () => {
    await pg.query(`DELETE FROM subscriptions WHERE tenant_id = 't2' AND feed_id = 'feedother'`);
    expect((await call(api.base, 'GET', '/api/playback', { key: T2_KEY })).body.items).toEqual([]);
    for (const q of ['filter=bogus', 'limit=0', 'limit=201', 'limit=abc', 'filter=%00']) {
      const r = await call(api.base, 'GET', `/api/playback?${q}`);
      expect(r.status, q).toBe(400);
    }
  });
});
