import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { PodbrainError } from '../core/errors';
import { statusError, tooLarge, type HttpClient } from './http-client';
import { extensionFor, isTextContentType, looksLikeText, SNIFF_BYTES, sniffAudio } from './sniff';

/**
 * Audio downloads: streamed to a temp file in the destination directory, sha256 computed
 * while writing, type checked on the first bytes, retried with backoff on 5xx/429/timeouts/
 * resets, resumed with Range when the server allows it. The final name appears only when
 * the whole file is there; on final failure the temp file is removed.
 */

export interface DownloadOptions {
  client: HttpClient;
  url: string;
  destDir: string;
  /** Final file is `<baseName>.<ext>` (default `audio`). */
  baseName?: string;
  maxBytes: number;
  /** Extra attempts after the first (config `audio.downloadRetries`). */
  retries: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number | null) => void;
  /** Backoff before retry n: base·2^(n-1) plus up to 50% jitter, at most max (ms). */
  backoff?: { baseMs: number; maxMs: number };
  /**
   * Overall limit of one attempt, on top of the client's idle timeout (which a peer defeats by
   * sending a byte now and then): `baseMs + bytes / minBytesPerS`, where bytes is the size the
   * server declares (Content-Length of this response), or the bytes received so far when it
   * declares none. Absent or minBytesPerS 0: no overall limit.
   */
  pace?: DownloadPace;
  what?: string;
}

export interface DownloadPace {
  baseMs: number;
  minBytesPerS: number;
}

export interface DownloadResult {
  path: string;
  file: string;
  url: string;
  finalUrl: string;
  bytes: number;
  sha256: string;
  contentType: string | null;
  ext: string;
  /** Detected container/codec from the magic bytes, or null when unrecognised binary. */
  format: string | null;
  attempts: number;
  /** How many times a partial transfer was continued with Range. */
  resumes: number;
  /** How many times a partial transfer had to start over (no Range support, changed file). */
  restarts: number;
}

/** Bytes kept from the start for the type verdict and the error preview. */
const HEAD_BYTES = 256;

/** A file written sequentially with a running sha256 that always matches what is on disk. */
class AudioSink {
  bytes = 0;
  private hash: Hash = createHash('sha256');
  private head = Buffer.alloc(0);
  verdict: { format: string | null; ext: string | null } | null = null;

  private constructor(
    readonly tempPath: string,
    private readonly fh: FileHandle,
    private readonly maxBytes: number,
    private readonly subject: string,
  ) {}

  static async open(destDir: string, baseName: string, maxBytes: number, subject: string): Promise<AudioSink> {
    await fs.mkdir(destDir, { recursive: true });
    const tempPath = path.join(destDir, `.${baseName}.part-${randomBytes(4).toString('hex')}`);
    return new AudioSink(tempPath, await fs.open(tempPath, 'w'), maxBytes, subject);
  }

  async reset(): Promise<void> {
    await this.fh.truncate(0);
    this.bytes = 0;
    this.hash = createHash('sha256');
    this.head = Buffer.alloc(0);
    this.verdict = null;
  }

  async write(chunk: Buffer, contentType: string | null): Promise<void> {
    if (this.bytes + chunk.length > this.maxBytes) throw tooLarge(this.subject, this.maxBytes, `more than ${this.maxBytes} bytes received`);
    if (!this.verdict) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES);
      if (this.head.length >= SNIFF_BYTES) this.judge(contentType);
    }
    await this.fh.write(chunk, 0, chunk.length, this.bytes);
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** Decides from the first bytes whether this is audio; throws `download_not_audio` for text. */
  judge(contentType: string | null): void {
    if (this.verdict) return;
    if (!this.head.length) throw new PodbrainError('download_empty', `${this.subject} is empty (0 bytes)`, { retryable: false });
    const audio = sniffAudio(this.head);
    if (audio) {
      this.verdict = { format: audio.format, ext: audio.ext };
      return;
    }
    const type = contentType?.split(';')[0].trim().toLowerCase() ?? '';
    const textType = isTextContentType(contentType);
    if (textType || looksLikeText(this.head)) {
      const preview = JSON.stringify(this.head.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 60));
      throw new PodbrainError(
        'download_not_audio',
        `${this.subject} is not audio: ${textType ? `the server sent Content-Type ${type} and ` : ''}it starts with text ${preview}`,
        { contentType, retryable: false },
      );
    }
    this.verdict = { format: null, ext: null };
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  async discard(): Promise<void> {
    await this.close();
    await fs.rm(this.tempPath, { force: true });
  }
}

