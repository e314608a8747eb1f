import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeedTranscriptEngine, type FeedAsrResult } from '../src/asr/feed/engine';
import type { AsrInput } from '../src/asr/types';
import { loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { silentLogger } from '../src/core/logger';
import type { TranscriptRef } from '../src/feeds/types';
import { type FixtureServer, serveBody, startFixtureServer, status } from './support/http-fixture-server';

const SRT = '1\n00:00:00,000 --> 00:00:02,000\nSRT text\n';
const VTT = 'WEBVTT\n\n00:00.000 --> 00:02.000\n<v Ann>VTT text\n';
const JSON_T = JSON.stringify({ version: '1.0.0', segments: [{ speaker: 'Ann', startTime: 0, endTime: 2, body: 'JSON text' }] });
const HTML = '<cite>Ann:</cite><time>0:00</time><p>HTML text</p>';

const input = (transcripts: TranscriptRef[], extra: Partial<AsrInput> = {}): AsrInput => ({
  wavPath: null,
  durationMs: 10_000,
  transcripts,
  signal: new AbortController().signal,
  ...extra,
});

let srv: FixtureServer;
let dir: string;
// The fixture server listens on 127.0.0.1, which the SSRF guard refuses unless private networks are allowed.
const config = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', LOG_LEVEL: 'silent', FEED_TRANSCRIPT_MAX_BYTES: '2048' } });
const engine = createFeedTranscriptEngine(config, { logger: silentLogger });

beforeAll(async () => {
  srv = await startFixtureServer();
  srv.route('/t.srt', serveBody(SRT, { contentType: 'application/srt' }));
  srv.route('/t.vtt', serveBody(VTT, { contentType: 'text/vtt' }));
  srv.route('/t.json', serveBody(JSON_T, { contentType: 'application/json', compress: true }));
  srv.route('/t.html', serveBody(HTML, { contentType: 'text/html; charset=utf-8' }));
  srv.route('/srt-as-text', serveBody(SRT, { contentType: 'text/plain' }));
  srv.route('/gone.json', status(404));
  srv.route('/empty.vtt', serveBody('WEBVTT\n\n', { contentType: 'text/vtt' }));
  // chunked: a too-large Content-Length makes http-client.ts destroy the body without an error listener (unhandled AbortError; reported to the lead)
  srv.route('/huge.srt', serveBody(SRT.repeat(200), { contentType: 'application/srt', chunked: true }));
  srv.route('/latin1.txt', serveBody(Buffer.from('Caf\xe9 au lait.', 'latin1'), { contentType: 'text/plain; charset=iso-8859-1' }));
  dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-b2-feed-'));
});

afterAll(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

const ref = (p: string, type: string, language: string | null = 'en'): TranscriptRef => ({ url: srv.url(p), type, language });

describe('feed engine', () => {
  it('says why it cannot run without a transcript tag', () => {
    expect(engine.name).toBe('feed');
    expect(engine.unavailableReason({ transcripts: [] })).toMatch(/no publisher transcript/);
    expect(engine.unavailableReason({ transcripts: [ref('/t.srt', 'application/srt')] })).toBeNull();
  });

  it('picks JSON over VTT over SRT over HTML when several are listed', async () => {
    const refs = [ref('/t.html', 'text/html'), ref('/t.srt', 'application/srt'), ref('/t.json', 'application/json'), ref('/t.vtt', 'text/vtt')];
    const res = (await engine.transcribe(input(refs))) as FeedAsrResult;
    expect(res).toMatchObject({ engine: 'feed', model: 'podcast:transcript/json', language: 'en', segments: [{ start_ms: 0, end_ms: 2000, text: 'JSON text', speaker: 'Ann' }] });
    expect(res.source).toMatchObject({ format: 'json', timing: 'cues', url: srv.url('/t.json') });
    expect(srv.hits('/t.html') + srv.hits('/t.srt') + srv.hits('/t.vtt')).toBe(0);
    const noJson = await engine.transcribe(input(refs.filter((r) => !r.url.endsWith('.json'))));
    expect(noJson.segments[0]).toMatchObject({ text: 'VTT text', speaker: 'Ann' });
  });

  it('falls through to the next transcript when one is missing or empty', async () => {
    const progress: number[] = [];
    const res = await engine.transcribe(
      input([ref('/gone.json', 'application/json'), ref('/empty.vtt', 'text/vtt'), ref('/t.srt', 'application/srt')], { onProgress: (f) => progress.push(f) }),
    );
    expect(res.model).toBe('podcast:transcript/srt');
    expect(res.segments).toEqual([{ start_ms: 0, end_ms: 2000, text: 'SRT text' }]);
    expect(progress[progress.length - 1]).toBe(1);
  });

  it('reads SRT served as text/plain and decodes declared charsets', async () => {
    const res = await engine.transcribe(input([ref('/srt-as-text', 'text/plain')]));
    expect(res.model).toBe('podcast:transcript/srt');
    const latin = await engine.transcribe(input([ref('/latin1.txt', 'text/plain')]));
    expect(latin.segments).toEqual([{ start_ms: 0, end_ms: 10_000, text: 'Café au lait.' }]);
  });

  it('prefers the configured language', async () => {
    const de = createFeedTranscriptEngine(loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', WHISPER_LANGUAGE: 'de' } }), { logger: silentLogger });
    const res = await de.transcribe(input([ref('/t.json', 'application/json', 'en'), ref('/t.srt', 'application/srt', 'de-DE')]));
    expect(res).toMatchObject({ model: 'podcast:transcript/srt', language: 'de-DE' });
  });

  it('fails with every reason when no transcript can be used', async () => {
    const err = await engine.transcribe(input([ref('/gone.json', 'application/json'), ref('/huge.srt', 'application/srt')])).catch((e) => e);
    expect(err).toBeInstanceOf(PodbrainError);
    expect(err.code).toBe('transcript_unavailable');
    expect(err.message).toMatch(/gone\.json returned HTTP 404/);
    expect(err.message).toMatch(/huge\.srt is larger than the limit of 2048 bytes \(more than 2048 bytes received\)/);
    expect(err.details.retryable).toBe(false);
  });

  it('a transcript server that drips bytes is given up after base + size cap / minimum rate, not held for hours', async () => {
    srv.route('/drip.vtt', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/vtt' });
      res.write('WEBVTT\n\n');
      const t = setInterval(() => res.write('a'), 100); // 10 B/s: never idle, never done
      res.on('close', () => clearInterval(t));
    });
    // 1 s + 1024 B / 1024 B/s = 2 s
    const slow = createFeedTranscriptEngine(
      loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', LOG_LEVEL: 'silent', FEED_TRANSCRIPT_MAX_BYTES: '1024', DOWNLOAD_TIMEOUT_BASE_MS: '1000', DOWNLOAD_MIN_BYTES_PER_S: '1024' } }),
      { logger: silentLogger },
    );
    const t0 = Date.now();
    const err = await slow.transcribe(input([ref('/drip.vtt', 'text/vtt')])).catch((e) => e);
    const took = Date.now() - t0;
    expect(err.code).toBe('transcript_unavailable');
    expect(err.message).toMatch(/timed out fetching publisher transcript .*drip\.vtt \(limit 2000 ms\)/);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(8000);
  });

  it('keeps the SSRF guard: private addresses are refused by default', async () => {
    const guarded = createFeedTranscriptEngine(loadConfig({ env: {} }), { logger: silentLogger });
    const before = srv.hits('/t.srt');
    const err = await guarded.transcribe(input([ref('/t.srt', 'application/srt')])).catch((e) => e);
    expect(err.code).toBe('transcript_unavailable');
    expect(err.message).toMatch(/refusing http:\/\/127\.0\.0\.1.*loopback/i);
    expect(srv.hits('/t.srt')).toBe(before);
  });

  it('reads local files only when allowed (local feeds)', async () => {
    const file = path.join(dir, 'ep.vtt');
    writeFileSync(file, VTT);
    const local: TranscriptRef[] = [{ url: pathToFileURL(file).href, type: 'text/vtt', language: null }];
    expect(engine.unavailableReason({ transcripts: local })).toMatch(/local files .* only read for feeds on the local disk/);
    await expect(engine.transcribe(input(local))).rejects.toThrow(/local files/);
    const allowed = createFeedTranscriptEngine(config, { allowLocalFiles: true, logger: silentLogger });
    expect((await allowed.transcribe(input(local))).segments[0].text).toBe('VTT text');
    const plainPath = await allowed.transcribe(input([{ url: file, type: 'text/vtt', language: null }]));
    expect(plainPath.segments).toHaveLength(1);
    const missing = await allowed.transcribe(input([{ url: path.join(dir, 'nope.srt'), type: 'application/srt', language: null }])).catch((e) => e);
    expect(missing.message).toMatch(/cannot read transcript file .*nope\.srt: ENOENT/);
  });

  it('changes its fingerprint with the language preference', () => {
    const a = engine.fingerprintParts();
    expect(a).toMatchObject({ engine: 'feed', parser_version: 1 });
    const b = createFeedTranscriptEngine(loadConfig({ env: { WHISPER_LANGUAGE: 'de' } }), { logger: silentLogger }).fingerprintParts();
    expect(b).not.toEqual(a);
  });

  it('changes its fingerprint when the publisher moves or re-types its transcript, not when the order of the tags changes', () => {
    const vtt = { url: 'https://example.com/ep1.vtt', type: 'text/vtt', language: 'en' };
    const srt = { url: 'https://example.com/ep1.srt', type: 'application/srt', language: 'en' };
    const a = engine.fingerprintParts({ transcripts: [vtt, srt] });
    expect(engine.fingerprintParts({ transcripts: [srt, vtt] })).toEqual(a);
    expect(engine.fingerprintParts({ transcripts: [{ ...vtt, url: 'https://example.com/ep1-v2.vtt' }, srt] })).not.toEqual(a);
    expect(engine.fingerprintParts({ transcripts: [{ ...vtt, type: 'application/x-subrip' }, srt] })).not.toEqual(a);
  });
});
