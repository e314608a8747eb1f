import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { EpisodeEventPublisher, eventsChannel } from '../src/repositories/episode-events.repository';
import { apiConfig, call, freshDatabase, openEvents, startApi, startPgProxy, waitFor, type Reply } from './api-support';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, status, type FixtureServer } from './support/http-fixture-server';

const DB = 'podbrain_test_e2';
const KEY = 'e2-secret-key';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let proxy: Awaited<ReturnType<typeof startPgProxy>>;
let config: Config;
let open: Awaited<ReturnType<typeof startApi>>;
let authed: Awaited<ReturnType<typeof startApi>>;
let feeds: FixtureServer;
let redis: IORedis;

async function seedFeed(id: string, title: string, subscribe = true) {
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, 3600, now() + interval '1 hour') ON CONFLICT DO NOTHING`, [id, `https://example.com/${id}.xml`, title]);
  if (subscribe) await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', $1) ON CONFLICT DO NOTHING`, [id]);
}

async function seedEpisodes(feedId: string, n: number, opts: { undated?: number; state?: string } = {}) {
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, title, published_at, duration_s, enclosure, transcripts, source, state)
     SELECT $1 || '-' || lpad(i::text, 5, '0'), $1, 'Episode ' || i,
            CASE WHEN i <= $3 THEN NULL ELSE timestamptz '2024-01-01' + make_interval(hours => i) END, 60 * i,
            jsonb_build_object('url', 'https://example.com/' || i || '.mp3', 'type', 'audio/mpeg', 'length', 1),
            '[]'::jsonb, jsonb_build_object('description', 'About episode ' || i, 'image', NULL), $4::episode_state
     FROM generate_series(1, $2) AS i`,
    [feedId, n, opts.undated ?? 0, opts.state ?? 'pending'],
  );
}

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  proxy = await startPgProxy();
  const viaProxy = db.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`);
  config = apiConfig(viaProxy);
  open = await startApi(config);
  authed = await startApi({ ...config, authApiKey: KEY });
  feeds = await startFixtureServer();
  feeds.route('/launched.xml', serveFile(fixture('feeds', 'real', 'launched.xml'), { contentType: 'application/rss+xml' }));
  feeds.route('/legacy.xml', serveFile(fixture('feeds', 'real', 'legacy.xml'), { contentType: 'application/rss+xml' }));
  feeds.route('/page.html', serveBody('<!doctype html><html><body>not a feed</body></html>', { contentType: 'text/html' }));
  feeds.route('/gone.xml', status(404));
  redis = new IORedis(config.redisUrl);
}, 120_000);

afterAll(async () => {
  await open?.close();
  await authed?.close();
  await feeds?.close();
  const keys = await redis?.keys(`${config.queue.prefix}:*`);
  if (keys?.length) await redis.del(...keys);
  redis?.disconnect();
  await proxy?.close();
  await pg?.end();
  await db?.drop();
});

