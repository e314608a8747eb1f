import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { StagingDir, type ArtifactStore } from '../src/artifacts/store';
import { createLogger } from '../src/core/logger';
import type { FeedEpisode } from '../src/feeds/types';
import { policyRefusal } from '../src/net/address-policy';
import { downloadAudio } from '../src/net/download';
import type { Resolver } from '../src/net/guarded-lookup';
import { HttpClient, httpClientOptionsFrom, type HttpClientOptions } from '../src/net/http-client';
import { createIngestStage } from '../src/stages/ingest.stage';
import { fixture } from './support/fixtures';

const base: HttpClientOptions = { allowPrivateNetwork: true, timeoutMs: 5_000, maxRedirects: 5, userAgent: 'podbrain-test/1' };

/** A raw TCP server: `respond` writes whatever bytes it wants once the request head has arrived. */
async function rawServer(respond: (sock: net.Socket, path: string) => void): Promise<{ url: (p: string) => string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let head = '';
    sock.on('data', (b) => {
      if (head.includes('\r\n\r\n')) return;
      head += b.toString('latin1');
      if (head.includes('\r\n\r\n')) respond(sock, head.split(' ')[1]);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('one bad connection never takes the process down', () => {
  const BODY = Buffer.alloc(1024 * 1024, 0x61);

  it.each([
    ['HTTP/1.0 with Content-Length', `HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: ${BODY.length}\r\n\r\n`],
    ['HTTP/1.1 Connection: close with Content-Length', `HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nConnection: close\r\nContent-Length: ${BODY.length}\r\n\r\n`],
    ['HTTP/1.0 without Content-Length (close-delimited)', 'HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n'],
  ])('%s: the peer closes while the body is not being read (paused parser at end of stream): the body still arrives whole', async (_name, head) => {
    const srv = await rawServer((sock) => {
      sock.write(head);
      sock.end(BODY); // body, then FIN
    });
    const client = new HttpClient(base);
    cleanups.push(srv.close, () => client.close());
    const res = await client.get(srv.url('/a.mp3'), { maxBytes: 10 * BODY.length, decompress: false });
    // Not reading: the parser pauses under backpressure while the FIN arrives.
    await sleep(300);
    const body = await res.buffer();
    expect(body.length).toBe(BODY.length);
  });

  it('many such transfers at once, read slowly: all complete', async () => {
    const srv = await rawServer((sock) => {
      sock.write('HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n');
      sock.end(BODY);
    });
    const client = new HttpClient(base);
    cleanups.push(srv.close, () => client.close());
    const one = async () => {
      const res = await client.get(srv.url('/a.mp3'), { maxBytes: 10 * BODY.length, decompress: false });
      let n = 0;
      for await (const c of res.body) {
        n += (c as Buffer).length;
        await sleep(1);
      }
      return n;
    };
    expect(await Promise.all(Array.from({ length: 8 }, one))).toEqual(Array(8).fill(BODY.length));
  });

  it('a transfer that breaks while its reader is busy elsewhere fails that reader with a PodbrainError, nothing else', async () => {
    const srv = await rawServer((sock) => {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`);
      sock.write(BODY.subarray(0, 1000), () => setTimeout(() => sock.resetAndDestroy(), 20));
    });
    const client = new HttpClient(base);
    cleanups.push(srv.close, () => client.close());
    const res = await client.get(srv.url('/a.mp3'), { maxBytes: 10 * BODY.length, decompress: false });
    await sleep(300); // the reset happens here, with no reader attached
    const e = await res.buffer().then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PodbrainError);
    expect((e as PodbrainError).code).toBe('http_network');
  });
});

describe('link-local addresses stay refused under ALLOW_PRIVATE_NETWORK', () => {
  const LINK_LOCAL = ['169.254.169.254', '169.254.0.1', 'fe80::1', 'fe80::a9fe:a9fe%eth0', 'febf::1', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '64:ff9b::169.254.169.254'];

  it.each(LINK_LOCAL)('%s: refused with ALLOW_PRIVATE_NETWORK alone, allowed with ALLOW_LINK_LOCAL_NETWORK', (ip) => {
    expect(policyRefusal(ip, { allowPrivateNetwork: true })).toMatchObject({ reason: expect.stringContaining('link-local'), setting: 'ALLOW_LINK_LOCAL_NETWORK' });
    expect(policyRefusal(ip, { allowPrivateNetwork: false })).toMatchObject({ setting: 'ALLOW_LINK_LOCAL_NETWORK' });
    expect(policyRefusal(ip, { allowPrivateNetwork: true, allowLinkLocalNetwork: true })).toBeNull();
  });

  it.each(['127.0.0.1', '10.1.2.3', '192.168.1.10', 'fd00::1', '::1'])('%s: opened by ALLOW_PRIVATE_NETWORK, not by ALLOW_LINK_LOCAL_NETWORK alone', (ip) => {
    expect(policyRefusal(ip, { allowPrivateNetwork: true })).toBeNull();
    expect(policyRefusal(ip, { allowPrivateNetwork: false, allowLinkLocalNetwork: true })).toMatchObject({ setting: 'ALLOW_PRIVATE_NETWORK' });
  });

  it('the setting defaults to off and reaches the HTTP client', () => {
    const cfg = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true' } });
    expect(cfg.net).toMatchObject({ allowPrivateNetwork: true, allowLinkLocalNetwork: false });
    expect(httpClientOptionsFrom(loadConfig({ env: { ALLOW_LINK_LOCAL_NETWORK: 'true' } })).allowLinkLocalNetwork).toBe(true);
  });

  // The guard judges the resolved address; `dial` sends an allowed connection to a 127.0.0.1 server,
  // so nothing is ever sent to a real link-local address.
  const dns: Resolver = async (host) => {
    const table: Record<string, { address: string; family: number }[]> = {
      'metadata.example.test': [{ address: '169.254.169.254', family: 4 }],
      'v6ll.example.test': [{ address: 'fe80::1', family: 6 }],
      'lan.example.test': [{ address: '192.168.1.20', family: 4 }],
      'both.example.test': [
        { address: '169.254.169.254', family: 4 },
        { address: '192.168.1.20', family: 4 },
      ],
    };
    if (!table[host]) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return table[host];
  };

  async function served(): Promise<{ port: number; dialled: string[] }> {
    const dialled: string[] = [];
    const srv = await rawServer((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'));
    cleanups.push(srv.close);
    return { port: Number(new URL(srv.url('/')).port), dialled };
  }

  it('a host resolving to 169.254.169.254 or fe80::1 is refused with ALLOW_PRIVATE_NETWORK=true, before any connection', async () => {
    const { port, dialled } = await served();
    const client = new HttpClient({ ...base, allowPrivateNetwork: true, resolve: dns, dial: (a) => (dialled.push(a), '127.0.0.1') });
    cleanups.push(() => client.close());
    for (const host of ['metadata.example.test', 'v6ll.example.test']) {
      const e = await client.get(`http://${host}:${port}/latest/meta-data/`, { maxBytes: 1000 }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(PodbrainError);
      expect((e as PodbrainError).code).toBe('url_refused');
      expect((e as PodbrainError).message).toContain('link-local');
      expect((e as PodbrainError).message).toContain('ALLOW_LINK_LOCAL_NETWORK=true');
    }
    expect(dialled).toEqual([]);
    // a LAN address is still reachable, and a host with both kinds of address uses only the allowed one
    expect((await client.get(`http://lan.example.test:${port}/`, { maxBytes: 1000 }).then((r) => r.buffer())).toString()).toBe('ok');
    expect((await client.get(`http://both.example.test:${port}/`, { maxBytes: 1000 }).then((r) => r.buffer())).toString()).toBe('ok');
    expect(dialled).toEqual(['192.168.1.20', '192.168.1.20']);
  });

  it('literal link-local URLs are refused under ALLOW_PRIVATE_NETWORK=true', async () => {
    const client = new HttpClient({ ...base, allowPrivateNetwork: true });
    cleanups.push(() => client.close());
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/', 'http://[::ffff:169.254.169.254]/']) {
      const e = await client.get(url, { maxBytes: 1000 }).then(
        () => null,
        (err: unknown) => err,
      );
      expect((e as PodbrainError).code, url).toBe('url_refused');
    }
  });

  it('ALLOW_LINK_LOCAL_NETWORK=true lets the guard pass a link-local address', async () => {
    const { port, dialled } = await served();
    const client = new HttpClient({ ...base, allowPrivateNetwork: false, allowLinkLocalNetwork: true, resolve: dns, dial: (a) => (dialled.push(a), '127.0.0.1') });
    cleanups.push(() => client.close());
    expect((await client.get(`http://metadata.example.test:${port}/`, { maxBytes: 1000 }).then((r) => r.buffer())).toString()).toBe('ok');
    expect(dialled).toEqual(['169.254.169.254']);
  });
});

describe('downloads have an overall limit scaled to their size, not only an idle timeout', () => {
  const mp3 = readFileSync(fixture('audio', 'jfk.mp3'));

  /** Sends `total` bytes of an mp3, `step` bytes every `everyMs`: never idle long enough for the idle timeout. */
  async function drip(opts: { total: number; step: number; everyMs: number; announce: boolean }) {
    const body = Buffer.concat([mp3, mp3, mp3]).subarray(0, opts.total);
    const srv = await rawServer((sock) => {
      sock.write(opts.announce ? `HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: ${opts.total}\r\n\r\n` : 'HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n');
      let sent = 0;
      const t = setInterval(() => {
        if (sock.destroyed) return clearInterval(t);
        const next = body.subarray(sent, sent + opts.step);
        sent += next.length;
        if (sent >= body.length) {
          clearInterval(t);
          sock.end(next);
        } else sock.write(next);
      }, opts.everyMs);
      sock.on('close', () => clearInterval(t));
    });
    cleanups.push(srv.close);
    return srv;
  }

  let dir: string;
  const tmp = () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pb-pace-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: PodbrainError }> {
    const t0 = Date.now();
    return p.then(
      (value) => ({ ms: Date.now() - t0, value }),
      (error: PodbrainError) => ({ ms: Date.now() - t0, error }),
    );
  }

  it('a server that announces 20 kB and drips 2 kB/s (10 s) fails at base + size / minimum rate (2.5 s)', async () => {
    const srv = await drip({ total: 20_000, step: 100, everyMs: 50, announce: true });
    const client = new HttpClient(base);
    cleanups.push(() => client.close());
    const r = await timed(downloadAudio({ client, url: srv.url('/slow.mp3'), destDir: tmp(), maxBytes: 10_000_000, retries: 0, pace: { baseMs: 500, minBytesPerS: 10_000 } }));
    expect(r.error, 'the drip download completed').toBeInstanceOf(PodbrainError);
    expect(r.error).toMatchObject({ code: 'http_timeout', details: { reason: 'too_slow', declared: 20_000, retryable: true } });
    expect(r.error!.message).toMatch(/arriving too slowly: \d+ bytes in 2\.\d s \(20000 bytes announced/);
    expect(r.ms).toBeGreaterThanOrEqual(2400);
    expect(r.ms).toBeLessThan(4500);
  }, 20_000);

  it('without a Content-Length the limit follows the bytes received: a 2 kB/s drip fails soon after the base time', async () => {
    const srv = await drip({ total: 20_000, step: 100, everyMs: 50, announce: false });
    const client = new HttpClient(base);
    cleanups.push(() => client.close());
    const r = await timed(downloadAudio({ client, url: srv.url('/slow.mp3'), destDir: tmp(), maxBytes: 10_000_000, retries: 0, pace: { baseMs: 500, minBytesPerS: 10_000 } }));
    expect(r.error, 'the drip download completed').toMatchObject({ code: 'http_timeout', details: { reason: 'too_slow', declared: null } });
    // 500 ms + received / 10 kB/s with 2 kB/s arriving: about 0.63 s
    expect(r.ms).toBeLessThan(2500);
  }, 20_000);

  it('a transfer above the minimum rate completes even when it takes longer than the base time', async () => {
    const srv = await drip({ total: 4000, step: 100, everyMs: 50, announce: true }); // 2 s at 2 kB/s
    const client = new HttpClient(base);
    cleanups.push(() => client.close());
    const r = await timed(downloadAudio({ client, url: srv.url('/ok.mp3'), destDir: tmp(), maxBytes: 10_000_000, retries: 0, pace: { baseMs: 500, minBytesPerS: 1000 } }));
    expect(r.error).toBeUndefined();
    expect(r.value).toMatchObject({ bytes: 4000, ext: 'mp3' });
    expect(r.ms).toBeGreaterThan(1500);
  }, 20_000);

  it('the ingest stage applies DOWNLOAD_TIMEOUT_BASE_MS / DOWNLOAD_MIN_BYTES_PER_S (defaults 120 s + 1 s per 64 KiB)', async () => {
    expect(loadConfig({ env: {} }).audio).toMatchObject({ downloadTimeoutBaseMs: 120_000, downloadMinBytesPerS: 65_536 });
    const srv = await drip({ total: 20_000, step: 100, everyMs: 50, announce: true });
    const config = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', DOWNLOAD_RETRIES: '0', DOWNLOAD_TIMEOUT_BASE_MS: '1000', DOWNLOAD_MIN_BYTES_PER_S: '20000' } });
    const episode: FeedEpisode = {
      guid: 'slow', title: 'Slow', description: null, link: null, image: null, published: null, durationS: null,
      enclosure: { url: srv.url('/slow.mp3'), type: 'audio/mpeg', length: 20_000 }, transcripts: [], chaptersUrl: null, persons: [], season: null,
      episode: null, episodeType: null, explicit: null, author: null, feedId: 'f', feedUrl: 'http://127.0.0.1:9/feed.xml', episodeKey: 'slow',
    };
    const out = tmp();
    const r = await timed(
      createIngestStage().run(
        { config, episode, inputs: {}, store: {} as ArtifactStore, log: createLogger({ service: 'test', level: 'silent' }), signal: new AbortController().signal, progress: () => undefined },
        new StagingDir(out, path.join(out, 'final')),
      ),
    );
    expect(r.error).toMatchObject({ code: 'http_timeout', details: { reason: 'too_slow' } });
    expect(r.ms).toBeLessThan(4000); // 1 s + 20 kB / 20 kB/s = 2 s, not the 10 s of the drip
  }, 20_000);
});
