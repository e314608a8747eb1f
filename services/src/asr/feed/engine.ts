import { open } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/config';
import { PodbrainError, errorMessage } from '../../core/errors';
import { createLogger, type Logger } from '../../core/logger';
import type { TranscriptRef } from '../../feeds/types';
import { httpClientFor, statusError, tooLarge } from '../../net/http-client';
import type { AsrEngine, AsrInput, AsrResult } from '../types';
import { FORMAT_PREFERENCE, formatOf, parseTranscript, type TranscriptFormat } from './formats';

/**
 * The `feed` engine: uses the publisher's own transcript (`podcast:transcript`) instead of
 * running ASR. It costs nothing and is often better, so it comes first in ASR_ENGINES by
 * default. When an episode lists several, the best type is tried first (JSON > VTT > SRT >
 * HTML > text), preferring the configured language; a transcript that cannot be fetched
 * or parsed falls through to the next one.
 */

/** Bumped when parsing changes the output for the same file (part of the stage fingerprint). */
const PARSER_VERSION = 1;

export interface FetchedTranscript {
  body: Buffer;
  contentType: string | null;
}

export interface FeedTranscriptDeps {
  /** Fetches one transcript URL (default: the project's guarded HTTP client with the size cap). */
  fetch?: (url: string, opts: { maxBytes: number; signal: AbortSignal }) => Promise<FetchedTranscript>;
  /**
   * Read `file:` URLs and plain paths. Only for feeds read from the local disk: a remote
   * feed must never make podbrain read local files. Default false.
   */
  allowLocalFiles?: boolean;
  logger?: Logger;
}

/** The feed-level extras the result carries for transcript.json and logs. */
export interface FeedAsrResult extends AsrResult {
  source: { url: string; format: TranscriptFormat; timing: 'cues' | 'estimated'; warnings: string[] };
}

interface Candidate {
  ref: TranscriptRef;
  format: TranscriptFormat | null;
}

const isRemote = (url: string) => /^https?:\/\//i.test(url);

function rank(refs: TranscriptRef[], language: string): Candidate[] {
  const lang = language === 'auto' ? null : language.toLowerCase();
  const langScore = (r: TranscriptRef) => {
    if (!lang || !r.language) return 1;
    const l = r.language.toLowerCase();
    return l === lang || l.startsWith(`${lang}-`) ? 0 : 2;
  };
  const formatScore = (f: TranscriptFormat | null) => (f === null ? FORMAT_PREFERENCE.length : FORMAT_PREFERENCE.indexOf(f));
  return refs
    .map((ref) => ({ ref, format: formatOf(ref.type, ref.url) }))
    .map((c, idx) => ({ c, idx }))
    .sort((a, b) => langScore(a.c.ref) - langScore(b.c.ref) || formatScore(a.c.format) - formatScore(b.c.format) || a.idx - b.idx)
    .map(({ c }) => c);
}

function decode(body: Buffer, contentType: string | null): string {
  if (body[0] === 0xff && body[1] === 0xfe) return new TextDecoder('utf-16le').decode(body);
  if (body[0] === 0xfe && body[1] === 0xff) return new TextDecoder('utf-16be').decode(body);
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

async function readLocal(url: string, maxBytes: number): Promise<FetchedTranscript> {
  const file = url.startsWith('file:') ? fileURLToPath(url) : path.resolve(url);
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new PodbrainError('transcript_unreadable', `cannot read transcript file ${file}: ${e.code ?? e.message}`, { url });
  });
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw tooLarge(`the transcript file ${file}`, maxBytes, `the file has ${size} bytes`);
    return { body: await fh.readFile(), contentType: null };
  } finally {
    await fh.close();
  }
}

