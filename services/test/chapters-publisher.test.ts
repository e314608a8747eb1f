import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchPublisherChapters, parsePodcastChapters } from '../src/chapters/publisher';
import { toPodcastChaptersJson } from '../src/chapters/podcast-json';
import { loadConfig } from '../src/config/config';
import { parseFeed } from '../src/feeds/parse';
import { fixture } from './support/fixtures';
import { hugeBody, serveBody, startFixtureServer, status, redirect, type FixtureServer } from './support/http-fixture-server';

/** A Podcasting 2.0 chapters document as publishers serve them (shape of the PC20 feed's chapters). */
const PC20_CHAPTERS = {
  version: '1.2.0',
  chapters: [
    { startTime: 0, title: 'Intro', img: 'https://example.com/art/intro.jpg' },
    { startTime: 95.5, title: '  Boostagrams \n and   value  ', url: 'https://podcastindex.org/apps' },
    { startTime: 60, title: 'Sponsor-free zone' },
    { startTime: 120, title: 'Artwork only', toc: false, img: 'https://example.com/art/x.jpg' },
    { startTime: 1800, endTime: 2400, title: 'Namespace news', url: 'javascript:alert(1)', img: 'file:///etc/passwd' },
    { startTime: -5, title: 'negative' },
    { startTime: 'soon', title: 'wrong type' },
    { startTime: Infinity, title: 'not finite' },
    { title: 'no start' },
    null,
    'a string',
    { startTime: 2700, title: 42 },
  ],
};

describe('publisher chapters: parsing (Podcasting 2.0 JSON, lenient)', () => {
  it('sorts by start, drops invalid and toc:false entries, trims titles, keeps only http(s) links', () => {
    const r = parsePodcastChapters(JSON.parse(JSON.stringify(PC20_CHAPTERS)));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.chapters).toEqual([
      { start_ms: 0, end_ms: 60_000, title: 'Intro', url: null, image: 'https://example.com/art/intro.jpg' },
      { start_ms: 60_000, end_ms: 95_500, title: 'Sponsor-free zone', url: null, image: null },
      { start_ms: 95_500, end_ms: 1_800_000, title: 'Boostagrams and value', url: 'https://podcastindex.org/apps', image: null },
      { start_ms: 1_800_000, end_ms: 2_400_000, title: 'Namespace news', url: null, image: null },
      { start_ms: 2_700_000, end_ms: null, title: 'Chapter 5', url: null, image: null },
    ]);
  });

  it('bounds titles and the number of chapters', () => {
    const many = { chapters: Array.from({ length: 5000 }, (_, i) => ({ startTime: i, title: 'x'.repeat(10_000) })) };
    const r = parsePodcastChapters(many);
    expect(r.ok && r.chapters.length).toBe(500);
    expect(r.ok && r.chapters[0].title.length).toBeLessThanOrEqual(120);
  });

  it('says why a document has nothing usable', () => {
    expect(parsePodcastChapters(null)).toMatchObject({ ok: false, problem: /not a JSON object/ });
    expect(parsePodcastChapters([1, 2])).toMatchObject({ ok: false, problem: /not a JSON object/ });
    expect(parsePodcastChapters({ version: '1.2.0', chapters: 'nope' })).toMatchObject({ ok: false, problem: /no "chapters" array/ });
    expect(parsePodcastChapters({ chapters: [{ startTime: -1 }, { toc: false, startTime: 3 }] })).toMatchObject({ ok: false, problem: /no chapter with a valid startTime/ });
  });

  it('round-trips through toPodcastChaptersJson (what the re-feed serves)', () => {
    const r = parsePodcastChapters(PC20_CHAPTERS);
    if (!r.ok) throw new Error(r.problem);
    const doc = toPodcastChaptersJson(r.chapters.map((c) => ({ ...c, source: 'publisher' as const })));
    expect(doc.version).toBe('1.2.0');
    expect(doc.chapters[2]).toEqual({ startTime: 95.5, endTime: 1800, title: 'Boostagrams and value', url: 'https://podcastindex.org/apps' });
    const again = parsePodcastChapters(JSON.parse(JSON.stringify(doc)));
    expect(again.ok && again.chapters).toEqual(r.chapters);
  });
});

