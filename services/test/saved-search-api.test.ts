import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiConfig, call, freshDatabase, startApi } from './api-support';

/** The saved-search API (issue 17): CRUD per tenant, hostile input, the per-tenant limit, hits and their Markdown export. */
const KEY = 'deploy-key-saved-searches';
const T2 = 't2-key-saved-searches';
const MAX = 3;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let api: Awaited<ReturnType<typeof startApi>>;

const post = (json: unknown, key = KEY) => call(api.base, 'POST', '/api/saved-searches', { json, key });

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_saved_search_api');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second')`);
  await pg.query(`INSERT INTO api_keys (tenant_id, name, key_hash) VALUES ('t2', 'live', $1)`, [createHash('sha256').update(T2).digest('hex')]);
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('feed-home', 'https://example.com/home.xml', 'Home [& garden]', 3600, now())`);
  await pg.query(`INSERT INTO episodes (episode_key, feed_id, title, transcripts, source, state) VALUES ('ep-1', 'feed-home', 'Kitchen pests', '[]', '{}', 'done'), ('ep-2', 'feed-home', 'More *pests*', '[]', '{}', 'done')`);
  api = await startApi(apiConfig(db.url, { AUTH_API_KEY: KEY, SAVED_SEARCH_MAX: String(MAX), SAVED_SEARCH_MIN_INTERVAL_S: '900' }));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await pg?.end();
  await db?.drop();
});

