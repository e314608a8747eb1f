import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSilences, planParts } from '../src/asr/openai/audio-split';
import { createOpenAiAsrEngine, gapsBetween, languageCode, type OpenAiAsrResult, PROVIDER, spreadSentences } from '../src/asr/openai/engine';
import { assessTranscript, reasonCode } from '../src/asr/quality';
import type { AsrInput } from '../src/asr/types';
import { loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { silentLogger } from '../src/core/logger';
import { metrics } from '../src/telemetry/metrics';
import { empty, fail, type FakeOpenAiAsr, garbage, loop, speech, startFakeOpenAiAsr } from './support/fake-openai-asr';
import { fixture } from './support/fixtures';

let asr: FakeOpenAiAsr;
let dir: string;
/** 12 s at 16 kHz mono: 3 s tone, 1 s silence, repeated (silences at 3–4, 7–8, 11–12 s). */
let pattern: string;
const JFK = fixture('audio', 'jfk.wav');

const configFor = (env: Record<string, string> = {}) =>
  loadConfig({ env: { OPENAI_BASE_URL: asr.baseUrl, OPENAI_ASR_RETRY_BASE_MS: '5', LOG_LEVEL: 'silent', ...env } });
const engineFor = (env: Record<string, string> = {}) => createOpenAiAsrEngine(configFor(env), { logger: silentLogger });
const input = (wavPath: string, extra: Partial<AsrInput> = {}): AsrInput => ({
  wavPath,
  durationMs: null,
  transcripts: [],
  signal: new AbortController().signal,
  ...extra,
});

/** The value of a counter's sample whose labels match `labels` (0 when none has been counted yet). */
async function counter(c: Pick<Counter<string>, 'get'>, labels: Record<string, string>): Promise<number> {
  const m = await c.get();
  return m.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

beforeAll(async () => {
  asr = await startFakeOpenAiAsr();
  dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-b2-openai-'));
  pattern = path.join(dir, 'pattern.wav');
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi',
    '-i', "aevalsrc='if(lt(mod(t,4),3),0.5*sin(2*PI*300*t),0)':s=16000:d=12",
    '-ac', '1', '-c:a', 'pcm_s16le', '-y', pattern,
  ]);
});

afterAll(async () => {
  await asr.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  asr.requests.length = 0;
  asr.behave(speech());
});

describe('openai engine: configuration', () => {
  it('is unavailable without OPENAI_BASE_URL and OPENAI_API_KEY, and says what to set', async () => {
    const engine = createOpenAiAsrEngine(loadConfig({ env: {} }), { logger: silentLogger });
    expect(engine.name).toBe('openai');
    expect(engine.unavailableReason({ transcripts: [] })).toMatch(/set OPENAI_BASE_URL .* or OPENAI_API_KEY/);
    await expect(engine.transcribe(input(JFK))).rejects.toMatchObject({ code: 'asr_unavailable' });
    expect(createOpenAiAsrEngine(loadConfig({ env: { OPENAI_API_KEY: 'sk-x' } }), { logger: silentLogger }).unavailableReason({ transcripts: [] })).toBeNull();
  });

  it('puts server, model, language and upload format in the fingerprint', () => {
    const a = engineFor().fingerprintParts();
    expect(a).toEqual({ engine: 'openai', base_url: asr.baseUrl, model: 'whisper-1', language: 'auto', upload_format: 'mp3' });
    expect(engineFor({ OPENAI_ASR_MODEL: 'Systran/faster-whisper-small' }).fingerprintParts()).not.toEqual(a);
  });

  it('maps language names to codes', () => {
    expect(languageCode('english')).toBe('en');
    expect(languageCode('de')).toBe('de');
    expect(languageCode('')).toBeNull();
  });
});

