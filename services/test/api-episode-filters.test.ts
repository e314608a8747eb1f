/* eslint-disable @typescript-eslint/no-explicit-any -- test replies are JSON of many shapes */
/**
 * GET /api/episodes filters for the feed page (issue 18): played=true|false (the caller's own
 * playback state) with feed_id and state, tenant-scoped, validated (400 for anything else),
 * cursor pagination kept under every filter (dated and undated episodes alike).
 */
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiConfig, call, freshDatabase, startApi } from './api-support';

const DB = 'podbrain_test_episode_filters';
const KEY = 'filters-admin-key';
const T2_KEY = 'filters-tenant2-key';
const hash = (k: string) => createHash('sha256').update(k).digest('hex');

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let api: Awaited<ReturnType<typeof startApi>>;

// feedf: 6 episodes (f1…f5 dated, f6 undated); states done ×3, failed ×2, pending ×1. feedg: 2 done.
const EPISODES: [key: string, feed: string, state: string, hoursAgo: number | null][] = [
  ['f1', 'feedf', 'done', 1],
  ['f2', 'feedf', 'done', 2],
  ['f3', 'feedf', 'failed', 3],
  ['f4', 'feedf', 'pending', 4],
  ['f5', 'feedf', 'failed', 5],
  ['f6', 'feedf', 'done', null],
  ['g1', 'feedg', 'done', 6],
  ['g2', 'feedg', 'done', 7],
];

const keys = (r: any) => r.body.items.map((e: any) => e.episode_key);

/** Every page of a query, following next_cursor. */
async function all(query: string, key = KEY): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const r: any = await call(api.base, 'GET', `/api/episodes?${query}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key });
    expect(r.status).toBe(200);
    out.push(...keys(r));
    cursor = r.body.next_cursor;
  } while (cursor);
  return out;
}

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second')`);
  await pg.query(`INSERT INTO api_keys (tenant_id, name, key_hash) VALUES ('t2', 'live', $1)`, [hash(T2_KEY)]);
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('feedf', 'https://example.com/f.xml', 'F', 3600, now()), ('feedg', 'https://example.com/g.xml', 'G', 3600, now())`);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feedf'), ('default', 'feedg'), ('t2', 'feedf')`);
  for (const [key, feed, state, hoursAgo] of EPISODES) {
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, title, published_at, enclosure, transcripts, source, state)
       VALUES ($1, $2, $1, CASE WHEN $3::int IS NULL THEN NULL ELSE now() - make_interval(hours => $3::int) END, '{"url":"https://example.com/a.mp3","type":"audio/mpeg","length":1}', '[]', '{}', $4)`,
      [key, feed, hoursAgo, state],
    );
  }
  // default played f1, f6 (undated) and g1; f2 is in progress (saved, not played); t2 played f3.
  await pg.query(
    `INSERT INTO playback (tenant_id, episode_key, position_ms, played) VALUES ('default', 'f1', 1000, true), ('default', 'f6', 0, true), ('default', 'g1', 0, true), ('default', 'f2', 5000, false), ('t2', 'f3', 0, true)`,
  );
  api = await startApi(apiConfig(db.url, { AUTH_API_KEY: KEY, WEB_DIST_DIR: 'off' }));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await pg?.end();
  await db?.drop();
});

describe('GET /api/episodes?played=', () => {
  it('played=true: only the caller\'s played episodes (dated first, then undated), across feeds', async () => {
    expect(await all('played=true')).toEqual(['f1', 'g1', 'f6']);
    expect(await all('played=true&feed_id=feedf')).toEqual(['f1', 'f6']);
  });

  it('played=false: never saved or saved unplayed (in progress counts as unplayed)', async () => {
    expect(await all('played=false&feed_id=feedf')).toEqual(['f2', 'f3', 'f4', 'f5']);
    expect(await all('played=false')).toEqual(['f2', 'f3', 'f4', 'f5', 'g2']);
  });

  it('combines with state (the feed page: unplayed, processed, failed)', async () => {
    expect(await all('feed_id=feedf&state=done')).toEqual(['f1', 'f2', 'f6']);
    expect(await all('feed_id=feedf&state=failed')).toEqual(['f3', 'f5']);
    expect(await all('feed_id=feedf&state=done&played=false')).toEqual(['f2']);
    expect(await all('feed_id=feedf&state=done&played=true')).toEqual(['f1', 'f6']);
  });

  it('is the caller\'s own state: another tenant\'s plays never count, its feeds stay invisible', async () => {
    expect(await all('played=true', T2_KEY)).toEqual(['f3']);
    expect(await all('played=false&feed_id=feedf', T2_KEY)).toEqual(['f1', 'f2', 'f4', 'f5', 'f6']);
    // feedg is not t2's: an empty page, not another tenant's episodes.
    expect(await all('played=false&feed_id=feedg', T2_KEY)).toEqual([]);
    // The played flag in the answer is the caller's.
    const r = await call(api.base, 'GET', '/api/episodes?played=true', { key: T2_KEY });
    expect(r.body.items.map((e: any) => [e.episode_key, e.played])).toEqual([['f3', true]]);
  });

  it('without played the list is unchanged (all of them)', async () => {
    expect(await all('feed_id=feedf')).toEqual(['f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
  });

  it('hostile values are a 400 naming the parameter', async () => {
    for (const q of ['played=yes', 'played=1', 'played=', 'played=TRUE', 'played=true&played=false', 'state=nope', 'feed_id=%00x']) {
      const r = await call(api.base, 'GET', `/api/episodes?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBeTruthy();
    }
    const r = await call(api.base, 'GET', '/api/episodes?played=maybe');
    expect(JSON.stringify(r.body.error)).toContain('played');
  });
});
