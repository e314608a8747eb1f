import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { digestDeps } from '../src/digest/deps';
import { buildDigest, generateDigest } from '../src/digest/generate';
import { parseFeed } from '../src/feeds/parse';
import { LlmProvider } from '../src/llm/provider';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { BITCOIN_QUOTE_MONEY, BITCOIN_QUOTE_TECH, DAY, seedDigestCorpus, SOURDOUGH_QUOTE_GARDEN, SOURDOUGH_QUOTE_MONEY } from './support/digest-corpus';
import { raw, startFakeOpenAi } from './support/fake-openai';
import { ensureBuilt } from './support/stack';

const DB = 'podbrain_test_digest';
const KEY = 'digest-secret-key';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let config: Config;
let database: Database;
const now = new Date();

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await seedDigestCorpus(pg, now);
  config = apiConfig(db.url, { EMBEDDINGS_PROVIDER: 'hash' });
  database = new Database(config, silentLogger, { poolSize: 4 });
}, 120_000);

afterAll(async () => {
  await database?.close();
  await pg?.end();
  await db?.drop();
});

const deps = () => digestDeps(config, database, silentLogger);

describe('digest generation over a seeded database', () => {
  it('clusters passages of different shows about one subject, with verbatim quotes linked to their moment', async () => {
    const d = await buildDigest(deps(), { tenantId: 'default', trigger: 'manual' });
    expect(d.stats.embeddings).toMatch(/^hash /);
    const bitcoin = d.clusters.find((c) => c.episodes.some((e) => e.episode_key === 'feed-money:etf'));
    expect(bitcoin, JSON.stringify(d.clusters, null, 1)).toBeDefined();
    expect(bitcoin!.episodes.map((e) => e.episode_key).sort()).toEqual(['feed-money:etf', 'feed-tech:etf']);
    expect(bitcoin!.feeds).toBe(2);
    expect(bitcoin!.entities).toEqual(expect.arrayContaining(['Bitcoin', 'SEC']));
    expect(bitcoin!.title_source).toBe('extractive');
    expect(bitcoin!.title).toMatch(/Bitcoin/);
    // One quote per episode, verbatim, with the episode and its time.
    expect(bitcoin!.quotes).toEqual(
      expect.arrayContaining([
        { text: BITCOIN_QUOTE_MONEY, episode_key: 'feed-money:etf', start_ms: 754_000, episode_title: 'The ETF that changed bitcoin', feed_title: 'Money Talk' },
        { text: BITCOIN_QUOTE_TECH, episode_key: 'feed-tech:etf', start_ms: 1_203_500, episode_title: 'Wall Street buys bitcoin', feed_title: 'Tech Weekly' },
      ]),
    );
    expect(bitcoin!.quotes.some((q) => /mattress|laptops/.test(q.text))).toBe(false);

    const sourdough = d.clusters.find((c) => c.episodes.some((e) => e.episode_key === 'feed-garden:sourdough'));
    expect(sourdough!.episodes.map((e) => e.episode_key).sort()).toEqual(['feed-garden:sourdough', 'feed-money:bakery']);
    expect(sourdough!.quotes.map((q) => q.text).sort()).toEqual([SOURDOUGH_QUOTE_GARDEN, SOURDOUGH_QUOTE_MONEY].sort());
    // Roses: one episode, no cluster; the two unrelated insights of the bitcoin episodes make none either.
    expect(d.clusters.every((c) => c.episodes.length >= 2)).toBe(true);
    expect(d.clusters.some((c) => c.episodes.some((e) => e.episode_key === 'feed-garden:roses'))).toBe(false);
    expect(d.clusters.length).toBe(2);
  });

  it('lists the window’s episodes (pending ones with their state, skipped and older ones not), trends and one line per show', async () => {
    const d = await buildDigest(deps(), { tenantId: 'default', trigger: 'manual' });
    const keys = d.episodes.map((e) => e.episode_key);
    expect(keys).toContain('feed-tech:pending');
    expect(keys).not.toContain('feed-tech:skipped');
    expect(keys.some((k) => k.startsWith('feed-money:rates'))).toBe(false);
    expect(d.episodes.find((e) => e.episode_key === 'feed-tech:pending')).toMatchObject({ state: 'pending', summary: null });
    expect(d.episodes.find((e) => e.episode_key === 'feed-garden:roses')).toMatchObject({ state: 'done', summary: 'Cut roses back hard in late winter', feed_title: 'Garden Hour' });
    expect(d.stats).toMatchObject({ episodes: 6, processed: 5, trend_windows: 4 });

    const trend = (label: string) => d.trends.find((t) => t.label === label);
    expect(trend('Bitcoin')).toEqual({ label: 'Bitcoin', kind: 'topic', count: 2, before: 0, change: 'new' });
    expect(trend('SEC')).toMatchObject({ kind: 'organization', change: 'new' });
    expect(trend('Interest rates')).toEqual({ label: 'Interest rates', kind: 'topic', count: 3, before: 1, change: 'rising' });
    // New and rising first.
    const order = d.trends.map((t) => t.change);
    expect(order.indexOf('rising')).toBeGreaterThan(order.lastIndexOf('new'));

    const money = d.shows.find((s) => s.feed_id === 'feed-money')!;
    expect(money).toMatchObject({ feed_title: 'Money Talk', episodes: 2 });
    expect(money.line).toContain('Spot bitcoin ETFs and institutional money');
    expect(money.line).toContain('The economics of a small sourdough bakery');
    expect(d.shows.find((s) => s.feed_id === 'feed-tech')!.line).toMatch(/\(1 not processed yet\)/);
  });

  it('an empty window is a valid, empty digest', async () => {
    const d = await buildDigest(deps(), { tenantId: 'default', from: new Date('2001-01-01T00:00:00Z'), to: new Date('2001-01-08T00:00:00Z'), trigger: 'manual' });
    expect(d).toMatchObject({ episodes: [], clusters: [], trends: [], shows: [], stats: { episodes: 0, processed: 0, passages: 0 } });
    // Another tenant follows nothing: empty as well.
    const other = await buildDigest(deps(), { tenantId: 'nobody', trigger: 'manual' });
    expect(other.episodes).toEqual([]);
  });

  it('a scheduled window is stored once; manual ones every time', async () => {
    const from = new Date(now.getTime() - 7 * DAY);
    const a = await generateDigest(deps(), { tenantId: 'default', from, to: now, trigger: 'scheduled' });
    const b = await generateDigest(deps(), { tenantId: 'default', from, to: now, trigger: 'scheduled' });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, digest: { id: a.digest.id } });
    expect(a.digest).toMatchObject({ kind: 'weekly', trigger: 'scheduled' });
    const m1 = await generateDigest(deps(), { tenantId: 'default', from, to: now, trigger: 'manual' });
    const m2 = await generateDigest(deps(), { tenantId: 'default', from, to: now, trigger: 'manual' });
    expect(m1.digest.id).not.toBe(m2.digest.id);
    await pg.query(`DELETE FROM digests`);
  });
});

