import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { episodeKeyOf, feedIdOf } from '../src/core/identity';
import { feedStatePath, loadFeed, pollFeed } from '../src/feeds/load';
import { fixture } from './support/fixtures';
import { hugeBody, redirect, serveBody, serveFile, startFixtureServer, status, type FixtureServer } from './support/http-fixture-server';

const rss = (items: string) =>
  `<?xml version="1.0"?><rss version="2.0"><channel><title>Dupes</title><link>https://example.com</link>${items}</channel></rss>`;
const item = (guid: string | null, title: string, enclosure: string, date = 'Mon, 01 Jan 2024 10:00:00 GMT') =>
  `<item>${guid ? `<guid>${guid}</guid>` : ''}<title>${title}</title><pubDate>${date}</pubDate><enclosure url="${enclosure}" type="audio/mpeg" length="1"/></item>`;

async function rejection(p: Promise<unknown>): Promise<PodbrainError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PodbrainError);
  return e as PodbrainError;
}

describe('loadFeed / pollFeed', () => {
  let srv: FixtureServer;
  let dataDir: string;
  let config: Config;
  beforeAll(async () => {
    srv = await startFixtureServer();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'pb-feed-'));
    config = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', DATA_DIR: dataDir, FEED_MAX_BYTES: String(2 * 1024 * 1024) } });
  });
  afterAll(async () => {
    await srv.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('fetches a real feed, keys its episodes, and answers the next poll from cache on 304', async () => {
    srv.route('/launched.xml', serveFile(fixture('feeds', 'real', 'launched.xml'), { contentType: 'application/rss+xml', etag: true, compress: true }));
    const url = srv.url('/launched.xml');
    const first = await pollFeed(url, config, dataDir);
    expect(first).toMatchObject({ notModified: false, fromCache: false, feedId: feedIdOf(url) });
    expect(first.feed.title).toBe('Launched');
    expect(first.episodes).toHaveLength(36);
    const ep = first.episodes[0];
    expect(ep.episodeKey).toBe(episodeKeyOf({ feedId: first.feedId, feedUrl: url, guid: ep.guid, title: ep.title, published: ep.published }));
    const state = JSON.parse(readFileSync(feedStatePath(dataDir, first.feedId), 'utf8'));
    expect(state.validators.etag).toMatch(/^".+"$/);

    const second = await pollFeed(url, config, dataDir);
    expect(second).toMatchObject({ notModified: true, fromCache: true });
    expect(second.episodes.map((e) => e.episodeKey)).toEqual(first.episodes.map((e) => e.episodeKey));
    expect(srv.requests.filter((r) => r.path === '/launched.xml').at(-1)?.headers['if-none-match']).toBe(state.validators.etag);
  });

  it('uses Last-Modified when there is no ETag', async () => {
    const lm = 'Tue, 02 Jan 2024 00:00:00 GMT';
    srv.route('/lm.xml', serveFile(fixture('feeds', 'real', 'simple.xml'), { contentType: 'application/rss+xml', lastModified: lm }));
    const a = await loadFeed(srv.url('/lm.xml'), config);
    expect(a.notModified).toBe(false);
    expect(a.validators.lastModified).toBe(lm);
    const b = await loadFeed(srv.url('/lm.xml'), config, a.validators);
    expect(b).toMatchObject({ notModified: true, feed: null, episodes: null });
  });

  it('reads a local file (plain path or file://) and reports an unchanged file as not modified', async () => {
    const file = fixture('feeds', 'real', 'simple.xml');
    const a = await pollFeed(file, config, dataDir);
    expect(a.location).toBe(path.resolve(file));
    expect(a.episodes).toHaveLength(3);
    const b = await pollFeed(`file://${file}`, config, dataDir);
    expect(b).toMatchObject({ feedId: a.feedId, notModified: true, fromCache: true });
    expect(b.episodes).toHaveLength(3);
    expect((await rejection(loadFeed(path.join(dataDir, 'nope.xml'), config))).code).toBe('feed_not_found');
  });

  it('keeps the first of duplicate guids, and keys a same-guid item with another enclosure by title and date', async () => {
    const file = path.join(dataDir, 'dupes.xml');
    writeFileSync(
      file,
      rss(
        item('g1', 'One', 'https://cdn.example/1.mp3') +
          item('g1', 'One again', 'https://cdn.example/1.mp3') +
          item('g1', 'Two reusing the guid', 'https://cdn.example/2.mp3') +
          item('g3', 'Three', 'https://cdn.example/3.mp3'),
      ),
    );
    const r = await loadFeed(file, config);
    const eps = r.episodes ?? [];
    expect(eps.map((e) => e.title)).toEqual(['One', 'Two reusing the guid', 'Three']);
    expect(eps[0].episodeKey).toBe(episodeKeyOf({ feedId: r.feedId, feedUrl: r.location, guid: 'g1', title: 'One', published: eps[0].published }));
    expect(eps[1].episodeKey).toBe(episodeKeyOf({ feedId: r.feedId, feedUrl: r.location, guid: null, title: eps[1].title, published: eps[1].published }));
    expect(new Set(eps.map((e) => e.episodeKey)).size).toBe(3);
    expect(r.warnings.join('\n')).toMatch(/duplicate guid "g1": dropped repeated item "One again"/);
    expect(r.warnings.join('\n')).toMatch(/duplicate guid "g1" with a different enclosure: item "Two reusing the guid" keyed by title and date/);
  });

  it('refuses a feed on 127.0.0.1 or 169.254.169.254 without ALLOW_PRIVATE_NETWORK', async () => {
    const strict = loadConfig({ env: { DATA_DIR: dataDir } });
    const a = await rejection(loadFeed(srv.url('/launched.xml'), strict));
    expect(a.code).toBe('url_refused');
    expect(a.message).toMatch(/127\.0\.0\.1 is a loopback address; set ALLOW_PRIVATE_NETWORK=true to allow it/);
    const b = await rejection(loadFeed('http://169.254.169.254/feed.xml', strict));
    expect(b.message).toMatch(/169\.254\.169\.254 is a link-local address; .*set ALLOW_LINK_LOCAL_NETWORK=true to allow them/);
  });

  it('says an HTML page is not a feed (by Content-Type and by sniffing)', async () => {
    srv.route('/page', serveBody('<!doctype html><html><head><title>My show</title></head><body>hi</body></html>', { contentType: 'text/html' }));
    srv.route('/page-untyped', serveBody('\n  <html><body>hi</body></html>', { contentType: 'application/xml' }));
    for (const p of ['/page', '/page-untyped']) {
      const e = await rejection(loadFeed(srv.url(p), config));
      expect(e.code).toBe('feed_is_html');
      expect(e.message).toMatch(/is an HTML page, not a feed/);
    }
  });

  it('accepts RSS mislabelled as text/html', async () => {
    srv.route('/mislabelled', serveFile(fixture('feeds', 'real', 'simple.xml'), { contentType: 'text/html; charset=utf-8' }));
    expect((await loadFeed(srv.url('/mislabelled'), config)).episodes).toHaveLength(3);
  });

  it('fails clearly on a non-XML body, an empty body and a 404', async () => {
    srv.route('/json', serveBody('{"not":"a feed"}', { contentType: 'application/json' }));
    srv.route('/empty', serveBody('', { contentType: 'application/rss+xml' }));
    srv.route('/gone', status(404));
    const json = await rejection(loadFeed(srv.url('/json'), config));
    expect(json.code).toBe('feed_parse');
    expect(json.message).toContain(srv.url('/json'));
    expect((await rejection(loadFeed(srv.url('/empty'), config))).code).toBe('feed_empty');
    const gone = await rejection(loadFeed(srv.url('/gone'), config));
    expect(gone.code).toBe('http_status');
    expect(gone.message).toMatch(/feed at .*\/gone returned HTTP 404/);
  });

  it('stops a redirect loop', async () => {
    srv.route('/loop1', redirect('/loop2'));
    srv.route('/loop2', redirect('/loop1'));
    expect((await rejection(loadFeed(srv.url('/loop1'), config))).code).toBe('http_redirect_loop');
  });

  it('aborts a 1 GB feed at feeds.maxBytes quickly with little memory', async () => {
    srv.route('/huge.xml', hugeBody(1024 ** 3));
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    const e = await rejection(loadFeed(srv.url('/huge.xml'), config));
    expect(e.code).toBe('http_too_large');
    expect(e.message).toMatch(/feed at .* is larger than the limit of 2097152 bytes/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
  });
});
