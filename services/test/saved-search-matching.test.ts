import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeEmbeddingProviders } from '../src/index/embeddings';
import { freshDatabase } from './api-support';
import { FRUIT_FLY_SENTENCE, fruitFlyEpisodes } from './support/search-fixtures';
import { removeTempDataDirs } from './support/index-corpus';
import { startSavedSearchPlatform, webhookReceiver, type SavedSearchPlatform } from './support/saved-search-platform';

/**
 * Saved searches that notify (issue 17), on a worker's platform: real Postgres, Redis, FAISS
 * (hash embeddings, the real index stage), StageJobs running transcribe → index → project, and
 * a local webhook receiver as the owner's channel (NOTIFY_WEBHOOK_URL).
 */
const PUBLIC_URL = 'https://podbrain.example';
// Queue job ids hold the episode key: no ':' (BullMQ).
const [home, backup] = fruitFlyEpisodes().map((e) => ({ ...e, key: e.key.replace(/:/g, '-') }));
const fruitFlyShow = (n: number) => [
  `Episode ${n} of the pest report, where we answer the questions of our listeners.`,
  'A reader in Ohio asked about the bowl of peaches on her table.',
  FRUIT_FLY_SENTENCE,
  'Keep the trap next to the fruit bowl for a week and replace it when it gets cloudy.',
  'Next time: ants on the balcony and what cinnamon does to them.',
];
const gardenShow = ['Tomatoes need sun and a deep watering twice a week.', 'Mulch keeps the soil cool in July.', 'Pinch the side shoots so the plant puts its energy in the fruit.'];

let db: Awaited<ReturnType<typeof freshDatabase>>;
let p: SavedSearchPlatform;
const hook = webhookReceiver();

async function save(tenant: string, name: string, query: string, opts: { threshold?: number; notify?: boolean; min_interval_s?: number } = {}): Promise<string> {
  const r = await p.pg.query(`INSERT INTO saved_searches (tenant_id, name, query, threshold, notify, min_interval_s) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, [
    tenant,
    name,
    query,
    opts.threshold ?? 0.5,
    opts.notify ?? true,
    opts.min_interval_s ?? 0,
  ]);
  return r.rows[0].id as string;
}

const hitsOf = async (id: string) =>
  (await p.pg.query(`SELECT episode_key, text, start_ms, score, notified_at FROM saved_search_hits WHERE saved_search_id = $1 ORDER BY id`, [id])).rows as {
    episode_key: string;
    text: string;
    start_ms: number;
    score: number;
    notified_at: Date | null;
  }[];

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_saved_search_match');
  const url = await hook.listen();
  p = await startSavedSearchPlatform(db.url, { NOTIFY_WEBHOOK_URL: url, PUBLIC_URL, QUEUE_PREFIX: `ssm-${process.pid}` });
  await p.pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second') ON CONFLICT DO NOTHING`);
  for (const f of ['feed-home', 'feed-tech', 'feed-garden', 'feed-t2']) {
    await p.pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, 3600, now())`, [f, `https://example.com/${f}.xml`, `Show ${f}`]);
  }
  await p.pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feed-home'), ('default', 'feed-tech'), ('default', 'feed-garden'), ('t2', 'feed-t2')`);
}, 60_000);

afterAll(async () => {
  await p?.close();
  await hook.close();
  await closeEmbeddingProviders();
  await db?.drop();
  await removeTempDataDirs();
});