describe('digest cluster titles by the LLM', () => {
  const llmConfig = (url: string) => ({ ...config, openai: { ...config.openai, baseUrl: url }, llm: { ...config.llm, model: 'fake-model', maxRetries: 0, retryBaseMs: 1 } });

  it('titles every cluster from one validated call', async () => {
    const ai = await startFakeOpenAi({
      chat: () => ({ titles: [{ cluster: 1, title: 'Wall Street gets its bitcoin ETF' }, { cluster: 2, title: 'Sourdough starters from garden to bakery' }] }),
    });
    try {
      const c = llmConfig(ai.url);
      const d = await buildDigest({ ...digestDeps(c, database, silentLogger), llm: new LlmProvider(c, { logger: silentLogger }) }, { tenantId: 'default', trigger: 'manual' });
      expect(d.clusters.map((x) => [x.title, x.title_source])).toEqual([
        ['Wall Street gets its bitcoin ETF', 'llm'],
        ['Sourdough starters from garden to bakery', 'llm'],
      ]);
      expect(d.stats.llm_problem).toBeNull();
      const chats = ai.requests.filter((r) => r.path.endsWith('/chat/completions'));
      expect(chats).toHaveLength(1);
      // The passages went in as data, inside the block the prompt marks as untrusted.
      expect(JSON.stringify(chats[0].body)).toContain('<clusters>');
    } finally {
      await ai.close();
    }
  });

  it('a broken LLM answer leaves the titles extractive, labelled so, with the problem', async () => {
    const ai = await startFakeOpenAi({ chat: () => raw('Sure! Here are some great titles for you.') });
    try {
      const c = llmConfig(ai.url);
      const d = await buildDigest({ ...digestDeps(c, database, silentLogger), llm: new LlmProvider(c, { logger: silentLogger }) }, { tenantId: 'default', trigger: 'manual' });
      expect(d.clusters).toHaveLength(2);
      expect(d.clusters.every((x) => x.title_source === 'extractive' && x.title.length > 0)).toBe(true);
      expect(d.stats.llm_problem).toMatch(/not JSON/);
    } finally {
      await ai.close();
    }
  });

  it('an LLM server that is down leaves the titles extractive', async () => {
    const c = llmConfig('http://127.0.0.1:9/v1');
    const d = await buildDigest({ ...digestDeps(c, database, silentLogger), llm: new LlmProvider(c, { logger: silentLogger }) }, { tenantId: 'default', trigger: 'manual' });
    expect(d.clusters.every((x) => x.title_source === 'extractive')).toBe(true);
    expect(d.stats.llm_problem).toBeTruthy();
  });
});

