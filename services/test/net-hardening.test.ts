import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { policyRefusal } from '../src/net/address-policy';
import type { Resolver } from '../src/net/guarded-lookup';
import { HttpClient, httpClientOptionsFrom, type HttpClientOptions } from '../src/net/http-client';
import { h1FixApplied, UNDICI_NEEDS_H1_FIX } from '../src/net/undici-h1-fix';

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
    if (UNDICI_NEEDS_H1_FIX) expect(h1FixApplied()).toBe(true);
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
