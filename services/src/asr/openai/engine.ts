import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile } from 'openai';
import { probeAudio } from '../../audio/probe';
import type { Config } from '../../config/config';
import { PodbrainError } from '../../core/errors';
import { createLogger, type Logger } from '../../core/logger';
import { isRetryableStatus, retryAfterMs, withRetries } from '../../net/retry';
import { metrics } from '../../telemetry/metrics';
import type { AsrEngine, AsrInput, AsrResult, TranscriptSegment } from '../types';
import { detectSilences, encodeForUpload, mimeOf, planParts, type Span } from './audio-split';

/**
 * The `openai` engine: any OpenAI-compatible `/v1/audio/transcriptions` (OpenAI itself,
 * speaches / faster-whisper-server, whisper.cpp's server) with `verbose_json` segments.
 * OPENAI_BASE_URL ends in `/v1`; whisper.cpp's `whisper-server` needs
 * `--inference-path /v1/audio/transcriptions` to serve that path.
 *
 * The 16 kHz WAV is re-encoded into a compact upload format (OPENAI_ASR_UPLOAD_FORMAT, mp3
 * by default). Above OPENAI_ASR_MAX_BYTES it is cut into parts at silences and the parts'
 * segments are shifted by their start. Each upload is retried (net/retry.ts: exponential backoff
 * with jitter, Retry-After honoured) on 408, 409, 429, 5xx, timeouts, network errors and
 * garbage answers; retries and errors are
 * counted in `podbrain_provider_retries_total` / `podbrain_provider_errors_total` with
 * provider `openai-asr`.
 */

export const PROVIDER = 'openai-asr';
/** Parts are planned to this share of the byte limit (bitrate varies a little along the file). */
const SIZE_HEADROOM = 0.9;
const MAX_BACKOFF_MS = 60_000;
/** Upload bytes per ms of audio for the constant-bitrate formats (see audio-split.ts); FLAC varies. */
const BYTES_PER_MS: Record<string, number | undefined> = { mp3: 64_000 / 8 / 1000, ogg: 32_000 / 8 / 1000, wav: 32 };

export type ProviderErrorType = 'http_5xx' | 'http_4xx' | 'rate_limited' | 'timeout' | 'network' | 'invalid_output';

export interface OpenAiAsrResult extends AsrResult {
  /** The uploaded parts (one unless the file was split) with their place in the audio. */
  parts: { start_ms: number; end_ms: number; bytes: number; attempts: number }[];
  /** 'segments': times from the server; 'estimated': the server gave text only, times are spread by length. */
  timing: 'segments' | 'estimated';
}

export interface OpenAiAsrDeps {
  logger?: Logger;
  /** Random source for the backoff jitter (tests). */
  random?: () => number;
}

const LANGUAGE_CODES: Record<string, string> = {
  english: 'en', german: 'de', french: 'fr', spanish: 'es', italian: 'it', portuguese: 'pt', dutch: 'nl', polish: 'pl',
  russian: 'ru', ukrainian: 'uk', turkish: 'tr', swedish: 'sv', norwegian: 'no', danish: 'da', finnish: 'fi', czech: 'cs',
  greek: 'el', japanese: 'ja', chinese: 'zh', korean: 'ko', arabic: 'ar', hebrew: 'he', hindi: 'hi', indonesian: 'id',
};

/** OpenAI answers full names ("english"); other servers answer codes ("en"). */
export function languageCode(raw: unknown): string | null {
  if (typeof raw !== 'string' || !raw.trim()) return null;
  const l = raw.trim().toLowerCase();
  return LANGUAGE_CODES[l] ?? l;
}

