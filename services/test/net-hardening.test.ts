import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { PodbrainError } from '../src/core/errors';
import { HttpClient, type HttpClientOptions } from '../src/net/http-client';
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
