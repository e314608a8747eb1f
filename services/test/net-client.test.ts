import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodbrainError } from '../src/core/errors';
import { refusalReason } from '../src/net/address-policy';
import { HttpClient, type HttpClientOptions } from '../src/net/http-client';
import type { Resolver } from '../src/net/guarded-lookup';
import { hugeBody, redirect, serveBody, stall, startFixtureServer, type FixtureServer } from './support/http-fixture-server';

const base: HttpClientOptions = { allowPrivateNetwork: false, timeoutMs: 5_000, maxRedirects: 5, userAgent: 'podbrain-test/1' };

/** A DNS where feeds.example.test is public (203.0.113.10) and internal.example.test is private (10.1.2.3). */
const fakeDns: Resolver = async (host) => {
  const table: Record<string, string> = {
    'feeds.example.test': '203.0.113.10',
    'internal.example.test': '10.1.2.3',
    'loopback.example.test': '127.0.0.1',
    'mapped.example.test': '::ffff:169.254.169.254',
  };
  if (!table[host]) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return [{ address: table[host], family: table[host].includes(':') ? 6 : 4 }];
};
/** The "public" 203.0.113.10 is served by the 127.0.0.1 fixture server; nothing else is dialled. */
const dial = (a: string) => (a === '203.0.113.10' ? '127.0.0.1' : a);

async function failure(p: Promise<unknown>): Promise<PodbrainError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PodbrainError);
  return e as PodbrainError;
}

describe('address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.20.1.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['[::ffff:10.0.0.1]', 'private'],
    ['64:ff9b::192.168.0.1', 'private'],
  ])('refuses %s (%s)', (ip, words) => {
    expect(refusalReason(ip)).toContain(words);
  });

  it.each(['8.8.8.8', '203.0.113.10', '100.128.0.1', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])('allows public %s', (ip) => {
    expect(refusalReason(ip)).toBeNull();
  });
});