describe('api: saved searches', () => {
  let id: string;

  it('creates one with defaults (name = the query, threshold 0.5, notify, the configured interval); writes need a key', async () => {
    expect((await call(api.base, 'POST', '/api/saved-searches', { json: { query: 'fruit flies' } })).status).toBe(401);
    const r = await post({ query: '  fruit   flies ' });
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ name: 'fruit flies', query: 'fruit flies', threshold: 0.5, notify: true, min_interval_s: 900, hits: 0, pending: 0, last_hit: null, last_notified_at: null });
    id = r.body.id;
    expect(id).toMatch(/^\d+$/);
  });

  it('lists, reads, changes only the fields sent', async () => {
    const list = await call(api.base, 'GET', '/api/saved-searches', { key: KEY });
    expect(list.status).toBe(200);
    expect(list.body.max).toBe(MAX);
    expect(list.body.items.map((s: { id: string }) => s.id)).toEqual([id]);
    const patched = await call(api.base, 'PATCH', `/api/saved-searches/${id}`, { json: { name: 'Flies', threshold: 0.8, notify: false }, key: KEY });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ id, name: 'Flies', query: 'fruit flies', threshold: 0.8, notify: false, min_interval_s: 900 });
    expect((await call(api.base, 'GET', `/api/saved-searches/${id}`, { key: KEY })).body.name).toBe('Flies');
  });

  it('answers hostile or malformed input with a 400 that names the problem, never a 500', async () => {
    const bad: unknown[] = [
      {},
      { query: '' },
      { query: '   ' },
      { query: 'x'.repeat(501) },
      { query: 'a\u0000b' },
      { query: 'ok', threshold: 1.5 },
      { query: 'ok', threshold: -0.1 },
      { query: 'ok', threshold: 'high' },
      { query: 'ok', min_interval_s: -1 },
      { query: 'ok', min_interval_s: 1.5 },
      { query: 'ok', notify: 'yes' },
      { query: 'ok', name: 'n'.repeat(201) },
      { query: 'ok', extra: 1 },
      { query: ['a'] },
      { query: '\ud800' },
    ];
    for (const body of bad) {
      const r = await post(body);
      expect(r.status, `${JSON.stringify(body)}: ${r.text}`).toBe(400);
      expect(r.body.error.message).toMatch(/invalid body/);
    }
    expect((await call(api.base, 'POST', '/api/saved-searches', { body: '{"query":', type: 'application/json', key: KEY })).status).toBe(400);
    expect((await call(api.base, 'PATCH', `/api/saved-searches/${id}`, { json: {}, key: KEY })).status).toBe(400);
    for (const p of ['/api/saved-searches/abc', '/api/saved-searches/0', '/api/saved-searches/1%27%20OR%201=1', `/api/saved-searches/${'9'.repeat(30)}`]) {
      expect((await call(api.base, 'GET', p, { key: KEY })).status, p).toBe(400);
    }
    expect((await call(api.base, 'GET', `/api/saved-searches/${id}/hits?limit=0`, { key: KEY })).status).toBe(400);
    expect((await call(api.base, 'GET', '/api/saved-searches/999999', { key: KEY })).status).toBe(404);
  });

  it('keeps a tenant to its limit (409 saying so) and to its own searches', async () => {
    for (let i = 1; i < MAX; i++) expect((await post({ query: `topic ${i}` })).status).toBe(201);
    const over = await post({ query: 'one too many' });
    expect(over.status).toBe(409);
    expect(over.body.error.message).toMatch(/3 saved searches/);
    // Another tenant has its own limit and sees none of these.
    const t2 = await post({ query: 'fruit flies' }, T2);
    expect(t2.status).toBe(201);
    expect((await call(api.base, 'GET', '/api/saved-searches', { key: T2 })).body.items.map((s: { id: string }) => s.id)).toEqual([t2.body.id]);
    expect((await call(api.base, 'GET', `/api/saved-searches/${id}`, { key: T2 })).status).toBe(404);
    expect((await call(api.base, 'PATCH', `/api/saved-searches/${id}`, { json: { name: 'mine' }, key: T2 })).status).toBe(404);
    expect((await call(api.base, 'DELETE', `/api/saved-searches/${id}`, { key: T2 })).status).toBe(404);
    expect((await call(api.base, 'GET', `/api/saved-searches/${id}/hits`, { key: T2 })).status).toBe(404);
    expect((await call(api.base, 'GET', `/api/saved-searches/${id}/hits.md`, { key: T2 })).status).toBe(404);
  });

  it('lists the hits newest first and exports them as Markdown with front matter, block quotes and timestamp links', async () => {
    await pg.query(
      `INSERT INTO saved_search_hits (saved_search_id, episode_key, score, text, start_ms, found_at, notified_at) VALUES
       ($1, 'ep-1', 1, 'To get rid of fruit flies, set a small trap.', 20000, now() - interval '1 day', now()),
       ($1, 'ep-2', 0.75, 'Fruit flies # love [bananas](x) and <b>vinegar</b>.', 3723000, now(), NULL)`,
      [id],
    );
    const hits = await call(api.base, 'GET', `/api/saved-searches/${id}/hits`, { key: KEY });
    expect(hits.status).toBe(200);
    expect(hits.body.items.map((h: { episode_key: string }) => h.episode_key)).toEqual(['ep-2', 'ep-1']);
    expect(hits.body.items[1]).toMatchObject({ episode_title: 'Kitchen pests', feed_id: 'feed-home', feed_title: 'Home [& garden]', start_ms: 20000, score: 1 });
    expect(hits.body.items[0].notified_at).toBeNull();
    const one = await call(api.base, 'GET', `/api/saved-searches/${id}`, { key: KEY });
    expect(one.body).toMatchObject({ hits: 2, last_hit: { episode_key: 'ep-2' } });
    const listed = (await call(api.base, 'GET', '/api/saved-searches', { key: KEY })).body.items as { id: string; hits: number; pending: number; last_hit: { episode_key: string } | null }[];
    expect(listed.find((s) => s.id === id)).toMatchObject({ hits: 2, pending: 0, last_hit: { episode_key: 'ep-2' } }); // notify is off: nothing waits
    expect(listed.filter((s) => s.id !== id).every((s) => s.hits === 0 && s.last_hit === null)).toBe(true);

    const md = await call(api.base, 'GET', `/api/saved-searches/${id}/hits.md`, { key: KEY });
    expect(md.status).toBe(200);
    expect(md.headers.get('content-type')).toMatch(/text\/markdown/);
    expect(md.headers.get('content-disposition')).toContain('Flies.md');
    expect(md.text).toMatch(/^---\ntitle: "?Saved search: Flies"?\nquery: fruit flies\n/);
    expect(md.text).toContain(`> To get rid of fruit flies, set a small trap.\n> — [0:20](${api.base}/episodes/ep-1?t=20)`);
    // Markdown in a quote is escaped, never live; an hour-long offset reads h:mm:ss.
    expect(md.text).toContain('> Fruit flies \\# love \\[bananas\\](x) and \\<b\\>vinegar\\</b\\>.');
    expect(md.text).toContain(`[1:02:03](${api.base}/episodes/ep-2?t=3723)`);
    expect(md.text.indexOf('ep-2')).toBeLessThan(md.text.indexOf('ep-1'));
  });

  it('deletes a search with its hits', async () => {
    expect((await call(api.base, 'DELETE', `/api/saved-searches/${id}`, { key: KEY })).status).toBe(204);
    expect((await call(api.base, 'GET', `/api/saved-searches/${id}`, { key: KEY })).status).toBe(404);
    expect((await pg.query(`SELECT count(*)::int AS n FROM saved_search_hits WHERE saved_search_id = $1`, [id])).rows[0].n).toBe(0);
    // There is room again.
    expect((await post({ query: 'room again' })).status).toBe(201);
  });
});
