import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PodbrainError } from '../src/core/errors';
import { copyLocalAudio, downloadAudio, type DownloadOptions } from '../src/net/download';
import { HttpClient } from '../src/net/http-client';
import { fixture } from './support/fixtures';
import { cutOff, serveBody, serveFile, sequence, status, startFixtureServer, type FixtureServer } from './support/http-fixture-server';

const mp3 = readFileSync(fixture('audio', 'jfk.mp3'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('downloadAudio', () => {
  let srv: FixtureServer;
  let client: HttpClient;
  let dir: string;
  beforeAll(async () => {
    srv = await startFixtureServer();
    client = new HttpClient({ allowPrivateNetwork: true, timeoutMs: 5_000, maxRedirects: 5, userAgent: 'podbrain-test/1' });
  });
  afterAll(async () => {
    await client.close();
    await srv.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pb-dl-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const opts = (p: string, extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
    client,
    url: srv.url(p),
    destDir: dir,
    maxBytes: 10 * 1024 * 1024,
    retries: 3,
    backoff: { baseMs: 5, maxMs: 20 },
    ...extra,
  });
  const rejection = async (p: Promise<unknown>) => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PodbrainError);
    return e as PodbrainError;
  };

  it('streams an mp3 to audio.mp3 with its sha256 and leaves no temp file', async () => {
    srv.route('/jfk.mp3', serveBody(mp3, { contentType: 'audio/mpeg' }));
    const progress: number[] = [];
    const r = await downloadAudio(opts('/jfk.mp3', { onProgress: (b) => progress.push(b) }));
    expect(r).toMatchObject({ file: 'audio.mp3', ext: 'mp3', bytes: mp3.length, sha256: sha(mp3), contentType: 'audio/mpeg', attempts: 1 });
    expect(readFileSync(r.path).equals(mp3)).toBe(true);
    expect(readdirSync(dir)).toEqual(['audio.mp3']);
    expect(progress.at(-1)).toBe(mp3.length);
  });

  it('names the file after the magic bytes when the server says octet-stream (ogg, flac, wav)', async () => {
    for (const [name, ext] of [
      ['fleurs-en-000.ogg', 'ogg'],
      ['jfk.flac', 'flac'],
      ['jfk.wav', 'wav'],
    ]) {
      srv.route(`/blob-${ext}`, serveFile(fixture('audio', name)));
      const r = await downloadAudio(opts(`/blob-${ext}`, { baseName: `a-${ext}` }));
      expect(r.ext).toBe(ext);
      expect(r.sha256).toBe(sha(readFileSync(fixture('audio', name))));
    }
  });

  it('resumes a transfer cut off midway with Range; the final sha256 is right', async () => {
    srv.route('/cut-ranges', sequence(cutOff(mp3, 30_000, { ranges: true, contentType: 'audio/mpeg' }), serveBody(mp3, { ranges: true, contentType: 'audio/mpeg' })));
    const r = await downloadAudio(opts('/cut-ranges'));
    expect(r.sha256).toBe(sha(mp3));
    expect(r.bytes).toBe(mp3.length);
    expect(r.resumes).toBe(1);
    expect(r.restarts).toBe(0);
    const second = srv.requests.filter((q) => q.path === '/cut-ranges')[1];
    expect(second.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(second.headers.range?.slice(6, -1))).toBeGreaterThan(0);
    expect(readdirSync(dir)).toEqual(['audio.mp3']);
  });

  it('restarts from zero when the server ignores Range', async () => {
    srv.route('/cut-norange', sequence(cutOff(mp3, 30_000, { contentType: 'audio/mpeg' }), serveBody(mp3, { contentType: 'audio/mpeg' })));
    const r = await downloadAudio(opts('/cut-norange'));
    expect(r.sha256).toBe(sha(mp3));
    expect(r.resumes).toBe(0);
    expect(r.restarts).toBe(1);
    expect(readFileSync(r.path).equals(mp3)).toBe(true);
  });

  it('retries 5xx and 429 with backoff, then succeeds', async () => {
    srv.route('/flaky', sequence(status(503), status(429, '', { 'retry-after': '0' }), status(502), serveBody(mp3, { contentType: 'audio/mpeg' })));
    const r = await downloadAudio(opts('/flaky'));
    expect(r.attempts).toBe(4);
    expect(srv.hits('/flaky')).toBe(4);
    expect(r.sha256).toBe(sha(mp3));
  });

  it('gives up after the configured retries and removes the temp file', async () => {
    srv.route('/down', status(500));
    const e = await rejection(downloadAudio(opts('/down', { retries: 2 })));
    expect(e.code).toBe('http_status');
    expect(e.message).toMatch(/returned HTTP 500 \(after 3 attempts\)/);
    expect(srv.hits('/down')).toBe(3);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not retry a 404 enclosure', async () => {
    const e = await rejection(downloadAudio(opts('/missing.mp3')));
    expect(e.code).toBe('http_status');
    expect(e.message).toMatch(/enclosure at .*\/missing\.mp3 returned HTTP 404/);
    expect(srv.hits('/missing.mp3')).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects an HTML page and a text file posing as audio', async () => {
    srv.route('/page.mp3', serveBody('<!DOCTYPE html><html><body>Episode not found</body></html>', { contentType: 'text/html; charset=utf-8' }));
    srv.route('/text.mp3', serveBody('This is just a text file, not an mp3 at all.\n'.repeat(5), { contentType: 'audio/mpeg' }));
    const html = await rejection(downloadAudio(opts('/page.mp3')));
    expect(html.code).toBe('download_not_audio');
    expect(html.message).toMatch(/is not audio: the server sent Content-Type text\/html and it starts with text "<!DOCTYPE html>/);
    const text = await rejection(downloadAudio(opts('/text.mp3')));
    expect(text.code).toBe('download_not_audio');
    expect(text.message).toMatch(/starts with text "This is just a text file/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a file over the cap (announced or streamed)', async () => {
    srv.route('/big', serveBody(mp3, { contentType: 'audio/mpeg' }));
    srv.route('/big-chunked', serveBody(mp3, { contentType: 'audio/mpeg', chunked: true }));
    const a = await rejection(downloadAudio(opts('/big', { maxBytes: 10_000 })));
    expect(a.code).toBe('http_too_large');
    const b = await rejection(downloadAudio(opts('/big-chunked', { maxBytes: 10_000 })));
    expect(b.code).toBe('http_too_large');
    expect(srv.hits('/big-chunked')).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('copies a local audio file with the same checks', async () => {
    const r = await copyLocalAudio({ source: fixture('audio', 'jfk.mp3'), destDir: dir, maxBytes: 10 * 1024 * 1024 });
    expect(r).toMatchObject({ file: 'audio.mp3', sha256: sha(mp3), bytes: mp3.length });
    const e = await rejection(copyLocalAudio({ source: fixture('audio', 'jfk.txt'), destDir: dir, baseName: 'x', maxBytes: 10_000 }));
    expect(e.code).toBe('download_not_audio');
  });
});
