import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { parseFeed } from '../src/feeds/parse';
import { redactSecretPath } from '../src/telemetry/redact-path';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { EP_A, EP_C, EP_EVIL, EP_T2, EVIL_TITLE, F1, F2, F3, LOCAL_AUDIO, seedRefeed } from './refeed-seed';

const DB = 'podbrain_test_refeed';
const KEY = 'refeed-secret-key';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let config: Config;
let open: Awaited<ReturnType<typeof startApi>>;
let authed: Awaited<ReturnType<typeof startApi>>;

/** The path of an absolute re-feed URL (the tests call the api they started). */
const pathOf = (url: string) => new URL(url).pathname;
const tokenOf = (url: string) => /\/api\/refeed\/([^/]+)\//.exec(url)![1];

async function refeedUrl(feedId: string): Promise<string> {
  const r = await call(open.base, 'GET', `/api/feeds/${feedId}`);
  expect(r.status).toBe(200);
  return r.body.refeed_url;
}

async function getXml(url: string) {
  const res = await fetch(`${open.base}${pathOf(url)}`);
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, text: await res.text() };
}

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await seedRefeed(pg);
  config = apiConfig(db.url);
  open = await startApi(config);
  authed = await startApi({ ...config, authApiKey: KEY, authReads: 'true' });
}, 120_000);

afterAll(async () => {
  await open?.close();
  await authed?.close();
  await pg?.end();
  await db?.drop();
});