function parseContentRange(v: string | undefined): { start: number; end: number; total: number | null } | null {
  const m = v?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  return m ? { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) } : null;
}

function retryAfterMs(v: string | undefined): number | null {
  if (!v) return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - Date.now());
}

class RetryableStatus extends PodbrainError {}

/**
 * The overall deadline of one attempt (see DownloadOptions.pace). The deadline only moves
 * later as bytes arrive, so a timer set for the current one re-arms when it fires early.
 */
class PaceGuard {
  readonly controller = new AbortController();
  private readonly t0 = Date.now();
  private declared: number | null = null;
  private received = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pace: DownloadPace,
    private readonly subject: () => string,
  ) {
    this.arm();
  }

  /** The size this response announces (bytes it will transfer), once its headers are in. */
  declare(bytes: number | null): void {
    this.declared = bytes;
  }

  add(bytes: number): void {
    this.received += bytes;
  }

  private limitMs(): number {
    return this.pace.baseMs + ((this.declared ?? this.received) * 1000) / this.pace.minBytesPerS;
  }

  private arm(): void {
    const left = this.t0 + this.limitMs() - Date.now();
    if (left > 0) {
      this.timer = setTimeout(() => this.arm(), Math.min(left, 2 ** 31 - 1));
      return;
    }
    const elapsed = Date.now() - this.t0;
    const what = this.declared !== null ? `${this.declared} bytes announced` : 'no size announced';
    this.controller.abort(
      new PodbrainError(
        'http_timeout',
        `${this.subject()} is arriving too slowly: ${this.received} bytes in ${(elapsed / 1000).toFixed(1)} s (${what}; the limit is ${this.pace.baseMs} ms plus 1 s per ${this.pace.minBytesPerS} bytes, DOWNLOAD_TIMEOUT_BASE_MS / DOWNLOAD_MIN_BYTES_PER_S)`,
        { retryable: true, received: this.received, declared: this.declared, elapsed_ms: elapsed, reason: 'too_slow' },
      ),
    );
  }

  /** Our abort, when it was ours that ended the attempt. */
  error(): PodbrainError | null {
    return this.controller.signal.aborted ? (this.controller.signal.reason as PodbrainError) : null;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

export async function downloadAudio(opts: DownloadOptions): Promise<DownloadResult> {
  const baseName = opts.baseName ?? 'audio';
  const what = opts.what ?? 'enclosure';
  const backoff = opts.backoff ?? { baseMs: 500, maxMs: 30_000 };
  const sink = await AudioSink.open(opts.destDir, baseName, opts.maxBytes, `the ${what} at ${opts.url}`);
  let attempts = 0;
  let resumes = 0;
  let restarts = 0;
  let validator: string | null = null;
  let noRange = false;
  let finalUrl = opts.url;
  let contentType: string | null = null;

  try {
    for (;;) {
      attempts++;
      let waitHint: number | null = null;
      const guard = opts.pace && opts.pace.minBytesPerS > 0 ? new PaceGuard(opts.pace, () => `the ${what} at ${finalUrl}`) : null;
      const signals = [opts.signal, guard?.controller.signal].filter((x): x is AbortSignal => !!x);
      const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
      try {
        const from = sink.bytes;
        const headers: Record<string, string> = { accept: 'audio/*, video/*;q=0.9, application/octet-stream;q=0.8, */*;q=0.1' };
        if (from > 0 && !noRange) {
          headers.range = `bytes=${from}-`;
          if (validator) headers['if-range'] = validator;
        }
        const res = await opts.client.get(opts.url, { headers, maxBytes: opts.maxBytes, decompress: false, what, signal });
        finalUrl = res.url;
        guard?.declare(res.contentLength);
        let total: number | null;
        if (res.status === 206 && headers.range) {
          const cr = parseContentRange(res.headers['content-range']);
          if (!cr || cr.start !== from) {
            // Not the continuation we asked for: start over without Range.
            await res.dump();
            await sink.reset();
            noRange = true;
            restarts++;
            attempts--;
            continue;
          }
          resumes++;
          total = cr.total;
        } else if (res.status === 416 && headers.range) {
          await res.dump();
          await sink.reset();
          noRange = true;
          restarts++;
          attempts--;
          continue;
        } else if (res.status === 200) {
          if (from > 0) {
            await sink.reset();
            restarts++;
          }
          total = res.contentLength;
        } else {
          await res.dump();
          waitHint = retryAfterMs(res.headers['retry-after']);
          const err = statusError(res, what);
          throw err.details.retryable ? new RetryableStatus(err.code, err.message, err.details) : err;
        }
        noRange = false;
        if (total !== null && total > opts.maxBytes) {
          await res.dump();
          throw tooLarge(`the ${what} at ${res.url}`, opts.maxBytes, `the server announces ${total} bytes`);
        }
        validator = res.headers.etag && !res.headers.etag.startsWith('W/') ? res.headers.etag : (res.headers['last-modified'] ?? null);
        contentType = res.headers['content-type'] ?? contentType;
        await pump(res.body, sink, contentType, total, (bytes, of) => {
          guard?.add(bytes);
          opts.onProgress?.(sink.bytes, of);
        });
        sink.judge(contentType);
        if (total !== null && sink.bytes !== total) {
          throw new PodbrainError('http_network', `the ${what} at ${res.url} ended after ${sink.bytes} of ${total} bytes`, { retryable: true });
        }
        break;
      } catch (caught) {
        // Aborted by the pace guard: whatever undici reported, the cause is ours.
        const e = guard?.error() && !opts.signal?.aborted ? guard.error() : caught;
        const retryable = e instanceof PodbrainError && e.details.retryable === true;
        if (!retryable || attempts > opts.retries || opts.signal?.aborted) {
          if (e instanceof PodbrainError && attempts > 1) e.message += ` (after ${attempts} attempts)`;
          throw e;
        }
        const exp = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (attempts - 1));
        const delay = Math.min(backoff.maxMs, Math.max(waitHint ?? 0, exp + Math.random() * exp * 0.5));
        await sleep(delay, undefined, { signal: opts.signal });
      } finally {
        guard?.stop();
      }
    }
  } catch (e) {
    await sink.discard();
    throw e;
  }

  await sink.close();
  const ext = sink.verdict?.ext ?? extensionFor(contentType, finalUrl);
  const file = `${baseName}.${ext}`;
  const dest = path.join(opts.destDir, file);
  await fs.rename(sink.tempPath, dest);
  return {
    path: dest,
    file,
    url: opts.url,
    finalUrl,
    bytes: sink.bytes,
    sha256: sink.digest(),
    contentType,
    ext,
    format: sink.verdict?.format ?? null,
    attempts,
    resumes,
    restarts,
  };
}