class AttemptError extends Error {
  constructor(
    readonly type: ProviderErrorType,
    message: string,
    readonly retryable: boolean,
    readonly status: number | null = null,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

function classify(e: unknown, baseUrl: string): AttemptError {
  if (e instanceof AttemptError) return e;
  if (e instanceof APIConnectionTimeoutError) return new AttemptError('timeout', `the ASR server at ${baseUrl} did not answer in time`, true);
  if (e instanceof APIConnectionError) {
    const cause = (e.cause as Error | undefined)?.message;
    return new AttemptError('network', `cannot reach the ASR server at ${baseUrl}: ${cause ?? e.message}`, true);
  }
  if (e instanceof APIError && typeof e.status === 'number') {
    const s = e.status;
    const detail = e.message.replace(/^\d{3}\s*/, '').slice(0, 300);
    const wait = retryAfterMs(e.headers);
    if (s === 429) return new AttemptError('rate_limited', `the ASR server is rate limiting (HTTP 429): ${detail}`, true, s, wait);
    if (s >= 500) return new AttemptError('http_5xx', `the ASR server failed with HTTP ${s}: ${detail}`, true, s, wait);
    if (s === 408) return new AttemptError('timeout', `the ASR server timed out the request (HTTP 408)`, true, s, wait);
    const hint =
      s === 401 || s === 403
        ? ' (check OPENAI_API_KEY)'
        : s === 404
          ? ' (OPENAI_BASE_URL usually ends in /v1, and OPENAI_ASR_MODEL must exist there)'
          : s === 413
            ? ' (lower OPENAI_ASR_MAX_BYTES to the server’s upload limit)'
            : '';
    return new AttemptError('http_4xx', `the ASR server refused the request with HTTP ${s}${hint}: ${detail}`, isRetryableStatus(s), s, wait);
  }
  return new AttemptError('network', `ASR request failed: ${(e as Error)?.message ?? String(e)}`, false);
}

/** Text without times → one segment per sentence, times spread over `[0, partMs)` by length. */
export function spreadSentences(text: string, partMs: number): TranscriptSegment[] {
  const sentences = text
    .replace(/\s+/g, ' ')
    .trim()
    .split(/(?<=[.!?…])\s+(?=\S)/u)
    .filter(Boolean);
  const chars = sentences.reduce((n, t) => n + t.length, 0);
  let cursor = 0;
  return sentences.map((t, i) => {
    const start = Math.round((cursor / chars) * partMs);
    cursor += t.length;
    const end = i === sentences.length - 1 ? partMs : Math.round((cursor / chars) * partMs);
    return { start_ms: start, end_ms: end, text: t };
  });
}

/** verbose_json → segments relative to the part; anything else is `invalid_output`. */
function segmentsFromResponse(
  raw: unknown,
  partMs: number,
): { segments: TranscriptSegment[]; language: string | null; timing?: 'estimated' } {
  let doc = raw;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc);
    } catch {
      throw new AttemptError('invalid_output', `the ASR server answered something that is not JSON: ${JSON.stringify(String(raw).slice(0, 120))}`, true);
    }
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new AttemptError('invalid_output', 'the ASR server answered JSON that is not an object', true);
  const o = doc as { text?: unknown; segments?: unknown; language?: unknown };
  const language = languageCode(o.language);
  if (Array.isArray(o.segments)) {
    const segments: TranscriptSegment[] = [];
    for (const s of o.segments as { start?: unknown; end?: unknown; text?: unknown }[]) {
      const start = Number(s?.start);
      const end = Number(s?.end);
      if (!Number.isFinite(start) || !Number.isFinite(end) || typeof s?.text !== 'string') {
        throw new AttemptError('invalid_output', `the ASR server answered a segment without start/end/text: ${JSON.stringify(s).slice(0, 200)}`, true);
      }
      const text = s.text.trim();
      if (!text) continue;
      const startMs = Math.max(0, Math.round(start * 1000));
      segments.push({ start_ms: startMs, end_ms: Math.max(startMs, Math.round(end * 1000)), text });
    }
    return { segments, language };
  }
  if (typeof o.text === 'string') {
    // Models/servers without verbose_json (e.g. gpt-4o-transcribe): sentences spread over the part by length.
    return { segments: spreadSentences(o.text, partMs), language, timing: 'estimated' as const };
  }
  throw new AttemptError('invalid_output', 'the ASR server answered JSON without "segments" or "text"', true);
}

/** The stretches of `[0, durationMs)` outside the given speech spans. */
export function gapsBetween(speech: Span[], durationMs: number): Span[] {
  const sorted = [...speech].sort((a, b) => a.start_ms - b.start_ms);
  const gaps: Span[] = [];
  let cursor = 0;
  for (const s of sorted) {
    if (s.start_ms > cursor) gaps.push({ start_ms: cursor, end_ms: s.start_ms });
    cursor = Math.max(cursor, s.end_ms);
  }
  if (durationMs > cursor) gaps.push({ start_ms: cursor, end_ms: durationMs });
  return gaps;
}