describe('digest api', () => {
  let open: Awaited<ReturnType<typeof startApi>>;
  let authed: Awaited<ReturnType<typeof startApi>>;

  beforeAll(async () => {
    await pg.query(`DELETE FROM digests`);
    open = await startApi(config);
    authed = await startApi({ ...config, authApiKey: KEY });
  }, 60_000);

  afterAll(async () => {
    await open?.close();
    await authed?.close();
  });

  it('latest is a clear 404 before any digest', async () => {
    const r = await call(open.base, 'GET', '/api/digests/latest');
    expect(r.status).toBe(404);
    expect(r.body.error.message).toMatch(/no digest yet: generate one now/);
    expect((await call(open.base, 'GET', '/api/digests')).body).toEqual({ items: [], next_before: null });
  });

  it('POST generates one now (201); latest, by id, the list, Markdown and the RSS feed answer it', async () => {
    const denied = await call(authed.base, 'POST', '/api/digests', { json: {} });
    expect(denied.status).toBe(401);
    const created = await call(authed.base, 'POST', '/api/digests', { json: {}, key: KEY });
    expect(created.status).toBe(201);
    const d = created.body;
    expect(d).toMatchObject({ trigger: 'manual', kind: 'weekly' });
    expect(new Date(d.to).getTime() - new Date(d.from).getTime()).toBe(7 * DAY);
    expect(d.clusters).toHaveLength(2);
    expect(d.clusters[0].quotes[0]).toMatchObject({ text: expect.any(String), episode_key: expect.any(String), start_ms: expect.any(Number) });

    const latest = await call(open.base, 'GET', '/api/digests/latest');
    expect(latest.status).toBe(200);
    expect(latest.body).toEqual(d);
    expect((await call(open.base, 'GET', `/api/digests/${d.id}`)).body).toEqual(d);

    // A custom window, by dates: to is the end of its day.
    const custom = await call(open.base, 'POST', '/api/digests', { json: { from: '2001-01-01', to: '2001-01-31' } });
    expect(custom.status).toBe(201);
    expect(custom.body).toMatchObject({ from: '2001-01-01T00:00:00.000Z', to: '2001-02-01T00:00:00.000Z', kind: 'custom', episodes: [], clusters: [] });

    const list = await call(open.base, 'GET', '/api/digests?limit=1');
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ id: custom.body.id, counts: { episodes: 0, clusters: 0 } });
    const page2 = await call(open.base, 'GET', `/api/digests?limit=1&before=${list.body.next_before}`);
    expect(page2.body.items[0]).toMatchObject({ id: d.id, trigger: 'manual', counts: { episodes: 6, clusters: 2, shows: 3 } });

    for (const p of [`/api/digests/${d.id}.md`, `/api/digests/${d.id}/markdown`]) {
      const md = await call(open.base, 'GET', p);
      expect(md.status, p).toBe(200);
      expect(md.headers.get('content-type')).toMatch(/text\/markdown/);
      expect(md.text.startsWith('---\n')).toBe(true);
      expect(md.text).toMatch(new RegExp(`\\nid: "?${d.id}"?\\n`));
      expect(md.text).toContain('## Stories across shows');
      // The quote as a block quote, then its timestamp link back to the viewer.
      expect(md.text).toContain(`> The day the SEC approved the spot bitcoin ETF, institutional money started buying bitcoin through their brokers.`);
      expect(md.text).toMatch(/> — \[Money Talk · The ETF that changed bitcoin · 12:34\]\(http:\/\/127\.0\.0\.1:\d+\/episodes\/feed-money%3Aetf\?t=754\)/);
    }

    const rss = await call(open.base, 'GET', '/api/digests/feed.xml');
    expect(rss.status).toBe(200);
    expect(rss.headers.get('content-type')).toMatch(/application\/rss\+xml/);
    const feed = parseFeed(rss.text);
    expect(feed.title).toBe('podbrain digests');
    expect(feed.warnings).toEqual([]);
    expect(feed.episodes).toHaveLength(2);
    const item = feed.episodes.find((e) => e.link?.endsWith(`/digests/${d.id}`));
    expect(item, JSON.stringify(feed.episodes.map((e) => e.link))).toBeDefined();
    expect(item!.guid).toBe(`podbrain-digest-${d.id}`);
    expect(item!.description ?? item!.contentHtml ?? '').toMatch(/<blockquote>/);
  });

  it('escapes what it renders: a hostile episode title stays text in the Markdown and the feed', async () => {
    await pg.query(`UPDATE episodes SET title = '<script>alert(1)</script> ]]> [x](javascript:alert(1))' WHERE episode_key = 'feed-garden:roses'`);
    try {
      const d = (await call(open.base, 'POST', '/api/digests', { json: {} })).body;
      const md = (await call(open.base, 'GET', `/api/digests/${d.id}.md`)).text;
      expect(md).not.toContain('<script>');
      expect(md).not.toMatch(/(?<!\\)\]\(javascript:/);
      expect(md).toContain('\\<script\\>');
      const rss = (await call(open.base, 'GET', '/api/digests/feed.xml')).text;
      expect(rss).not.toContain('<script>');
      expect(() => parseFeed(rss)).not.toThrow();
    } finally {
      await pg.query(`UPDATE episodes SET title = 'Pruning roses in winter' WHERE episode_key = 'feed-garden:roses'`);
    }
  });

  it('hostile input gets a clear 400, an unknown id a 404', async () => {
    const bad = async (json: unknown, re: RegExp) => {
      const r = await call(open.base, 'POST', '/api/digests', { json });
      expect(r.status, JSON.stringify(json)).toBe(400);
      expect(r.body.error.message).toMatch(re);
    };
    await bad({ from: 'last tuesday' }, /from: an ISO date/);
    await bad({ from: '2026-02-30T25:00:00Z' }, /an ISO date/);
    await bad({ from: '2026-02-30' }, /that exists/);
    await bad({ to: '2026-02-29T10:00:00Z' }, /that exists/);
    await bad({ from: '2026-03-01', to: '2026-02-01' }, /`from` must be before `to`/);
    await bad({ from: '2020-01-01', to: '2026-01-01' }, /at most 366 days/);
    await bad({ from: '2099-01-01' }, /must be before `to`/);
    await bad({ from: 20260101 }, /from/);
    await bad({ window: 'week' }, /window/);
    await bad({ from: '2026-01-01\u0000' }, /NUL/);
    const notJson = await call(open.base, 'POST', '/api/digests', { body: '{"from":', type: 'application/json' });
    expect(notJson.status).toBe(400);
    for (const p of ['/api/digests/abc', '/api/digests/1%20OR%201=1', '/api/digests/-1', '/api/digests/99999999999999999999']) {
      const r = await call(open.base, 'GET', p);
      expect(r.status, p).toBe(400);
    }
    expect((await call(open.base, 'GET', '/api/digests?limit=0')).status).toBe(400);
    expect((await call(open.base, 'GET', '/api/digests?before=x')).status).toBe(400);
    const missing = await call(open.base, 'GET', '/api/digests/987654');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe('digest 987654 not found');
    expect((await call(open.base, 'GET', '/api/digests/987654.md')).status).toBe(404);
  });
});