describe('openai engine: upload', () => {
  it('uploads a compact mp3 of real speech with verbose_json and segment timestamps', async () => {
    const progress: number[] = [];
    const res = (await engineFor({ OPENAI_API_KEY: 'sk-test', WHISPER_LANGUAGE: 'en' }).transcribe(input(JFK, { onProgress: (f) => progress.push(f) }))) as OpenAiAsrResult;
    expect(asr.requests).toHaveLength(1);
    const req = asr.requests[0];
    expect(req.authorization).toBe('Bearer sk-test');
    expect(req.fields).toMatchObject({ model: ['whisper-1'], response_format: ['verbose_json'], language: ['en'], temperature: ['0'] });
    expect(Object.entries(req.fields).find(([k]) => k.startsWith('timestamp_granularities'))?.[1]).toEqual(['segment']);
    expect(req.filename).toBe('audio.mp3');
    expect(req.fileType).toBe('audio/mpeg');
    // 11 s of 16 kHz WAV is 352 kB; the 64 kbit/s mp3 is a quarter of that.
    expect(req.bytes).toBeLessThan(120_000);
    expect(req.durationS).toBeCloseTo(11, 0);
    expect(res).toMatchObject({ engine: 'openai', model: 'whisper-1', language: 'en', segments: [{ start_ms: 0, text: 'part 0' }] });
    expect(res.segments[0].end_ms).toBeGreaterThan(10_500);
    expect(res.parts).toHaveLength(1);
    expect(progress).toEqual([1]);
  });

  it('can upload FLAC or WAV instead', async () => {
    await engineFor({ OPENAI_ASR_UPLOAD_FORMAT: 'flac' }).transcribe(input(JFK));
    await engineFor({ OPENAI_ASR_UPLOAD_FORMAT: 'wav' }).transcribe(input(JFK));
    expect(asr.requests.map((r) => [r.filename, r.fileType])).toEqual([
      ['audio.flac', 'audio/flac'],
      ['audio.wav', 'audio/wav'],
    ]);
    expect(asr.requests[1].bytes).toBeGreaterThan(350_000);
  });

  it('splits a file over the byte limit at silences and shifts the parts by their cut points', async () => {
    // A private TMPDIR: other test files running at the same time use the engine too.
    const tmp = path.join(dir, 'tmp');
    mkdirSync(tmp);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let res: OpenAiAsrResult;
    try {
      res = (await engineFor({ OPENAI_ASR_MAX_BYTES: '45000' }).transcribe(input(pattern))) as OpenAiAsrResult;
      expect(os.tmpdir()).toBe(tmp);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    expect(asr.requests.length).toBe(3);
    for (const r of asr.requests) expect(r.bytes).toBeLessThanOrEqual(45_000);
    // Cuts fall in the middle of the 1 s silences (3–4 s and 7–8 s), not at the byte budget.
    const cuts = res.parts.slice(1).map((p) => p.start_ms);
    expect(cuts).toHaveLength(2);
    expect(cuts[0]).toBeGreaterThan(3000);
    expect(cuts[0]).toBeLessThan(4000);
    expect(cuts[1]).toBeGreaterThan(7000);
    expect(cuts[1]).toBeLessThan(8000);
    expect(res.segments.map((s) => s.text)).toEqual(['part 0', 'part 1', 'part 2']);
    expect(res.segments[0].start_ms).toBe(0);
    expect(res.segments[1].start_ms).toBe(cuts[0]);
    expect(res.segments[2].start_ms).toBe(cuts[1]);
    // Each part's segment ends where the part ends, so the stitched transcript tiles the audio.
    expect(Math.abs(res.segments[0].end_ms - cuts[0])).toBeLessThan(100);
    expect(Math.abs(res.segments[2].end_ms - 12_000)).toBeLessThan(100);
    // Encoded parts are temp files, removed afterwards.
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('falls back to plain json for models without verbose_json, with estimated sentence times', async () => {
    asr.behave((req) =>
      req.fields.response_format?.[0] === 'verbose_json'
        ? { status: 400, json: { error: { message: "response_format 'verbose_json' is not compatible with model 'gpt-4o-transcribe'", type: 'invalid_request_error' } } }
        : { json: { text: 'And so, my fellow Americans. Ask not what your country can do for you!' } },
    );
    const res = (await engineFor({ OPENAI_ASR_MODEL: 'gpt-4o-transcribe', OPENAI_ASR_MAX_BYTES: '45000' }).transcribe(input(pattern))) as OpenAiAsrResult;
    // First part: refused verbose_json, then json; the other two parts go straight to json.
    expect(asr.requests.map((r) => r.fields.response_format[0])).toEqual(['verbose_json', 'json', 'json', 'json']);
    expect(res.timing).toBe('estimated');
    expect(res.segments).toHaveLength(6);
    expect(res.segments[0]).toMatchObject({ start_ms: 0, text: 'And so, my fellow Americans.' });
    expect(res.segments[1]).toMatchObject({ text: 'Ask not what your country can do for you!', end_ms: res.parts[0].end_ms });
    expect(res.segments[2].start_ms).toBe(res.parts[1].start_ms);
  });

  it('uses the gaps between VAD speech spans as cut points when the stage passes them', async () => {
    // Speech claimed at 0–5.5 s and 6.5–12 s: the only gap is 5.5–6.5 s, although the audio itself is silent elsewhere.
    const speechSpans = [
      { start_ms: 0, end_ms: 5500 },
      { start_ms: 6500, end_ms: 12_000 },
    ];
    const res = (await engineFor({ OPENAI_ASR_MAX_BYTES: '70000' }).transcribe(input(pattern, { speech: speechSpans }))) as OpenAiAsrResult;
    expect(res.parts.map((p) => p.start_ms)).toEqual([0, 6000]);
    expect(res.segments[1].start_ms).toBe(6000);
  });

  it('uploads nothing when the VAD found no speech', async () => {
    const res = await engineFor().transcribe(input(pattern, { speech: [] }));
    expect(res.segments).toEqual([]);
    expect(asr.requests).toHaveLength(0);
  });

  it('cuts at the byte budget when there is no silence', async () => {
    const tone = path.join(dir, 'tone.wav');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=f=300:d=10:r=16000', '-ac', '1', '-y', tone]);
    const res = (await engineFor({ OPENAI_ASR_MAX_BYTES: '50000' }).transcribe(input(tone))) as OpenAiAsrResult;
    expect(res.parts.length).toBeGreaterThanOrEqual(2);
    for (const r of asr.requests) expect(r.bytes).toBeLessThanOrEqual(50_000);
    expect(res.parts[res.parts.length - 1].end_ms).toBe(10_000);
  });
});

describe('openai engine: bad servers (issue 3)', () => {
  it('succeeds after a server answers 500 twice, and counts the retries', async () => {
    asr.behave(fail(2, 500, speech()));
    const retries = await counter(metrics.providerRetriesTotal, { provider: PROVIDER });
    const errors = await counter(metrics.providerErrorsTotal, { provider: PROVIDER, error_type: 'http_5xx' });
    const res = (await engineFor().transcribe(input(JFK))) as OpenAiAsrResult;
    expect(asr.requests).toHaveLength(3);
    expect(res.parts[0].attempts).toBe(3);
    expect(res.segments).toHaveLength(1);
    expect(await counter(metrics.providerRetriesTotal, { provider: PROVIDER })).toBe(retries + 2);
    expect(await counter(metrics.providerErrorsTotal, { provider: PROVIDER, error_type: 'http_5xx' })).toBe(errors + 2);
  });

  it('gives up after OPENAI_ASR_RETRIES with a clear error', async () => {
    asr.behave(fail(99, 503, speech()));
    const err = await engineFor({ OPENAI_ASR_RETRIES: '2' }).transcribe(input(JFK)).catch((e) => e);
    expect(err).toBeInstanceOf(PodbrainError);
    expect(err.code).toBe('asr_provider_failed');
    expect(err.message).toMatch(/HTTP 503.*gave up after 3 attempts/);
    expect(err.details).toMatchObject({ error_type: 'http_5xx', status: 503, attempts: 3, retryable: true });
    expect(asr.requests).toHaveLength(3);
  });

  it('honours 429 with Retry-After and counts it as rate limited', async () => {
    asr.behave(fail(1, 429, speech(), { 'retry-after': '0.2' }));
    const limited = await counter(metrics.providerRateLimitedTotal, { provider: PROVIDER });
    const t0 = Date.now();
    await engineFor().transcribe(input(JFK));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(asr.requests).toHaveLength(2);
    expect(await counter(metrics.providerRateLimitedTotal, { provider: PROVIDER })).toBe(limited + 1);
  });

  it('does not retry 401 and says to check the key', async () => {
    asr.behave(fail(99, 401, speech()));
    const err = await engineFor().transcribe(input(JFK)).catch((e) => e);
    expect(err.message).toMatch(/HTTP 401 \(check OPENAI_API_KEY\)/);
    expect(err.details).toMatchObject({ error_type: 'http_4xx', attempts: 1, retryable: false });
    expect(asr.requests).toHaveLength(1);
  });

  it('retries an HTML page answered with 200 (invalid_output)', async () => {
    let n = 0;
    asr.behave((req) => (n++ === 0 ? garbage()(req) : speech()(req)));
    const before = await counter(metrics.providerErrorsTotal, { provider: PROVIDER, error_type: 'invalid_output' });
    const res = await engineFor().transcribe(input(JFK));
    expect(res.segments).toHaveLength(1);
    expect(await counter(metrics.providerErrorsTotal, { provider: PROVIDER, error_type: 'invalid_output' })).toBe(before + 1);
  });

  it('reports a server that cannot be reached as a network error', async () => {
    const err = await createOpenAiAsrEngine(
      loadConfig({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_ASR_RETRIES: '1', OPENAI_ASR_RETRY_BASE_MS: '1' } }),
      { logger: silentLogger },
    )
      .transcribe(input(JFK))
      .catch((e) => e);
    expect(err.details).toMatchObject({ error_type: 'network', attempts: 2 });
    expect(err.message).toMatch(/cannot reach the ASR server at http:\/\/127\.0\.0\.1:9\/v1/);
  });

  it('an empty transcript answered with 200 is accepted by the engine and marked degraded by the quality guard', async () => {
    asr.behave(empty());
    const res = await engineFor().transcribe(input(JFK));
    expect(res.segments).toEqual([]);
    const speechSpans = [{ start_ms: 300, end_ms: 10_600 }];
    const q = assessTranscript({ segments: res.segments, speech: speechSpans, minCoverage: 0.9, countMetric: false });
    expect(q.status).toBe('degraded');
    expect(q.reasons.map(reasonCode)).toEqual(['empty_transcript', 'low_coverage']);
    expect(q.speech_coverage).toBe(0);
  });

  it('a looping transcript answered with 200 is marked degraded (repetition_loop)', async () => {
    asr.behave(loop('Thank you.', 5, 2));
    const res = await engineFor().transcribe(input(JFK));
    expect(res.segments.map((s) => s.text)).toEqual(Array(5).fill('Thank you.'));
    expect(res.segments[4]).toMatchObject({ start_ms: 8000, end_ms: 10_000 });
    const q = assessTranscript({ segments: res.segments, speech: [{ start_ms: 0, end_ms: 10_000 }], minCoverage: 0.9, countMetric: false });
    expect(q).toMatchObject({ status: 'degraded', speech_coverage: 1 });
    expect(q.reasons.map(reasonCode)).toEqual(['repetition_loop']);
  });

  it('stops waiting between retries when aborted', async () => {
    const ac = new AbortController();
    const failing = fail(99, 500, speech());
    let abortedAt = 0;
    asr.behave((req) => {
      // Abort while the engine waits for its 30 s backoff.
      setTimeout(() => {
        abortedAt = Date.now();
        ac.abort(new Error('cancelled by test'));
      }, 100);
      return failing(req);
    });
    const pending = engineFor({ OPENAI_ASR_RETRY_BASE_MS: '30000' }).transcribe(input(JFK, { signal: ac.signal }));
    await expect(pending).rejects.toThrow('cancelled by test');
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(asr.requests).toHaveLength(1);
  });
});

describe('text without times', () => {
  it('spreads sentences over the part by length', () => {
    expect(spreadSentences('One two. Three four five six!  Seven?', 10_000)).toEqual([
      { start_ms: 0, end_ms: 2353, text: 'One two.' },
      { start_ms: 2353, end_ms: 8235, text: 'Three four five six!' },
      { start_ms: 8235, end_ms: 10_000, text: 'Seven?' },
    ]);
    expect(spreadSentences('   ', 1000)).toEqual([]);
  });
});

describe('cut planning', () => {
  it('turns speech spans into the silences between them', () => {
    expect(gapsBetween([{ start_ms: 6000, end_ms: 8000 }, { start_ms: 1000, end_ms: 3000 }, { start_ms: 2500, end_ms: 4000 }], 10_000)).toEqual([
      { start_ms: 0, end_ms: 1000 },
      { start_ms: 4000, end_ms: 6000 },
      { start_ms: 8000, end_ms: 10_000 },
    ]);
  });

  it('reads ffmpeg silencedetect output', () => {
    const log = '[silencedetect @ 0x1] silence_start: 2.9995\n[silencedetect @ 0x1] silence_end: 4.0004 | silence_duration: 1.001\n[silencedetect @ 0x1] silence_start: -0.01\n[silencedetect @ 0x1] silence_end: 0.5 | silence_duration: 0.51\nsilence_start: 11.2';
    expect(parseSilences(log)).toEqual([
      { start_ms: 3000, end_ms: 4000 },
      { start_ms: 0, end_ms: 500 },
    ]);
  });

  it('cuts at the latest silence within the budget, else at the budget', () => {
    const silences = [
      { start_ms: 1000, end_ms: 1200 }, // too early (first half of the part): not used
      { start_ms: 6000, end_ms: 7000 },
      { start_ms: 8000, end_ms: 8400 },
    ];
    expect(planParts(25_000, silences, 10_000)).toEqual([
      { start_ms: 0, end_ms: 8200 },
      { start_ms: 8200, end_ms: 18_200 },
      { start_ms: 18_200, end_ms: 25_000 },
    ]);
    expect(planParts(5000, silences, 10_000)).toEqual([{ start_ms: 0, end_ms: 5000 }]);
  });
});