export function createOpenAiAsrEngine(config: Config, deps: OpenAiAsrDeps = {}): AsrEngine {
  const log = deps.logger ?? createLogger({ service: 'asr-openai', level: config.logLevel });
  const random = deps.random ?? Math.random;
  const o = config.openai;
  const baseUrl = o.baseUrl || 'https://api.openai.com/v1';
  let client: OpenAI | null = null;
  const clientOf = () =>
    (client ??= new OpenAI({
      // Local servers (speaches, whisper.cpp) need no key, but the SDK insists on one.
      apiKey: o.apiKey || 'not-needed',
      baseURL: baseUrl,
      maxRetries: 0, // retried here, so every retry is counted
      timeout: o.asrTimeoutMs,
    }));

  const unavailableReason = (): string | null =>
    !o.baseUrl && !o.apiKey
      ? 'OpenAI-compatible ASR is not configured: set OPENAI_BASE_URL (e.g. a local speaches or whisper.cpp server, http://host:8000/v1) or OPENAI_API_KEY'
      : null;

  // Set once the server says the model cannot do verbose_json (HTTP 400 naming it): plain json from then on.
  let plainJson = false;

  async function uploadOnce(file: string, part: Span, signal: AbortSignal) {
    const body = await readFile(file);
    const upload = await toFile(body, path.basename(file), { type: mimeOf(o.asrUploadFormat) });
    const language = config.asr.language === 'auto' ? undefined : config.asr.language;
    const request = plainJson
      ? { file: upload, model: o.asrModel, response_format: 'json' as const }
      : { file: upload, model: o.asrModel, response_format: 'verbose_json' as const, timestamp_granularities: ['segment' as const], temperature: 0 };
    try {
      const raw: unknown = await clientOf().audio.transcriptions.create({ ...request, ...(language ? { language } : {}) }, { signal });
      return segmentsFromResponse(raw, part.end_ms - part.start_ms);
    } catch (e) {
      if (!plainJson && e instanceof APIError && e.status === 400 && /verbose_json|timestamp_granularities/i.test(e.message)) {
        plainJson = true;
        log.warn({ model: o.asrModel, err: e.message }, 'the ASR model cannot answer verbose_json: using json, segment times are estimated');
        return uploadOnce(file, part, signal);
      }
      throw e;
    }
  }

  function uploadWithRetries(file: string, part: Span, signal: AbortSignal) {
    return withRetries(async (attempt) => ({ ...(await uploadOnce(file, part, signal)), attempts: attempt }), {
      retries: o.asrRetries,
      baseMs: o.asrRetryBaseMs,
      maxDelayMs: MAX_BACKOFF_MS,
      signal,
      random,
      classify: (e) => classify(e, baseUrl),
      onError: ({ verdict: err }) => {
        metrics.providerErrorsTotal.inc({ provider: PROVIDER, error_type: err.type });
        if (err.type === 'rate_limited') metrics.providerRateLimitedTotal.inc({ provider: PROVIDER });
      },
      onRetry: ({ verdict: err, attempt, delayMs }) => {
        metrics.providerRetriesTotal.inc({ provider: PROVIDER });
        log.warn({ provider: PROVIDER, error_type: err.type, status: err.status, attempt, delay_ms: Math.round(delayMs) }, `ASR upload failed, retrying: ${err.message}`);
      },
      giveUp: ({ error, verdict: err, attempt }) =>
        new PodbrainError(
          'asr_provider_failed',
          `${err.message}${err.retryable ? ` (gave up after ${attempt} attempts)` : ''}`,
          { provider: PROVIDER, error_type: err.type, status: err.status, attempts: attempt, retryable: err.retryable },
          { cause: error },
        ),
    });
  }

  return {
    name: 'openai',
    unavailableReason,

    fingerprintParts() {
      return {
        engine: 'openai',
        base_url: baseUrl.replace(/\/+$/, ''),
        model: o.asrModel,
        language: config.asr.language,
        upload_format: o.asrUploadFormat,
      };
    },

    async transcribe(input: AsrInput): Promise<OpenAiAsrResult> {
      const reason = unavailableReason();
      if (reason) throw new PodbrainError('asr_unavailable', reason, { retryable: false });
      if (!input.wavPath) throw new PodbrainError('asr_no_audio', 'the openai engine needs the preprocessed WAV (wavPath is null)', { retryable: false });
      const wav = input.wavPath;
      const durationMs = input.durationMs ?? (await probeAudio(wav)).durationMs;
      if (!durationMs) throw new PodbrainError('audio_unreadable', `cannot tell the duration of ${wav}`, { retryable: false });

      // The VAD found nothing to transcribe (silence, music): nothing to upload or pay for.
      if (input.speech && input.speech.length === 0) {
        log.info({ duration_ms: durationMs }, 'no speech detected: nothing uploaded');
        input.onProgress?.(1);
        return { engine: 'openai', model: o.asrModel, language: config.asr.language === 'auto' ? null : config.asr.language, segments: [], parts: [], timing: 'segments' };
      }

      const dir = await mkdtemp(path.join(os.tmpdir(), 'podbrain-asr-'));
      try {
        const ext = o.asrUploadFormat;
        const whole = path.join(dir, `audio.${ext}`);
        // Constant-bitrate formats: a file far over the limit is split without encoding it whole first.
        const rate = BYTES_PER_MS[o.asrUploadFormat];
        const predicted = rate ? Math.round(rate * durationMs) : null;
        const size = predicted !== null && predicted > o.asrMaxBytes * 1.2 ? predicted : await encodeForUpload(wav, whole, o.asrUploadFormat, undefined, input.signal);
        let parts: { span: Span; file: string; bytes: number }[] = [{ span: { start_ms: 0, end_ms: durationMs }, file: whole, bytes: size }];
        if (size > o.asrMaxBytes) {
          // Gaps between the VAD's speech spans are the silences; without them ask ffmpeg.
          const silences = input.speech ? gapsBetween(input.speech, durationMs) : await detectSilences(wav, { signal: input.signal });
          let maxPartMs = Math.floor(((o.asrMaxBytes * SIZE_HEADROOM) / size) * durationMs);
          for (let round = 0; ; round++) {
            const spans = planParts(durationMs, silences, maxPartMs);
            parts = [];
            for (const [i, span] of spans.entries()) {
              const file = path.join(dir, `part-${round}-${i}.${ext}`);
              parts.push({ span, file, bytes: await encodeForUpload(wav, file, o.asrUploadFormat, span, input.signal) });
            }
            const biggest = Math.max(...parts.map((p) => p.bytes));
            if (biggest <= o.asrMaxBytes) break;
            if (round >= 3) {
              throw new PodbrainError('asr_split', `cannot cut ${wav} into parts under ${o.asrMaxBytes} bytes (largest part ${biggest} bytes)`, { retryable: false });
            }
            maxPartMs = Math.floor(maxPartMs * (o.asrMaxBytes / biggest) * SIZE_HEADROOM);
          }
          log.info({ bytes: size, limit: o.asrMaxBytes, parts: parts.length, cuts_ms: parts.slice(1).map((p) => p.span.start_ms) }, 'audio split at silences for upload');
        }

        const segments: TranscriptSegment[] = [];
        const uploaded: OpenAiAsrResult['parts'] = [];
        let timing: OpenAiAsrResult['timing'] = 'segments';
        let language: string | null = null;
        for (const [i, part] of parts.entries()) {
          const res = await uploadWithRetries(part.file, part.span, input.signal);
          language ??= res.language;
          if (res.timing === 'estimated') timing = 'estimated';
          for (const s of res.segments) {
            // A segment may not run past its part (servers pad the last one); shift by the cut point.
            const end = Math.min(s.end_ms, part.span.end_ms - part.span.start_ms);
            segments.push({ start_ms: s.start_ms + part.span.start_ms, end_ms: Math.max(s.start_ms, end) + part.span.start_ms, text: s.text });
          }
          uploaded.push({ start_ms: part.span.start_ms, end_ms: part.span.end_ms, bytes: part.bytes, attempts: res.attempts });
          input.onProgress?.((i + 1) / parts.length);
        }
        return {
          engine: 'openai',
          model: o.asrModel,
          language: language ?? (config.asr.language === 'auto' ? null : config.asr.language),
          segments,
          parts: uploaded,
          timing,
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