describe('api: documents and health', () => {
  it('serves the OpenAPI document at /api/docs with every route family', async () => {
    const json = await call(open.base, 'GET', '/api/docs/json');
    expect(json.status).toBe(200);
    const paths = Object.keys(json.body.paths);
    for (const p of ['/api/feeds', '/api/feeds/import', '/api/feeds/export', '/api/subscriptions', '/api/episodes', '/api/episodes/{key}/transcript', '/api/search', '/api/jobs/{id}', '/api/admin/queues', '/api/admin/jobs', '/api/events', '/api/health']) {
      expect(paths, p).toContain(p);
    }
    expect(json.body.components.securitySchemes.bearer).toBeTruthy();
    expect(json.body.paths['/api/episodes'].get.responses['200'].content['application/json'].schema.properties.next_cursor).toBeTruthy();
    expect(json.body.paths['/api/feeds'].post.responses['422']).toBeTruthy();
    const html = await call(open.base, 'GET', '/api/docs');
    expect(html.status).toBe(200);
    expect(html.text).toContain('swagger');
  });

  it('serves /healthz and /metrics on the API port, and the aggregate /api/health', async () => {
    const h = await call(open.base, 'GET', '/healthz');
    expect(h.status).toBe(200);
    expect(h.body.role).toBe('api');
    expect(h.body.checks.postgres.status).toBe('healthy');
    await call(open.base, 'GET', '/api/episodes?limit=1');
    const m = await call(open.base, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/podbrain_api_request_duration_seconds_count\{[^}]*route="\/api\/episodes"/);
    const agg = await call(open.base, 'GET', '/api/health');
    expect(agg.status).toBe(200);
    expect(agg.body.roles.api.status).toMatch(/healthy|degraded/);
  });

  it('aggregates other roles listed in API_HEALTH_TARGETS; an unreachable one is unhealthy', async () => {
    const other = await startApi({ ...config, apiHealthTargets: `scheduler=${open.base}/healthz,worker-io=http://127.0.0.1:1/healthz` });
    try {
      const agg = await call(other.base, 'GET', '/api/health');
      expect(agg.body.roles.scheduler.status).toMatch(/healthy|degraded/);
      expect(agg.body.roles['worker-io'].status).toBe('unhealthy');
      expect(agg.body.status).toBe('unhealthy');
    } finally {
      await other.close();
    }
  });

  it('answers unknown routes and malformed bodies with the JSON error shape', async () => {
    const nf = await call(open.base, 'GET', '/api/nope');
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe('not_found');
    const bad = await fetch(`${open.base}/api/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"url": ' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
    // curl -d without -H: a form body. Said plainly, with the header to add.
    const form = await fetch(`${open.base}/api/feeds`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"url":"https://example.com/feed.xml"}' });
    expect(form.status).toBe(415);
    const body = (await form.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unsupported_media_type');
    expect(body.error.message).toContain('Content-Type: application/json');
  });
});

describe('api: feeds, subscriptions, OPML', () => {
  let feedId: string;

  it('adds a feed by URL: checked (its first bytes), subscribed, a poll job enqueued (202: worker-io reads and parses it)', async () => {
    const r = await call(open.base, 'POST', '/api/feeds', { json: { url: feeds.url('/launched.xml') } });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ url: feeds.url('/launched.xml'), title: 'Launched', error_count: 0 });
    feedId = r.body.id;
    const list = await call(open.base, 'GET', '/api/feeds');
    expect(list.body.items.map((f: { id: string }) => f.id)).toContain(feedId);
    const job = await call(open.base, 'GET', `/api/jobs/poll.${feedId}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ queue: 'ingest', name: 'poll-feed' });
    const again = await call(open.base, 'POST', '/api/feeds', { json: { url: feeds.url('/launched.xml') } });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(feedId);
  });

  it('refuses bad input with 4xx and the reason', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{}, 400, /url/],
      [{ url: 'not a url' }, 400, /http\(s\) URL/],
      [{ url: '/etc/passwd' }, 400, /http\(s\) URL/],
      [{ url: feeds.url('/launched.xml'), extra: 1 }, 400, /extra/],
      [{ url: feeds.url('/gone.xml') }, 422, /404/],
      [{ url: feeds.url('/page.html') }, 422, /HTML|html/],
    ];
    for (const [json, code, msg] of cases) {
      const r = await call(open.base, 'POST', '/api/feeds', { json });
      expect(r.status, JSON.stringify(json)).toBe(code);
      expect(r.body.error.message, JSON.stringify(json)).toMatch(msg);
      expect(typeof r.body.error.code).toBe('string');
    }
  });

  it('refuses private addresses when ALLOW_PRIVATE_NETWORK is off (SSRF guard)', async () => {
    const strict = await startApi({ ...config, net: { ...config.net, allowPrivateNetwork: false } });
    try {
      const r = await call(strict.base, 'POST', '/api/feeds', { json: { url: feeds.url('/legacy.xml') } });
      expect(r.status).toBe(422);
      expect(r.body.error.message).toMatch(/private|not allowed|refused|loopback/i);
    } finally {
      await strict.close();
    }
  });

  it('refreshes (poll job id) and 404s unknown feeds', async () => {
    const r = await call(open.base, 'POST', `/api/feeds/${feedId}/refresh`);
    expect(r.status).toBe(202);
    expect(r.body.job_id).toBe(`poll.${feedId}`);
    expect((await call(open.base, 'POST', '/api/feeds/feed-unknown/refresh')).status).toBe(404);
  });

  it('exports and imports OPML', async () => {
    const exp = await call(open.base, 'GET', '/api/feeds/export');
    expect(exp.status).toBe(200);
    expect(exp.headers.get('content-type')).toContain('opml');
    expect(exp.text).toContain(`xmlUrl="${feeds.url('/launched.xml')}"`);
    const opml = `<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
      <outline type="rss" text="Legacy" xmlUrl="${feeds.url('/legacy.xml')}"/>
      <outline type="rss" text="Launched" xmlUrl="${feeds.url('/launched.xml')}"/>
      <outline type="rss" text="Gone" xmlUrl="${feeds.url('/gone.xml')}"/></body></opml>`;
    const imp = await call(open.base, 'POST', '/api/feeds/import', { body: opml });
    expect(imp.status).toBe(200);
    expect(imp.body.added).toBe(1);
    expect(imp.body.skipped).toBe(1);
    expect(imp.body.errors).toHaveLength(1);
    expect(imp.body.errors[0]).toContain('/gone.xml');
    const broken = await call(open.base, 'POST', '/api/feeds/import', { body: '<opml><body>' });
    expect(broken.status).toBe(400);
    const noBody = await call(open.base, 'POST', '/api/feeds/import', { json: { x: 1 } });
    expect(noBody.status).toBe(415);
  });

  it('subscriptions: list, subscribe to a catalog feed, unsubscribe; DELETE feed', async () => {
    await seedFeed('catalogfeed', 'Catalog only', false);
    expect((await call(open.base, 'GET', '/api/subscriptions')).body.items.map((f: { id: string }) => f.id)).not.toContain('catalogfeed');
    const sub = await call(open.base, 'POST', '/api/subscriptions', { json: { feed_id: 'catalogfeed' } });
    expect(sub.status).toBe(201);
    expect(sub.body.id).toBe('catalogfeed');
    expect((await call(open.base, 'POST', '/api/subscriptions', { json: { feed_id: 'nosuchfeed' } })).status).toBe(404);
    expect((await call(open.base, 'DELETE', '/api/subscriptions/catalogfeed')).status).toBe(204);
    const del = await call(open.base, 'DELETE', `/api/feeds/${feedId}`);
    expect(del.status).toBe(204);
    expect((await call(open.base, 'GET', '/api/feeds')).body.items.map((f: { id: string }) => f.id)).not.toContain(feedId);
    expect((await call(open.base, 'DELETE', `/api/feeds/${feedId}`)).status).toBe(404);
  });
});