describe('podbrain digest (built CLI)', () => {
  const CLI = path.join(__dirname, '..', 'dist/cli/main.js');
  const run = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, [CLI, 'digest', ...args], { env: { ...process.env, PODBRAIN_CONFIG: '', LOG_LEVEL: 'error', EMBEDDINGS_PROVIDER: 'hash', ...env } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  beforeAll(async () => {
    await ensureBuilt();
  }, 300_000);

  it('generates, stores and prints a digest (Markdown by default, JSON on request)', async () => {
    const before = Number((await pg.query(`SELECT count(*) FROM digests`)).rows[0].count);
    const md = await run([], { DATABASE_URL: db.url, PUBLIC_URL: 'https://brain.example' });
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout.startsWith('---\n')).toBe(true);
    expect(md.stdout).toContain('## Stories across shows');
    expect(md.stdout).toContain('(https://brain.example/episodes/feed-money%3Aetf?t=754)');
    const json = await run(['--format', 'json', '--from', '2001-01-01', '--to', '2001-01-07'], { DATABASE_URL: db.url });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ from: '2001-01-01T00:00:00.000Z', to: '2001-01-08T00:00:00.000Z', trigger: 'manual', body: { episodes: [], clusters: [] } });
    expect(Number((await pg.query(`SELECT count(*) FROM digests`)).rows[0].count)).toBe(before + 2);
  }, 60_000);

  it('says clearly when Postgres is unreachable or the input is wrong', async () => {
    const down = await run([], { DATABASE_URL: 'postgres://postgres@127.0.0.1:9/podbrain' });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/^podbrain: cannot reach Postgres at postgres:\/\/127\.0\.0\.1:9\/podbrain \(DATABASE_URL\)/m);
    const bad = await run(['--from', '2026-03-01', '--to', '2026-02-01'], { DATABASE_URL: db.url });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--from: `from` must be before `to`/);
  }, 60_000);
});