describe('publisher chapters: fetching through the guarded client', () => {
  let srv: FixtureServer;
  const open = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', CHAPTERS_MAX_BYTES: '4096' } });
  const guarded = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'false' } });
  const opts = (config = open) => ({ maxBytes: config.chapters.maxBytes });

  beforeAll(async () => {
    srv = await startFixtureServer();
    srv.route('/ok.json', serveBody(JSON.stringify(PC20_CHAPTERS), { contentType: 'application/json+chapters' }));
    srv.route('/moved.json', redirect('/ok.json'));
    srv.route('/huge.json', hugeBody(10 * 1024 * 1024, { announceLength: false, pattern: '{"chapters":[' }));
    srv.route('/announced.json', hugeBody(10 * 1024 * 1024, { announceLength: true }));
    srv.route('/broken.json', serveBody('{"version":"1.2.0","chapters":[{"startTime":0,', { contentType: 'application/json' }));
    srv.route('/html.json', serveBody('<html>Not here</html>', { contentType: 'text/html' }));
    srv.route('/gone.json', status(410));
    srv.route('/empty.json', serveBody(JSON.stringify({ version: '1.2.0', chapters: [] })));
  });
  afterAll(async () => {
    await srv.close();
  });

  it('fetches and reads the fixture feed\'s podcast:chapters URL (redirects followed)', async () => {
    const feed = parseFeed(fs.readFileSync(fixture('feeds', 'edge', 'episode_podcast_chapters.rss'), 'utf8').replace('https://example.com/1/chapters.json', srv.url('/moved.json')));
    const url = feed.episodes[0].chaptersUrl!;
    expect(url).toBe(srv.url('/moved.json'));
    const r = await fetchPublisherChapters(open, url, opts());
    expect(r.ok && r.chapters.map((c) => c.title)).toEqual(['Intro', 'Sponsor-free zone', 'Boostagrams and value', 'Namespace news', 'Chapter 5']);
    expect(srv.requests.find((q) => q.path === '/ok.json')?.headers.accept).toMatch(/application\/json\+chapters/);
  });

  it("the real Podcasting 2.0 feed's items (pc20rss.xml): each podcast:chapters URL, served here, is fetched and read", async () => {
    const xml = fs.readFileSync(fixture('feeds', 'real', 'pc20rss.xml'), 'utf8').split('http://34.117.70.159/').join(srv.url('/pc20/'));
    const items = parseFeed(xml).episodes.slice(0, 3);
    expect(items.every((e) => e.chaptersUrl?.startsWith(srv.url('/pc20/')))).toBe(true);
    for (const e of items) srv.route(new URL(e.chaptersUrl!).pathname, serveBody(JSON.stringify(PC20_CHAPTERS), { contentType: 'application/json+chapters' }));
    for (const e of items) expect((await fetchPublisherChapters(open, e.chaptersUrl!, opts())).ok).toBe(true);
  });

  it.each([
    ['/huge.json', /larger than the limit of 4096 bytes/],
    ['/announced.json', /Content-Length announces/],
    ['/broken.json', /not JSON/],
    ['/html.json', /not JSON/],
    ['/gone.json', /HTTP 410/],
    ['/empty.json', /no chapter with a valid startTime/],
    ['/missing.json', /HTTP 404/],
  ])('%s: no chapters, with why (never a throw)', async (p, why) => {
    const r = await fetchPublisherChapters(open, srv.url(p), opts());
    expect(r).toMatchObject({ ok: false, problem: why });
  });

  it('a private address is refused by the guard when ALLOW_PRIVATE_NETWORK is off, fetched when on', async () => {
    const refused = await fetchPublisherChapters(guarded, srv.url('/ok.json'), opts(guarded));
    expect(refused).toMatchObject({ ok: false, problem: /refusing .*127\.0\.0\.1.*(loopback|private)/i });
    const before = srv.hits('/ok.json');
    const allowed = await fetchPublisherChapters(open, srv.url('/ok.json'), opts());
    expect(allowed.ok).toBe(true);
    expect(srv.hits('/ok.json')).toBe(before + 1);
  });

  it('other schemes and local files: only for feeds on the local disk', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chapters-'));
    const file = path.join(dir, 'ch.json');
    fs.writeFileSync(file, JSON.stringify(PC20_CHAPTERS));
    expect(await fetchPublisherChapters(open, file, opts())).toMatchObject({ ok: false, problem: /not http\(s\)/ });
    expect(await fetchPublisherChapters(open, 'ftp://example.com/c.json', opts())).toMatchObject({ ok: false, problem: /not http\(s\)/ });
    const local = await fetchPublisherChapters(open, file, { ...opts(), allowLocalFiles: true });
    expect(local.ok && local.chapters).toHaveLength(5);
    fs.writeFileSync(file, 'x'.repeat(5000));
    expect(await fetchPublisherChapters(open, file, { ...opts(), allowLocalFiles: true })).toMatchObject({ ok: false, problem: /larger than the limit/ });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an abort is thrown, not swallowed', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(fetchPublisherChapters(open, srv.url('/ok.json'), { ...opts(), signal: ac.signal })).rejects.toThrow();
  });
});