describe('saved searches: matching a newly projected episode and notifying', () => {
  let flies: string;
  let strict: string;
  let t2flies: string;

  it('an episode about fruit flies is matched and notified at the webhook with the quote and the moment link; an unrelated one is not', async () => {
    flies = await save('default', 'Fruit flies', 'fruit flies', { min_interval_s: 3600, threshold: 0.8 });
    t2flies = await save('t2', 'T2 flies', 'fruit flies', { min_interval_s: 0 });
    const from = hook.calls.length;
    await p.process(backup.feedId, backup.key, backup.title, backup.sentences);
    await p.ctx.savedSearches.idle();
    expect(await hitsOf(flies)).toEqual([]);

    await p.process(home.feedId, home.key, home.title, home.sentences);
    await p.ctx.savedSearches.idle();
    const call = await hook.next((c) => c.body.kind === 'saved_search_hit', from);
    expect(hook.calls.length - from).toBe(1);
    expect(call.body.key).toBe(flies);
    expect(call.body.title).toContain('Fruit flies');
    expect(call.body.title).toContain(home.title);
    expect(call.body.body).toContain('fruit flies');
    expect(call.body.body).toContain('Show feed-home');
    // The moment: the fruit-fly sentence is the 6th 4-second segment (20 s).
    expect(call.body.link).toBe(`${PUBLIC_URL}/episodes/${encodeURIComponent(home.key)}?t=20`);
    const [hit] = await hitsOf(flies);
    expect(hit).toMatchObject({ episode_key: home.key, start_ms: 20_000 });
    expect(hit.text).toContain('fruit flies');
    expect(hit.notified_at).not.toBeNull();
    // t2 follows none of these feeds: its identical search saw nothing.
    expect(await hitsOf(t2flies)).toEqual([]);
  });

  it('a threshold above the hit’s relevance keeps it out', async () => {
    strict = await save('default', 'Strict', 'tomatoes sun watering mulch fertiliser compost', { threshold: 0.95 });
    const loose = await save('default', 'Loose', 'tomatoes sun watering mulch fertiliser compost', { threshold: 0.3, notify: false });
    await p.process('feed-garden', 'feed-garden-tomatoes', 'Tomatoes', gardenShow);
    await p.ctx.savedSearches.idle();
    const [looseHit] = await hitsOf(loose);
    expect(looseHit?.episode_key).toBe('feed-garden-tomatoes');
    expect(looseHit.score).toBeLessThan(0.95);
    expect(await hitsOf(strict)).toEqual([]);
    // 'fruit flies' at 0.8: the tomato show's one 'fruit' (relevance 0.5) is no match.
    expect((await hitsOf(flies)).map((h) => h.episode_key)).not.toContain('feed-garden-tomatoes');
    // notify: false keeps the hit without telling anyone.
    expect(hook.calls.filter((c) => c.body.key === loose)).toEqual([]);
  });

  it('within the interval a second match is kept, not sent; the next notification (the sweep, once the interval passed) carries it', async () => {
    await p.pg.query(`UPDATE saved_searches SET min_interval_s = 2 WHERE id = $1`, [flies]);
    const from = hook.calls.length;
    await p.process('feed-home', 'feed-home-pests-2', 'Pest report 2', fruitFlyShow(2));
    await p.ctx.savedSearches.idle();
    expect(hook.calls.length).toBe(from);
    // The sweep before the interval passed sends nothing either.
    expect(await p.ctx.savedSearches.sweep()).toBe(0);
    await p.process('feed-home', 'feed-home-pests-3', 'Pest report 3', fruitFlyShow(3));
    await p.ctx.savedSearches.idle();
    expect(hook.calls.length).toBe(from);
    expect((await hitsOf(flies)).filter((h) => !h.notified_at), JSON.stringify(await hitsOf(flies))).toHaveLength(2);

    const last = (await p.pg.query(`SELECT last_notified_at FROM saved_searches WHERE id = $1`, [flies])).rows[0].last_notified_at as Date;
    await new Promise((r) => setTimeout(r, Math.max(0, last.getTime() + 2100 - Date.now())));
    expect(await p.ctx.savedSearches.sweep()).toBe(1);
    const call = await hook.next((c) => c.body.key === flies, from);
    expect(call.body.title).toContain('2 new matches');
    expect(call.body.body).toContain('Pest report 2');
    expect(call.body.body).toContain('Pest report 3');
    expect((await hitsOf(flies)).every((h) => h.notified_at)).toBe(true);
    expect(await p.ctx.savedSearches.sweep()).toBe(0);
  }, 30_000);

  it('a re-projection of a matched episode does not notify again', async () => {
    await p.pg.query(`UPDATE saved_searches SET min_interval_s = 0 WHERE id = $1`, [flies]);
    const from = hook.calls.length;
    const before = (await hitsOf(flies)).length;
    expect(await p.jobs.runProject(home.key, { signal: new AbortController().signal, attempt: 1, maxAttempts: 1 })).toBe('projected');
    await p.ctx.savedSearches.idle();
    expect(await hitsOf(flies)).toHaveLength(before);
    expect(hook.calls.length).toBe(from);
  });

  it('another tenant’s search sees only its own feeds', async () => {
    const from = hook.calls.length;
    await p.process('feed-t2', 'feed-t2-pests', 'T2 pests', fruitFlyShow(9));
    await p.ctx.savedSearches.idle();
    const call = await hook.next((c) => c.body.key === t2flies, from);
    expect(call.body.link).toContain(encodeURIComponent('feed-t2-pests'));
    expect((await hitsOf(t2flies)).map((h) => h.episode_key)).toEqual(['feed-t2-pests']);
    // default does not follow feed-t2.
    expect((await hitsOf(flies)).map((h) => h.episode_key)).not.toContain('feed-t2-pests');
    expect(hook.calls.slice(from).filter((c) => c.body.key === flies)).toEqual([]);
  });

  it('a deleted search matches and notifies no more', async () => {
    await p.pg.query(`DELETE FROM saved_searches WHERE id = $1`, [flies]);
    const from = hook.calls.length;
    await p.process('feed-home', 'feed-home-pests-4', 'Pest report 4', fruitFlyShow(4));
    const m = await p.ctx.savedSearches.matchEpisode('feed-home-pests-4');
    expect(m.hits).toBe(0);
    await p.ctx.savedSearches.idle();
    expect(hook.calls.length).toBe(from);
    expect((await p.pg.query(`SELECT count(*)::int AS n FROM saved_search_hits WHERE saved_search_id = $1`, [flies])).rows[0].n).toBe(0);
  });

  it('a failing match never fails the project job', async () => {
    const original = p.ctx.savedSearches.matchEpisode.bind(p.ctx.savedSearches);
    p.ctx.savedSearches.matchEpisode = () => Promise.reject(new Error('boom'));
    try {
      await p.process('feed-home', 'feed-home-pests-5', 'Pest report 5', fruitFlyShow(5));
      await p.ctx.savedSearches.idle();
      expect((await p.pg.query(`SELECT state::text FROM episodes WHERE episode_key = 'feed-home-pests-5'`)).rows[0].state).toBe('done');
    } finally {
      p.ctx.savedSearches.matchEpisode = original;
    }
  });
});
