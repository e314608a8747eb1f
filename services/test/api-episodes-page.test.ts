// The Library's page (GET /api/episodes) has two plans for dated episodes: down the global
// newest-first index, or a top-N per subscribed feed. Both must give the very same pages.
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database } from '../src/db/database';
import { EpisodeRepository, type EpisodeSummaryView } from '../src/repositories/episodes.repository';
import { silentLogger } from '../src/core/logger';
import { freshDatabase } from './api-support';

const DB = 'podbrain_test_episodes_page';
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let api: Database;

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  // 12 feeds; tenant "one" follows 2 of them, tenant "all" every one. Ties on published_at
  // (several episodes in the same minute across feeds) and undated episodes included.
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at)
    SELECT 'f' || f, 'https://example.com/' || f || '.xml', 'Feed ' || f, 3600, now() + interval '1 hour' FROM generate_series(1, 12) f`);
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('one', 'one'), ('all', 'all')`);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('one', 'f3'), ('one', 'f7')`);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) SELECT 'all', id FROM feeds`);
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, title, published_at, duration_s, enclosure, transcripts, source, state)
     SELECT md5('e' || i), 'f' || (1 + i % 12), 'Episode ' || i,
            CASE WHEN i % 17 = 0 THEN NULL ELSE timestamptz '2024-01-01' + make_interval(mins => (i / 3) * 5) END, 60,
            '{}'::jsonb, '[]'::jsonb, '{}'::jsonb, 'pending'
     FROM generate_series(1, 600) i`,
  );
  await pg.query('ANALYZE');
  api = new Database({ databaseUrl: db.url }, silentLogger, { poolSize: 4, failFast: true });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await pg?.end();
  await db?.drop();
});

async function everyPage(repo: EpisodeRepository, tenant: string, limit: number): Promise<{ items: EpisodeSummaryView[]; pages: number }> {
  const items: EpisodeSummaryView[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await repo.list(tenant, { limit, cursor });
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
    pages++;
  } while (cursor && pages < 1000);
  return { items, pages };
}

async function expected(tenant: string): Promise<string[]> {
  const r = await pg.query<{ episode_key: string }>(
    `SELECT e.episode_key FROM episodes e JOIN subscriptions s ON s.feed_id = e.feed_id AND s.tenant_id = $1
     ORDER BY e.published_at DESC NULLS LAST, e.episode_key DESC`,
    [tenant],
  );
  return r.rows.map((x) => x.episode_key);
}

describe('episodes page: newest-index and per-feed plans', () => {
  it.each([
    ['all', 50],
    ['all', 7],
    ['one', 50],
    ['one', 9],
  ])('tenant %s, limit %i: both plans page through the same episodes in the same order as a full sort', async (tenant, limit) => {
    const want = await expected(tenant);
    expect(want.length).toBeGreaterThan(limit);
    const viaIndex = await everyPage(new EpisodeRepository(api, 'newest-index'), tenant, limit);
    const perFeed = await everyPage(new EpisodeRepository(api, 'per-feed'), tenant, limit);
    const auto = await everyPage(new EpisodeRepository(api), tenant, limit);
    expect(viaIndex.items.map((e) => e.episode_key)).toEqual(want);
    expect(perFeed.items.map((e) => e.episode_key)).toEqual(want);
    expect(auto.items.map((e) => e.episode_key)).toEqual(want);
    expect(viaIndex.pages).toBe(Math.ceil(want.length / limit));
  });

  it('timestamps are the same ISO 8601 text Date#toISOString() gives', async () => {
    const page = await new EpisodeRepository(api).list('all', { limit: 5 });
    const raw = await pg.query<{ published_at: Date; updated_at: Date }>(`SELECT published_at, updated_at FROM episodes WHERE episode_key = $1`, [page.items[0].episode_key]);
    expect(page.items[0].published_at).toBe(raw.rows[0].published_at.toISOString());
    expect(page.items[0].updated_at).toBe(raw.rows[0].updated_at.toISOString());
  });

});