describe('api: episodes', () => {
  beforeAll(async () => {
    await seedFeed('feeda', 'Feed A');
    await seedFeed('feedb', 'Feed B');
    await seedFeed('hidden', 'Not subscribed', false);
    await seedEpisodes('feeda', 120, { undated: 5 });
    await seedEpisodes('feedb', 10, { state: 'done' });
    await seedEpisodes('hidden', 3);
  });

  it.each([
    [50, 3],
    [7, 18],
  ])('pages through every subscribed episode with the cursor (limit %i), newest first, undated last', async (limit, expectedPages) => {
    const seen: { episode_key: string; published_at: string | null }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: Reply<{ items: typeof seen; next_cursor: string | null }> = await call(open.base, 'GET', `/api/episodes?limit=${limit}&feed_id=feeda${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.items);
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(expectedPages);
    expect(seen).toHaveLength(120);
    expect(new Set(seen.map((e) => e.episode_key)).size).toBe(120);
    const dated = seen.filter((e) => e.published_at);
    expect(dated.map((e) => e.published_at)).toEqual([...dated.map((e) => e.published_at)].sort().reverse());
    expect(seen.slice(-5).every((e) => e.published_at === null)).toBe(true);
  });

  it('filters by state and hides episodes of feeds the caller does not follow', async () => {
    const done = await call(open.base, 'GET', '/api/episodes?state=done&limit=200');
    expect(done.body.items).toHaveLength(10);
    expect(done.body.items.every((e: { state: string; feed_title: string }) => e.state === 'done' && e.feed_title === 'Feed B')).toBe(true);
    const all = await call(open.base, 'GET', '/api/episodes?limit=200');
    expect(all.body.items.some((e: { feed_id: string }) => e.feed_id === 'hidden')).toBe(false);
    expect((await call(open.base, 'GET', '/api/episodes/hidden-00001')).status).toBe(404);
  });

  it('rejects bad list parameters with 400 JSON', async () => {
    for (const q of ['limit=0', 'limit=abc', 'limit=5000', 'state=bogus', 'cursor=zzz']) {
      const r = await call(open.base, 'GET', `/api/episodes?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toMatch(/invalid_/);
    }
  });

  it('returns the detail, and 404 for sub-resources until their stage ran', async () => {
    const d = await call(open.base, 'GET', '/api/episodes/feeda-00042');
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ episode_key: 'feeda-00042', feed_title: 'Feed A', description: 'About episode 42', enclosure_url: 'https://example.com/42.mp3', duration_s: 2520 });
    for (const sub of ['transcript', 'summary', 'insights', 'graph']) {
      const r = await call(open.base, 'GET', `/api/episodes/feeda-00042/${sub}`);
      expect(r.status, sub).toBe(404);
      expect(r.body.error.message, sub).toMatch(/yet/);
    }
    expect((await call(open.base, 'GET', '/api/episodes/no-such-episode')).status).toBe(404);
    expect((await call(open.base, 'GET', '/api/episodes/bad%20key')).status).toBe(400);
  });

  it('streams the downloaded audio (with ranges) once the ingest stage has it; audio_url points there', async () => {
    const k = 'feedb-00007';
    expect((await call(open.base, 'GET', `/api/episodes/${k}`)).body.audio_url).toBe('https://example.com/7.mp3');
    // no local copy yet: the route sends the player to the enclosure from the feed
    const away = await fetch(`${open.base}/api/episodes/${k}/audio`, { redirect: 'manual' });
    expect(away.status).toBe(302);
    expect(away.headers.get('location')).toBe('https://example.com/7.mp3');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'e2-ingest-'));
    writeFileSync(path.join(dir, 'audio.mp3'), Buffer.from('ID3fakeaudio0123456789'));
    writeFileSync(path.join(dir, 'ingest.json'), JSON.stringify({ schema_version: 1, episode_key: k, audio_file: 'audio.mp3', content_type: 'audio/mpeg' }));
    await pg.query(`INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, finished_at, artifact_path) VALUES ($1, 'ingest', 'fp', 'done', 1, now(), $2)`, [k, dir]);
    expect((await call(open.base, 'GET', `/api/episodes/${k}`)).body.audio_url).toBe(`/api/episodes/${k}/audio`);
    const full = await fetch(`${open.base}/api/episodes/${k}/audio`);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toContain('audio/mpeg');
    expect(Buffer.from(await full.arrayBuffer()).toString()).toBe('ID3fakeaudio0123456789');
    const part = await fetch(`${open.base}/api/episodes/${k}/audio`, { headers: { range: 'bytes=3-6' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('fake');
  });

  it('serves transcript, summary, insights and graphs from the projections', async () => {
    const k = 'feedb-00001';
    await pg.query(`INSERT INTO transcript_segments (episode_key, fingerprint, idx, start_ms, end_ms, speaker, text) VALUES ($1,'fp',0,0,1500,NULL,'Hello world'),($1,'fp',1,1500,3000,'A','Second line')`, [k]);
    await pg.query(`INSERT INTO summaries (episode_key, fingerprint, title, bullets, key_quotes, status) VALUES ($1,'fp','A title','["one","two"]','[{"text":"quoted"}]','valid')`, [k]);
    await pg.query(`INSERT INTO insights (episode_key, id, fingerprint, text, insight_type, confidence) VALUES ($1,'i1','fp','Insight one','claim',0.9),($1,'i2','fp','Insight two','question',0.4)`, [k]);
    await pg.query(`INSERT INTO quotes (episode_key, id, fingerprint, text, start_ms, end_ms) VALUES ($1,'q1','fp','quoted',0,1500)`, [k]);
    await pg.query(`INSERT INTO insight_support (episode_key, insight_id, quote_id) VALUES ($1,'i1','q1')`, [k]);
    await pg.query(`INSERT INTO kg_nodes (id, kind, label, props) VALUES ('person:ada','Person','Ada','{}'),('topic:math','Topic','Math','{}') ON CONFLICT DO NOTHING`);
    await pg.query(`INSERT INTO kg_edges (episode_key, fingerprint, source_id, target_id, kind, props) VALUES ($1,'fp','person:ada','topic:math','MENTIONS','{}')`, [k]);

    const t = await call(open.base, 'GET', `/api/episodes/${k}/transcript`);
    expect(t.status).toBe(200);
    expect(t.body.segments).toEqual([
      { start_ms: 0, end_ms: 1500, text: 'Hello world', speaker: null },
      { start_ms: 1500, end_ms: 3000, text: 'Second line', speaker: 'A' },
    ]);
    const s = await call(open.base, 'GET', `/api/episodes/${k}/summary`);
    expect(s.body).toMatchObject({ title: 'A title', bullets: ['one', 'two'], key_quotes: ['quoted'], status: 'valid' });
    const i = await call(open.base, 'GET', `/api/episodes/${k}/insights`);
    expect(i.body.insights.map((x: { id: string; grounded: boolean }) => [x.id, x.grounded])).toEqual([
      ['i1', true],
      ['i2', false],
    ]);
    expect(i.body.insights[0].quotes[0]).toMatchObject({ id: 'q1', text: 'quoted', start_ms: 0, end_ms: 1500 });
    const g = await call(open.base, 'GET', `/api/episodes/${k}/graph`);
    expect(g.body.edges).toEqual([{ source: 'person:ada', target: 'topic:math', type: 'MENTIONS' }]);
    expect(g.body.nodes.map((n: { label: string }) => n.label).sort()).toEqual(['Ada', 'Math']);
    const corpus = await call(open.base, 'GET', '/api/graph');
    expect(corpus.body.nodes.find((n: { id: string }) => n.id === 'person:ada').episodes).toEqual([{ episode_key: k, title: 'Episode 1' }]);
  });
});