describe('re-feed: URLs', () => {
  it('GET /api/feeds/:id is the feed as the list has it plus its refeed_url (absolute, made once, stable)', async () => {
    const list = await call(open.base, 'GET', '/api/feeds');
    const r = await call(open.base, 'GET', `/api/feeds/${F1}`);
    expect(r.status).toBe(200);
    const { refeed_url, ...feed } = r.body;
    expect(feed).toEqual(list.body.items.find((f: { id: string }) => f.id === F1));
    expect(refeed_url).toMatch(new RegExp(`^${open.base}/api/refeed/[A-Za-z0-9_-]{43}/feed\\.xml$`));
    expect(await refeedUrl(F1)).toBe(refeed_url);
    expect(await refeedUrl(F2)).not.toBe(refeed_url);
    expect((await call(open.base, 'GET', `/api/feeds/${F3}`)).status).toBe(404);
    expect((await call(open.base, 'GET', '/api/feeds/nope')).status).toBe(404);
    expect((await call(open.base, 'GET', '/api/feeds/bad%20id')).status).toBe(400);
    const rows = await pg.query(`SELECT count(*)::int AS n FROM refeed_tokens WHERE feed_id = $1`, [F1]);
    expect(rows.rows[0].n).toBe(1);
  });

  it('behind Caddy terminating TLS (X-Forwarded-Proto: https) the links are https', async () => {
    const res = await fetch(`${open.base}/api/feeds/${F1}`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(((await res.json()) as { refeed_url: string }).refeed_url).toMatch(new RegExp(`^https://${new URL(open.base).host}/api/refeed/`));
  });

  it('uses PUBLIC_URL for the links when it is set', async () => {
    const other = await startApi(apiConfig(db.url, { PUBLIC_URL: 'https://pod.example.org/' }));
    try {
      const r = await call(other.base, 'GET', `/api/feeds/${F1}`);
      expect(r.body.refeed_url).toMatch(/^https:\/\/pod\.example\.org\/api\/refeed\/[A-Za-z0-9_-]{43}\/feed\.xml$/);
      const xml = await fetch(`${other.base}${pathOf(r.body.refeed_url)}`).then((x) => x.text());
      expect(xml).toContain('https://pod.example.org/episodes/');
    } finally {
      await other.close();
    }
  });
});

describe('re-feed: the feed validates with podbrain’s own parser', () => {
  it('lists the followed feed’s episodes with the original guids and enclosures, podbrain transcripts and chapters', async () => {
    const url = await refeedUrl(F1);
    const res = await getXml(url);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/rss\+xml/);
    expect(res.headers.get('cache-control')).toContain('private');
    // The same content is the same document: apps' conditional GET gets a 304.
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    // (fetch() adds `cache-control: no-cache` to a conditional request unless one is given; an app sends none.)
    const again = await fetch(`${open.base}${pathOf(url)}`, { headers: { 'if-none-match': etag!, 'cache-control': 'max-age=0' } });
    expect([again.status, again.headers.get('etag')]).toEqual([304, etag]);
    expect(res.text).toContain('xmlns:podcast="https://podcastindex.org/namespace/1.0"');
    const feed = parseFeed(res.text);
    expect(feed.warnings.filter((w) => !/unknown entity/i.test(w))).toEqual([]);
    expect(feed.title).toBe('Show One (podbrain)');
    expect(feed.image).toBe('https://cdn.example.com/show1.jpg');
    expect(feed.episodes.map((e) => e.guid)).toEqual(['guid-A', EP_EVIL]); // newest first; no guid: the episode key

    const a = feed.episodes[0];
    expect(a.title).toBe('First & best');
    expect(a.enclosure).toEqual({ url: 'https://cdn.example.com/a.mp3', type: 'audio/mpeg', length: 12345 });
    expect(a.durationS).toBe(3725);
    expect(a.published).toBe('2024-03-02T10:00:00.000Z');
    expect(a.link).toBe(`${open.base}/episodes/${EP_A}`);
    // Show notes: the publisher's HTML, then podbrain's summary and insights, escaped, with the moment's timestamp.
    expect(a.description).toContain('<p>Publisher <b>notes</b></p>');
    expect(a.contentHtml).toContain('<li>Bullet &lt;one&gt;</li>');
    expect(a.contentHtml).toContain(`<a href="${open.base}/episodes/${EP_A}?t=65">1:05</a> Insight &lt;b&gt;one&lt;/b&gt;`);
    expect(a.transcripts.map((t) => t.type)).toEqual(['text/vtt', 'application/x-subrip', 'application/json']);
    expect(a.chaptersUrl).toBe(`${open.base}/api/refeed/${tokenOf(url)}/episodes/${EP_A}/chapters.json`);

    // Every transcript and chapters URL answers with the right type and body.
    const bodies: Record<string, string> = {};
    for (const t of a.transcripts) {
      const r = await fetch(`${open.base}${pathOf(t.url)}`);
      expect(r.status, t.url).toBe(200);
      expect(r.headers.get('content-type')).toContain(t.type);
      bodies[t.type] = await r.text();
    }
    expect(bodies['text/vtt']).toBe(['WEBVTT', '', '1', '00:00:00.000 --> 00:00:01.500', 'Hello &lt;world&gt; &amp; --&gt; friends', '', '2', '01:01:01.001 --> 01:01:02.500', '<v Ada>Second line', ''].join('\n'));
    expect(bodies['application/x-subrip']).toBe(['1', '00:00:00,000 --> 00:00:01,500', 'Hello <world> & -> friends', '', '2', '01:01:01,001 --> 01:01:02,500', 'Ada: Second line', ''].join('\n'));
    expect(JSON.parse(bodies['application/json'])).toEqual({
      version: '1.0.0',
      segments: [
        { startTime: 0, endTime: 1.5, body: 'Hello <world> & --> friends' },
        { speaker: 'Ada', startTime: 3661.001, endTime: 3662.5, body: 'Second line' },
      ],
    });
    const ch = await fetch(`${open.base}${pathOf(a.chaptersUrl!)}`);
    expect(ch.status).toBe(200);
    expect(ch.headers.get('content-type')).toContain('application/json+chapters');
    expect(await ch.json()).toEqual({
      version: '1.2.0',
      chapters: [
        { startTime: 0, endTime: 60, title: 'Intro' },
        { startTime: 60, title: 'The # main [part]', img: 'https://cdn.example.com/ch.jpg', url: 'https://show.example.com/ch' },
      ],
    });
  });

  it('writes podcast:transcript and podcast:chapters as the fixture feeds do (url + type attributes)', async () => {
    const { text } = await getXml(await refeedUrl(F1));
    expect(text).toMatch(/<podcast:transcript url="[^"]+\/transcript\.vtt" type="text\/vtt" rel="captions"\/>/);
    expect(text).toMatch(/<podcast:transcript url="[^"]+\/transcript\.srt" type="application\/x-subrip" rel="captions"\/>/);
    expect(text).toMatch(/<podcast:transcript url="[^"]+\/transcript\.json" type="application\/json"\/>/);
    expect(text).toMatch(/<podcast:chapters url="[^"]+\/chapters\.json" type="application\/json\+chapters"\/>/);
    expect(text).toMatch(/<guid isPermaLink="false">guid-A<\/guid>/);
  });

  it('an episode without a transcript or chapters has neither element; hostile titles and notes stay text in a well-formed document', async () => {
    const feed = parseFeed((await getXml(await refeedUrl(F1))).text);
    const evil = feed.episodes.find((e) => e.guid === EP_EVIL)!;
    expect(evil.transcripts).toEqual([]);
    expect(evil.chaptersUrl).toBeNull();
    expect(evil.title).toBe(EVIL_TITLE.replace(/[\u0001\u001f\ufffe]/g, '').replace(/\s+/g, ' '));
    expect(evil.description).toContain('<script>alert(1)</script>'); // the publisher's HTML, as text of the XML
    expect(evil.description).toContain('</content:encoded>');
  });

  it('without an http(s) enclosure the item points at podbrain’s copy through the token, which serves it with ranges', async () => {
    const url = await refeedUrl(F1);
    const evil = parseFeed((await getXml(url)).text).episodes.find((e) => e.guid === EP_EVIL)!;
    expect(evil.enclosure).toEqual({ url: `${open.base}/api/refeed/${tokenOf(url)}/episodes/${EP_EVIL}/audio`, type: 'audio/mpeg', length: LOCAL_AUDIO.length });
    const full = await fetch(`${open.base}${pathOf(evil.enclosure!.url)}`);
    expect(full.status).toBe(200);
    expect(Buffer.from(await full.arrayBuffer())).toEqual(LOCAL_AUDIO);
    const part = await fetch(`${open.base}${pathOf(evil.enclosure!.url)}`, { headers: { range: 'bytes=3-7' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('local');
    // An episode without a local copy: the audio URL sends the app to the publisher.
    const away = await fetch(`${open.base}/api/refeed/${tokenOf(url)}/episodes/${EP_A}/audio`, { redirect: 'manual' });
    expect(away.status).toBe(302);
    expect(away.headers.get('location')).toBe('https://cdn.example.com/a.mp3');
  });

  it('the combined feed holds every followed feed’s episodes (and no one else’s), newest first', async () => {
    const r = await call(open.base, 'GET', '/api/refeed');
    expect(r.status).toBe(200);
    expect(r.body.feed_id).toBeNull();
    const feed = parseFeed((await getXml(r.body.url)).text);
    expect(feed.title).toBe('All my shows (podbrain)');
    expect(feed.episodes.map((e) => e.guid)).toEqual(['guid-C', 'guid-A', EP_EVIL]);
    expect(feed.episodes[0].title).toBe('Show Two: Two C');
    expect(feed.episodes[0].enclosure?.url).toBe('http://two.example.com/c.mp3');
  });
});

describe('re-feed: tokens are the credential', () => {
  it('an unknown, malformed or guessed token is a plain 404, the same as a revoked one', async () => {
    const guessed = await fetch(`${open.base}/api/refeed/${'A'.repeat(43)}/feed.xml`);
    expect(guessed.status).toBe(404);
    const guessedBody = await guessed.text();
    for (const t of ['x', 'A'.repeat(44), '%00', "'; DROP TABLE refeed_tokens; --"]) {
      const r = await fetch(`${open.base}/api/refeed/${encodeURIComponent(t)}/feed.xml`);
      expect(r.status, t).toBe(404);
    }
    const url = await refeedUrl(F2);
    expect((await call(open.base, 'DELETE', `/api/feeds/${F2}/refeed`)).status).toBe(204);
    const revoked = await fetch(`${open.base}${pathOf(url)}`);
    expect(revoked.status).toBe(404);
    expect(await revoked.text()).toBe(guessedBody);
    // Revoked stays off: no new URL until a rotation.
    expect((await call(open.base, 'GET', `/api/feeds/${F2}`)).body.refeed_url).toBeNull();
    const rotated = await call(open.base, 'POST', `/api/feeds/${F2}/refeed/rotate`);
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body).toMatchObject({ feed_id: F2, url: expect.stringMatching(/feed\.xml$/) });
    expect((await getXml(rotated.body.url)).status).toBe(200);
    expect(await refeedUrl(F2)).toBe(rotated.body.url);
  });

  it('rotation: the new URL works, the old one is dead at once, for every path under it', async () => {
    const old = await refeedUrl(F1);
    const r = await call(open.base, 'POST', `/api/feeds/${F1}/refeed/rotate`);
    expect(r.status).toBe(200);
    expect(r.body.url).not.toBe(old);
    expect((await getXml(old)).status).toBe(404);
    for (const rest of ['feed.xml', `episodes/${EP_A}/transcript.vtt`, `episodes/${EP_A}/chapters.json`, `episodes/${EP_A}/audio`]) {
      expect((await fetch(`${open.base}/api/refeed/${tokenOf(old)}/${rest}`, { redirect: 'manual' })).status, rest).toBe(404);
    }
    expect((await getXml(r.body.url)).status).toBe(200);
    const combined = (await call(open.base, 'GET', '/api/refeed')).body.url;
    const c2 = await call(open.base, 'POST', '/api/refeed/rotate');
    expect(c2.body.url).not.toBe(combined);
    expect((await getXml(combined)).status).toBe(404);
    expect((await call(open.base, 'DELETE', '/api/refeed')).status).toBe(204);
    expect((await getXml(c2.body.url)).status).toBe(404);
    expect((await call(open.base, 'GET', '/api/refeed')).body.url).toBeNull();
    expect((await call(open.base, 'POST', '/api/refeed/rotate')).status).toBe(200);
  });

  it("another tenant's episode, or another feed's, is 404 through my token", async () => {
    const token = tokenOf(await refeedUrl(F1));
    const combined = tokenOf((await call(open.base, 'GET', '/api/refeed')).body.url);
    for (const t of [token, combined]) {
      for (const rest of ['transcript.vtt', 'transcript.srt', 'transcript.json', 'chapters.json', 'audio']) {
        expect((await fetch(`${open.base}/api/refeed/${t}/episodes/${EP_T2}/${rest}`, { redirect: 'manual' })).status, rest).toBe(404);
      }
    }
    // EP_C is followed, but of the other feed: not through F1's token; through the combined one it is.
    expect((await fetch(`${open.base}/api/refeed/${token}/episodes/${EP_C}/audio`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${open.base}/api/refeed/${combined}/episodes/${EP_C}/audio`, { redirect: 'manual' })).status).toBe(302);
    expect((await fetch(`${open.base}/api/refeed/${token}/episodes/bad%20key/audio`)).status).toBe(400);
    // A transcript or chapters the episode does not have: 404.
    expect((await fetch(`${open.base}/api/refeed/${token}/episodes/${EP_EVIL}/transcript.vtt`)).status).toBe(404);
    expect((await fetch(`${open.base}/api/refeed/${token}/episodes/${EP_EVIL}/chapters.json`)).status).toBe(404);
  });

  it('a feed no longer followed: its token is 404; following it again brings it back', async () => {
    const url = await refeedUrl(F2);
    await pg.query(`DELETE FROM subscriptions WHERE tenant_id = 'default' AND feed_id = $1`, [F2]);
    try {
      expect((await getXml(url)).status).toBe(404);
      expect((await call(open.base, 'POST', `/api/feeds/${F2}/refeed/rotate`)).status).toBe(404);
    } finally {
      await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', $1)`, [F2]);
    }
    expect((await getXml(url)).status).toBe(200);
  });

  it('with keys and private reads: the token URLs need no header, rotation and revocation need the key', async () => {
    const url = (await call(authed.base, 'GET', `/api/feeds/${F1}`, { key: KEY })).body.refeed_url;
    expect((await call(authed.base, 'GET', `/api/feeds/${F1}`)).status).toBe(401);
    const feed = await fetch(`${authed.base}${pathOf(url)}`);
    expect(feed.status).toBe(200);
    const a = parseFeed(await feed.text()).episodes.find((e) => e.guid === 'guid-A')!;
    expect((await fetch(`${authed.base}${pathOf(a.transcripts[0].url)}`)).status).toBe(200);
    expect((await call(authed.base, 'POST', `/api/feeds/${F1}/refeed/rotate`)).status).toBe(401);
    expect((await call(authed.base, 'DELETE', `/api/feeds/${F1}/refeed`)).status).toBe(401);
    expect((await call(authed.base, 'POST', '/api/refeed/rotate')).status).toBe(401);
    expect((await call(authed.base, 'GET', '/api/refeed')).status).toBe(401);
    expect((await fetch(`${authed.base}${pathOf(url)}`)).status).toBe(200);
  });

  it("the combined token opens the digests as RSS (no header, private reads on); a single feed's token does not", async () => {
    const link = (await call(authed.base, 'GET', '/api/refeed', { key: KEY })).body;
    expect(link.digests_url).toBe(link.url.replace(/feed\.xml$/, 'digests.xml'));
    const made = await call(authed.base, 'POST', '/api/digests', { key: KEY, json: {} });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const res = await fetch(`${authed.base}${pathOf(link.digests_url)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/rss+xml');
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    const parsed = parseFeed(await res.text());
    expect(parsed.episodes.map((e) => e.link)).toContain(`${authed.base}/digests/${made.body.id}`);
    const single = (await call(authed.base, 'GET', `/api/feeds/${F1}`, { key: KEY })).body.refeed_url;
    expect((await fetch(`${authed.base}/api/refeed/${tokenOf(single)}/digests.xml`)).status).toBe(404);
    expect((await call(authed.base, 'GET', `/api/feeds/${F1}`, { key: KEY })).body.refeed_url).toBe(single);
    expect((await call(authed.base, 'GET', '/api/digests/feed.xml')).status).toBe(401);
  });

  it('the token never reaches a metrics label or a traced path', async () => {
    const url = await refeedUrl(F1);
    await fetch(`${open.base}${pathOf(url)}`);
    const m = await call(open.base, 'GET', '/metrics');
    expect(m.text).not.toContain(tokenOf(url));
    expect(m.text).toMatch(/route="\/api\/refeed\/:token\/feed\.xml"/);
    expect(redactSecretPath(`/api/refeed/${tokenOf(url)}/feed.xml`)).toBe('/api/refeed/[redacted]/feed.xml');
    expect(redactSecretPath(`/API/REFEED/${tokenOf(url)}/episodes/x/audio`)).toBe('/API/REFEED/[redacted]/episodes/x/audio');
    expect(redactSecretPath('/api/refeed/rotate')).toBe('/api/refeed/rotate');
    expect(redactSecretPath('/api/refeed')).toBe('/api/refeed');
    expect(redactSecretPath('/api/feeds/x/refeed/rotate')).toBe('/api/feeds/x/refeed/rotate');
  });
});

describe('re-feed: bounded', () => {
  it('a huge feed lists its newest 500 episodes', async () => {
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, guid, title, published_at, duration_s, enclosure, transcripts, source, state)
       SELECT 'big-' || lpad(i::text, 5, '0'), $1, 'big-guid-' || i, 'Big ' || i, timestamptz '2020-01-01' + make_interval(hours => i), 60,
              jsonb_build_object('url', 'https://big.example.com/' || i || '.mp3', 'type', 'audio/mpeg', 'length', 1), '[]', jsonb_build_object('description', repeat('x', 2000)), 'skipped'
       FROM generate_series(1, 2000) AS i`,
      [F2],
    );
    const started = Date.now();
    const res = await getXml(await refeedUrl(F2));
    const ms = Date.now() - started;
    const feed = parseFeed(res.text);
    expect(feed.episodes).toHaveLength(500);
    expect(feed.episodes.slice(0, 3).map((e) => e.guid)).toEqual(['guid-C', 'big-guid-2000', 'big-guid-1999']);
    expect(ms).toBeLessThan(10_000);
  });
});