describe('HttpClient', () => {
  let srv: FixtureServer;
  let client: HttpClient;
  beforeAll(async () => {
    srv = await startFixtureServer();
    client = new HttpClient({ ...base, resolve: fakeDns, dial });
  });
  afterAll(async () => {
    await client.close();
    await srv.close();
  });
  const publicUrl = (p: string) => `http://feeds.example.test:${srv.port}${p}`;

  it('refuses 127.0.0.1 and the cloud metadata address without the opt-in, naming the setting', async () => {
    srv.route('/ok', serveBody('hello'));
    const loop = await failure(client.get(srv.url('/ok'), { maxBytes: 1000 }));
    expect(loop.code).toBe('url_refused');
    expect(loop.message).toMatch(/127\.0\.0\.1 is a loopback address; set ALLOW_PRIVATE_NETWORK=true to allow it/);
    const meta = await failure(client.get('http://169.254.169.254/latest/meta-data/', { maxBytes: 1000 }));
    // ALLOW_PRIVATE_NETWORK would not open it: the hint names the link-local setting
    expect(meta.message).toMatch(/169\.254\.169\.254 is a link-local address; .*set ALLOW_LINK_LOCAL_NETWORK=true/);
    expect(srv.hits('/ok')).toBe(0);
  });

  it('checks the address after DNS: a name resolving to loopback or IPv4-mapped link-local is refused', async () => {
    const a = await failure(client.get(`http://loopback.example.test:${srv.port}/ok`, { maxBytes: 1000 }));
    expect(a.code).toBe('url_refused');
    expect(a.message).toMatch(/loopback\.example\.test resolves to 127\.0\.0\.1, which is a loopback address/);
    const b = await failure(client.get(`http://mapped.example.test:${srv.port}/ok`, { maxBytes: 1000 }));
    expect(b.message).toMatch(/link-local address \(IPv4 inside IPv6\)/);
  });

  it('fetches through a public-resolving host (the guard passes it) and decodes gzip and br', async () => {
    const text = 'x'.repeat(10_000);
    srv.route('/z', serveBody(text, { compress: true, contentType: 'text/plain' }));
    const res = await client.get(publicUrl('/z'), { maxBytes: 20_000 });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect((await res.buffer()).toString()).toBe(text);
    const gz = await client.get(publicUrl('/z'), { maxBytes: 20_000, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect((await gz.buffer()).toString()).toBe(text);
    expect(srv.requests.at(-1)?.headers['user-agent']).toBe('podbrain-test/1');
  });

  it('re-checks every redirect hop: public host → private name and → 169.254.169.254 are refused', async () => {
    srv.route('/to-internal', redirect(`http://internal.example.test:${srv.port}/secret`));
    srv.route('/to-metadata', redirect('http://169.254.169.254/latest/meta-data/'));
    srv.route('/secret', serveBody('secret'));
    const a = await failure(client.get(publicUrl('/to-internal'), { maxBytes: 1000 }));
    expect(a.code).toBe('url_refused');
    expect(a.message).toMatch(/internal\.example\.test resolves to 10\.1\.2\.3, which is a private \(RFC 1918\) address/);
    const b = await failure(client.get(publicUrl('/to-metadata'), { maxBytes: 1000 }));
    expect(b.message).toMatch(/169\.254\.169\.254 is a link-local address/);
    expect(srv.hits('/secret')).toBe(0);
    expect(srv.hits('/to-internal')).toBe(1);
  });

  it('refuses non-http schemes, also as a redirect target', async () => {
    srv.route('/to-file', redirect('file:///etc/passwd'));
    expect((await failure(client.get('ftp://feeds.example.test/x', { maxBytes: 10 }))).code).toBe('url_scheme_unsupported');
    expect((await failure(client.get(publicUrl('/to-file'), { maxBytes: 10 }))).code).toBe('url_scheme_unsupported');
  });

  it('follows up to maxRedirects, stops a loop and a too-long chain', async () => {
    for (let i = 0; i < 7; i++) srv.route(`/r${i}`, redirect(`/r${i + 1}`));
    srv.route('/r7', serveBody('end'));
    srv.route('/loop-a', redirect('/loop-b', 301));
    srv.route('/loop-b', redirect('/loop-a', 308));
    const ok = await client.get(publicUrl('/r2'), { maxBytes: 100 });
    expect((await ok.buffer()).toString()).toBe('end');
    expect(ok.redirects).toHaveLength(5);
    expect(ok.url).toBe(publicUrl('/r7'));
    const tooMany = await failure(client.get(publicUrl('/r0'), { maxBytes: 100 }));
    expect(tooMany.code).toBe('http_too_many_redirects');
    const loop = await failure(client.get(publicUrl('/loop-a'), { maxBytes: 100 }));
    expect(loop.code).toBe('http_redirect_loop');
    expect(loop.message).toContain('/loop-a → ');
    expect(srv.hits('/loop-a')).toBe(1);
  });

  it('aborts a 1 GB body at the cap quickly without buffering it', async () => {
    srv.route('/huge', hugeBody(1024 ** 3));
    srv.route('/huge-announced', hugeBody(1024 ** 3, { announceLength: true }));
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    const res = await client.get(publicUrl('/huge'), { maxBytes: 5 * 1024 * 1024 });
    const e = await failure(res.buffer());
    expect(e.code).toBe('http_too_large');
    expect(e.message).toMatch(/larger than the limit of 5242880 bytes/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    const announced = await failure(client.get(publicUrl('/huge-announced'), { maxBytes: 5 * 1024 * 1024 }));
    expect(announced.message).toMatch(/Content-Length announces 1073741824 bytes/);
  });

  it('times out a server that never answers', async () => {
    srv.route('/stall', stall());
    const quick = new HttpClient({ ...base, timeoutMs: 300, resolve: fakeDns, dial });
    try {
      const e = await failure(quick.get(publicUrl('/stall'), { maxBytes: 100, overallTimeoutMs: 600 }));
      expect(e.code).toBe('http_timeout');
      expect(e.details.retryable).toBe(true);
    } finally {
      await quick.close();
    }
  });

  it('reaches 127.0.0.1 when allowPrivateNetwork is set', async () => {
    const open = new HttpClient({ ...base, allowPrivateNetwork: true });
    try {
      const res = await open.get(srv.url('/ok'), { maxBytes: 100 });
      expect((await res.buffer()).toString()).toBe('hello');
    } finally {
      await open.close();
    }
  });
});