describe('api: search', () => {
  beforeAll(async () => {
    await pg.query(
      `INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms) VALUES
        ('feedb-00002','fp',0,'The quantum computer uses superconducting qubits at low temperature',0,30000),
        ('feedb-00002','fp',1,'Cooking pasta needs salted boiling water',30000,60000),
        ('feedb-00003','fp',0,'Qubits decohere quickly; error correction for quantum machines',0,20000),
        ('hidden-00001','fp',0,'A hidden quantum episode nobody here follows',0,10000)`,
    );
  });

  it('finds chunks by full-text, restricted to the subscribed feeds, with snippets', async () => {
    const r = await call(open.base, 'GET', '/api/search?q=quantum%20qubits&k=5');
    expect(r.status).toBe(200);
    const keys = r.body.hits.map((h: { episode_key: string }) => h.episode_key);
    expect(keys).toContain('feedb-00002');
    expect(keys).toContain('feedb-00003');
    expect(keys).not.toContain('hidden-00001');
    expect(r.body.hits[0]).toMatchObject({ feed_id: 'feedb', feed_title: 'Feed B', chunk_id: expect.stringContaining('#') });
    expect(r.body.hits[0].snippet.length).toBeGreaterThan(0);
    expect(r.body.hits.every((h: { why: string; relevance: number }) => h.why.startsWith('matched: ') && h.relevance > 0 && h.relevance <= 1)).toBe(true);
  });

  it('keeps what Postgres full text matched by its own stemming, and finds nothing for nonsense', async () => {
    // english stemming: "correcting" matches "correction", which search's own light stemmer does not see.
    const r = await call(open.base, 'GET', '/api/search?q=correcting&k=5');
    expect(r.body.hits.map((h: { episode_key: string }) => h.episode_key)).toEqual(['feedb-00003']);
    expect(r.body.hits[0]).toMatchObject({ why: 'matched: correcting', matched_terms: ['correcting'], relevance: 1 });
    for (const q of ['xqzv blorf', 'asdf qwerty']) expect((await call(open.base, 'GET', `/api/search?q=${encodeURIComponent(q)}`)).body.hits, q).toEqual([]);
  });

  it('validates q and k', async () => {
    for (const q of ['', '?q=', '?q=%20%20', '?q=x&k=0', '?q=x&k=1000', `?q=${'a'.repeat(1001)}`]) {
      const r = await call(open.base, 'GET', `/api/search${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
  });
});

describe('api: auth', () => {
  it('without AUTH_API_KEY every route is open', async () => {
    expect((await call(open.base, 'GET', '/api/admin/queues')).status).toBe(200);
  });

  it('with AUTH_API_KEY: reads stay open; writes and admin need the Bearer key', async () => {
    await seedFeed('feeda', 'Feed A');
    expect((await call(authed.base, 'GET', '/api/episodes?limit=1')).status).toBe(200);
    expect((await call(authed.base, 'GET', '/api/feeds')).status).toBe(200);
    const cases: [string, string, object?][] = [
      ['POST', '/api/feeds', { json: { url: feeds.url('/legacy.xml') } }],
      ['DELETE', '/api/feeds/feeda'],
      ['POST', '/api/feeds/feeda/refresh'],
      ['POST', '/api/subscriptions', { json: { feed_id: 'feeda' } }],
      ['GET', '/api/admin/queues'],
      ['GET', '/api/admin/jobs'],
      ['POST', '/api/admin/queues/ingest/pause'],
    ];
    for (const [method, p, opts] of cases) {
      const none = await call(authed.base, method, p, opts ?? {});
      expect(none.status, `${method} ${p}`).toBe(401);
      expect(none.body.error.code).toBe('unauthorized');
      const wrong = await call(authed.base, method, p, { ...(opts ?? {}), key: 'wrong' });
      expect(wrong.status, `${method} ${p} wrong key`).toBe(401);
    }
    expect((await call(authed.base, 'GET', '/api/admin/queues', { key: KEY })).status).toBe(200);
    expect((await call(authed.base, 'POST', '/api/feeds/feeda/refresh', { key: KEY })).status).toBe(202);
    expect((await call(authed.base, 'POST', '/api/feeds', { json: { url: 'nope' }, key: KEY })).status).toBe(400);
  });
});

describe('api: tenants (per-tenant keys)', () => {
  it('a tenant key selects its tenant: its own subscriptions, episodes and search; never admin', async () => {
    await seedFeed('feeda', 'Feed A');
    await seedFeed('feedt', 'Tenant feed', false);
    await seedEpisodes('feedt', 4, { state: 'done' });
    await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second') ON CONFLICT DO NOTHING`);
    const hash = (k: string) => createHash('sha256').update(k).digest('hex');
    await pg.query(`INSERT INTO api_keys (tenant_id, name, key_hash) VALUES ('t2', 'live', $1), ('t2', 'old', $2)`, [hash('t2-key'), hash('t2-revoked')]);
    await pg.query(`UPDATE api_keys SET revoked_at = now() WHERE name = 'old'`);

    expect((await call(authed.base, 'GET', '/api/feeds', { key: 't2-key' })).body.items).toEqual([]);
    const sub = await call(authed.base, 'POST', '/api/subscriptions', { json: { feed_id: 'feedt' }, key: 't2-key' });
    expect(sub.status).toBe(201);
    expect((await call(authed.base, 'GET', '/api/feeds', { key: 't2-key' })).body.items.map((f: { id: string }) => f.id)).toEqual(['feedt']);
    const eps = await call(authed.base, 'GET', '/api/episodes?limit=100', { key: 't2-key' });
    expect(eps.body.items).toHaveLength(4);
    expect(eps.body.items.every((e: { feed_id: string }) => e.feed_id === 'feedt')).toBe(true);
    expect((await call(authed.base, 'GET', '/api/episodes/feeda-00001', { key: 't2-key' })).status).toBe(404);
    // The default tenant (no key on reads) does not see the tenant's feed.
    expect((await call(authed.base, 'GET', '/api/feeds')).body.items.map((f: { id: string }) => f.id)).not.toContain('feedt');

    expect((await call(authed.base, 'GET', '/api/admin/queues', { key: 't2-key' })).status).toBe(403);
    expect((await call(authed.base, 'POST', '/api/subscriptions', { json: { feed_id: 'feeda' }, key: 't2-revoked' })).status).toBe(401);
  });
});

describe('api: admin queues and jobs', () => {
  it('lists every queue with depth; pause and resume', async () => {
    const q = await call(open.base, 'GET', '/api/admin/queues');
    expect(q.body.queues.map((x: { name: string }) => x.name)).toEqual(['ingest', 'transcribe', 'enrich', 'index', 'project', 'digest']);
    expect((await call(open.base, 'POST', '/api/admin/queues/enrich/pause')).status).toBe(204);
    expect((await call(open.base, 'GET', '/api/admin/queues')).body.queues.find((x: { name: string }) => x.name === 'enrich').paused).toBe(true);
    expect((await call(open.base, 'POST', '/api/admin/queues/enrich/resume')).status).toBe(204);
    expect((await call(open.base, 'GET', '/api/admin/queues')).body.queues.find((x: { name: string }) => x.name === 'enrich').paused).toBe(false);
    expect((await call(open.base, 'POST', '/api/admin/queues/bogus/pause')).status).toBe(404);
  });

  it('admin/deploy, admin/config (never a secret) and admin/workers', async () => {
    const dep = await call(open.base, 'GET', '/api/admin/deploy');
    expect(dep.body).toMatchObject({ version: expect.any(String), git_sha: expect.any(String), node: process.version });
    const withSecret = await startApi({ ...config, authApiKey: 'super-secret-api-key', openai: { ...config.openai, apiKey: 'sk-very-secret' } });
    try {
      const cfg = await call(withSecret.base, 'GET', '/api/admin/config', { key: 'super-secret-api-key' });
      expect(cfg.status).toBe(200);
      expect(cfg.body.queues.transcribe.concurrency).toBe(1);
      expect(cfg.body.openai.api_key_set).toBe(true);
      expect(cfg.text).not.toContain('sk-very-secret');
      expect(cfg.text).not.toContain('super-secret-api-key');
    } finally {
      await withSecret.close();
    }
    const connection = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker('project', async () => undefined, { connection, prefix: config.queue.prefix, name: 'e2-test-worker' });
    try {
      await worker.waitUntilReady();
      const w = await waitFor(async () => {
        const r = await call(open.base, 'GET', '/api/admin/workers');
        const project = r.body.queues.find((q: { queue: string }) => q.queue === 'project');
        return project.workers.length ? project.workers : null;
      });
      expect(w[0].name).toContain('e2-test-worker');
    } finally {
      await worker.close();
      connection.disconnect();
    }
  });

  it('lists failed jobs, retries one and cancels a waiting one', async () => {
    const connection = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue('digest', { connection, prefix: config.queue.prefix });
    const worker = new Worker('digest', async () => { throw new Error('boom for the test'); }, { connection, prefix: config.queue.prefix });
    try {
      await queue.add('digest', { episodeKey: 'feedb-00004' }, { jobId: 'digest.failing', attempts: 1 });
      const failed = await waitFor(async () => {
        const r = await call(open.base, 'GET', '/api/admin/jobs?state=failed&queue=digest');
        return r.body.items.length ? r.body.items : null;
      });
      expect(failed[0]).toMatchObject({ id: 'digest.failing', queue: 'digest', episode_key: 'feedb-00004', failed_reason: 'boom for the test', attempts: 1 });
      await worker.close();
      const retry = await call(open.base, 'POST', '/api/admin/jobs/digest/digest.failing/retry');
      expect(retry.status).toBe(202);
      expect((await call(open.base, 'GET', '/api/jobs/digest.failing')).body.state).toBe('waiting');
      expect((await call(open.base, 'POST', '/api/admin/jobs/digest/digest.failing/retry')).status).toBe(409);
      expect((await call(open.base, 'POST', '/api/admin/jobs/digest/digest.failing/cancel')).status).toBe(204);
      expect((await call(open.base, 'GET', '/api/jobs/digest.failing')).status).toBe(404);
      expect((await call(open.base, 'GET', '/api/admin/jobs?state=nonsense')).status).toBe(400);
      expect((await call(open.base, 'GET', '/api/admin/jobs?state=stuck')).status).toBe(200);
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
    }
  });
});

describe('api: SSE events', () => {
  it('every api process relays events another process publishes on Redis', async () => {
    const a = await openEvents(`${open.base}/api/events`);
    const b = await openEvents(`${authed.base}/api/events`);
    try {
      const publisherConn = new IORedis(config.redisUrl);
      const publisher = new EpisodeEventPublisher(publisherConn, eventsChannel(config));
      // The subscription is asynchronous: publish until both clients heard one.
      // Both api processes' subscriptions are up before publishing (they subscribe in the background).
      await waitFor(async () => Number((await redis.pubsub('NUMSUB', eventsChannel(config)))[1]) >= 2, 30_000).catch(async (e: Error) => {
        throw new Error(`${e.message}: subscribers of ${eventsChannel(config)}: ${JSON.stringify(await redis.pubsub('NUMSUB', eventsChannel(config)))}; subscribed clients:\n${String(await redis.client('LIST')).split('\n').filter((l) => / sub=[1-9]/.test(l)).join('\n')}`);
      });
      const match = (e: { event: string; data: { episode_key?: string } }) => e.event === 'episode' && e.data.episode_key === 'feedb-00005';
      const got = Promise.allSettled([a.next(match, 15_000), b.next(match, 15_000)]);
      const timer = setInterval(() => void publisher.publish({ episode_key: 'feedb-00005', feed_id: 'feedb', state: 'failed', stage: 'transcribe', error: 'model missing' }), 200);
      const settled = await got.finally(() => clearInterval(timer));
      const numsub = await redis.pubsub('NUMSUB', eventsChannel(config));
      expect(settled.map((r) => r.status), `open api heard ${a.events.length} event(s), authed api ${b.events.length}; subscribers ${JSON.stringify(numsub)}`).toEqual(['fulfilled', 'fulfilled']);
      const [ea, eb] = settled.map((r) => (r as PromiseFulfilledResult<{ event: string; data: Record<string, unknown> }>).value);
      publisherConn.disconnect();
      expect(ea.data).toMatchObject({ episode_key: 'feedb-00005', feed_id: 'feedb', state: 'failed', stage: 'transcribe', reason: 'model missing' });
      expect(eb.data.episode_key).toBe('feedb-00005');
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('api: Postgres unreachable', () => {
  it('answers 503 on reads while Postgres is unreachable and recovers by itself', async () => {
    expect((await call(open.base, 'GET', '/api/episodes?limit=5')).status).toBe(200);
    await proxy.cut();
    try {
      for (const p of ['/api/episodes?limit=5', '/api/feeds', '/api/episodes/feeda-00001', '/api/search?q=quantum']) {
        const r = await call(open.base, 'GET', p);
        expect(r.status, p).toBe(503);
        expect(r.body.error.code).toBe('database_unavailable');
      }
      expect((await call(open.base, 'GET', '/healthz')).status).toBe(503);
    } finally {
      await proxy.restore();
    }
    const back = await waitFor(async () => {
      const r = await call(open.base, 'GET', '/api/episodes?limit=5');
      return r.status === 200 ? r : null;
    }, 15_000, 200);
    expect(back.body.items).toHaveLength(5);
  });
});

describe('api: Redis unreachable', () => {
  it('starts and serves reads; queue routes answer 503 instead of hanging or 500', async () => {
    const noRedis = await startApi({ ...config, redisUrl: 'redis://127.0.0.1:1' });
    try {
      expect((await call(noRedis.base, 'GET', '/api/episodes?limit=2')).status).toBe(200);
      const t0 = Date.now();
      const q = await call(noRedis.base, 'GET', '/api/admin/queues');
      expect(q.status).toBe(503);
      expect(q.body.error.code).toBe('redis_unavailable');
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await noRedis.close();
    }
  });
});