export function createFeedTranscriptEngine(config: Config, deps: FeedTranscriptDeps = {}): AsrEngine {
  const log = deps.logger ?? createLogger({ service: 'asr-feed', level: config.logLevel });
  const maxBytes = config.asr.feedTranscriptMaxBytes;

  const fetchRemote =
    deps.fetch ??
    (async (url: string, opts: { maxBytes: number; signal: AbortSignal }): Promise<FetchedTranscript> => {
      // Like an enclosure download: an overall limit besides the idle timeout, so a server that drips
      // bytes cannot hold a transcribe job (DOWNLOAD_TIMEOUT_BASE_MS + the size cap / DOWNLOAD_MIN_BYTES_PER_S).
      const { downloadTimeoutBaseMs: baseMs, downloadMinBytesPerS: minRate } = config.audio;
      const overallTimeoutMs = minRate > 0 ? baseMs + Math.ceil((opts.maxBytes * 1000) / minRate) : undefined;
      const res = await httpClientFor(config).get(url, { maxBytes: opts.maxBytes, signal: opts.signal, overallTimeoutMs, what: 'publisher transcript' });
      if (res.status !== 200) {
        await res.dump();
        throw statusError(res, 'publisher transcript');
      }
      return { body: await res.buffer(), contentType: res.headers['content-type'] ?? null };
    });

  const usable = (refs: TranscriptRef[]) => refs.filter((r) => isRemote(r.url) || deps.allowLocalFiles);

  const unavailableReason = (input: Pick<AsrInput, 'transcripts'>): string | null => {
    if (!input.transcripts.length) return 'the episode lists no publisher transcript (podcast:transcript)';
    if (!usable(input.transcripts).length) {
      return `the episode's transcripts are local files (${input.transcripts.map((t) => t.url).join(', ')}), which are only read for feeds on the local disk`;
    }
    return null;
  };

  return {
    name: 'feed',

    unavailableReason,

    fingerprintParts(input?: Pick<AsrInput, 'transcripts'>) {
      const parts: Record<string, unknown> = { engine: 'feed', parser_version: PARSER_VERSION, preference: FORMAT_PREFERENCE.join('>'), language: config.asr.language };
      // A publisher that moves or re-publishes its transcript (new URL or type) gets it read again.
      if (input) parts.transcripts = usable(input.transcripts).map((t) => `${t.type} ${t.url} ${t.language ?? ''}`).sort();
      return parts;
    },

    async transcribe(input: AsrInput): Promise<FeedAsrResult> {
      const candidates = rank(usable(input.transcripts), config.asr.language);
      if (!candidates.length) {
        throw new PodbrainError('transcript_unavailable', unavailableReason(input) ?? 'no usable publisher transcript', { retryable: false });
      }
      const failures: string[] = [];
      let retryable = false;
      for (const [i, { ref, format }] of candidates.entries()) {
        input.signal.throwIfAborted();
        try {
          const fetched = isRemote(ref.url)
            ? await fetchRemote(ref.url, { maxBytes, signal: input.signal })
            : await readLocal(ref.url, maxBytes);
          const parsed = parseTranscript(decode(fetched.body, fetched.contentType), format ?? formatOf(fetched.contentType, ref.url), {
            durationMs: input.durationMs,
          });
          input.onProgress?.((i + 1) / candidates.length);
          if (!parsed.segments.length) {
            failures.push(`${ref.url}: no text found (${parsed.format}${parsed.warnings.length ? `; ${parsed.warnings.slice(0, 3).join('; ')}` : ''})`);
            continue;
          }
          if (parsed.warnings.length) log.warn({ url: ref.url, format: parsed.format, warnings: parsed.warnings.slice(0, 20) }, 'publisher transcript had problems');
          input.onProgress?.(1);
          return {
            engine: 'feed',
            model: `podcast:transcript/${parsed.format}`,
            language: ref.language,
            segments: parsed.segments,
            source: { url: ref.url, format: parsed.format, timing: parsed.timing, warnings: parsed.warnings },
          };
        } catch (e) {
          if ((e as Error)?.name === 'AbortError') throw e;
          if (e instanceof PodbrainError && e.details.retryable === true) retryable = true;
          failures.push(`${ref.url}: ${errorMessage(e)}`);
        }
      }
      throw new PodbrainError('transcript_unavailable', `no publisher transcript could be used:\n  - ${failures.join('\n  - ')}`, {
        failures,
        retryable,
      });
    },
  };
}