async function pump(
  body: Readable,
  sink: AudioSink,
  contentType: string | null,
  total: number | null,
  onChunk: (bytes: number, total: number | null) => void,
): Promise<void> {
  try {
    for await (const chunk of body) {
      await sink.write(chunk as Buffer, contentType);
      onChunk((chunk as Buffer).length, total);
    }
  } catch (e) {
    body.destroy();
    throw e;
  }
}

/** Copies a local audio file (enclosures of local feeds) with the same checks as a download. */
export async function copyLocalAudio(opts: { source: string; destDir: string; baseName?: string; maxBytes: number }): Promise<DownloadResult> {
  const baseName = opts.baseName ?? 'audio';
  const subject = `the enclosure file ${opts.source}`;
  let size: number;
  try {
    size = (await fs.stat(opts.source)).size;
  } catch (e) {
    throw new PodbrainError('enclosure_not_found', `${subject} cannot be read: ${(e as Error).message}`, { retryable: false });
  }
  if (size > opts.maxBytes) throw tooLarge(subject, opts.maxBytes, `the file has ${size} bytes`);
  const sink = await AudioSink.open(opts.destDir, baseName, opts.maxBytes, subject);
  try {
    for await (const chunk of createReadStream(opts.source)) await sink.write(chunk as Buffer, null);
    sink.judge(null);
  } catch (e) {
    await sink.discard();
    throw e;
  }
  await sink.close();
  const ext = sink.verdict?.ext ?? (path.extname(opts.source).slice(1).toLowerCase() || 'bin');
  const file = `${baseName}.${ext}`;
  const dest = path.join(opts.destDir, file);
  await fs.rename(sink.tempPath, dest);
  const url = `file://${path.resolve(opts.source)}`;
  return { path: dest, file, url, finalUrl: url, bytes: sink.bytes, sha256: sink.digest(), contentType: null, ext, format: sink.verdict?.format ?? null, attempts: 1, resumes: 0, restarts: 0 };
}
