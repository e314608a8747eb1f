import { open } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { httpClientFor, statusError, tooLarge, type HttpClient } from '../net/http-client';
import { shorten } from '../text/words';
import { MAX_PUBLISHER_CHAPTERS, MAX_TITLE_CHARS, type Chapter } from './types';

/**
 * Publisher chapters: a Podcasting 2.0 `podcast:chapters` JSON document
 * (`{version, chapters: [{startTime, endTime?, title?, img?, url?, toc?}]}`, times in seconds),
 * fetched through the guarded HTTP client and read leniently: entries without a usable start
 * (missing, negative, not finite) are dropped, as are `toc: false` ones (markers meant for the
 * player's artwork, not the chapter list); titles are trimmed and bounded; img/url only http(s).
 */

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A time in seconds as the spec has it (a number); a numeric string is tolerated. */
function seconds(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 && n < 1e7 ? n : null;
}

function httpUrl(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 2048) return null;
  try {
    const u = new URL(v.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

export function cleanTitle(v: unknown): string {
  if (typeof v !== 'string') return '';
  const t = v.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return shorten(t, MAX_TITLE_CHARS);
}

export type ParsedChapters = { ok: true; chapters: Chapter[] } | { ok: false; problem: string };

/** Reads a parsed chapters document; `problem` says why nothing usable is in it. */
export function parsePodcastChapters(doc: unknown): ParsedChapters {
  if (!isRecord(doc)) return { ok: false, problem: 'the chapters document is not a JSON object' };
  if (!Array.isArray(doc.chapters)) return { ok: false, problem: 'the chapters document has no "chapters" array' };
  const kept: { start: number; end: number | null; title: string; url: string | null; image: string | null; order: number }[] = [];
  for (const [order, c] of doc.chapters.entries()) {
    if (kept.length >= MAX_PUBLISHER_CHAPTERS) break;
    if (!isRecord(c) || c.toc === false) continue;
    const start = seconds(c.startTime);
    if (start === null) continue;
    const end = seconds(c.endTime);
    kept.push({ start, end: end !== null && end > start ? end : null, title: cleanTitle(c.title), url: httpUrl(c.url), image: httpUrl(c.img), order });
  }
  if (!kept.length) return { ok: false, problem: 'the chapters document has no chapter with a valid startTime' };
  kept.sort((a, b) => a.start - b.start || a.order - b.order);
  const chapters = kept.map((c, i): Chapter => {
    const startMs = Math.round(c.start * 1000);
    const next = kept[i + 1];
    const endMs = c.end !== null ? Math.round(c.end * 1000) : next ? Math.round(next.start * 1000) : null;
    return { start_ms: startMs, end_ms: endMs !== null && endMs > startMs ? endMs : null, title: c.title || `Chapter ${i + 1}`, url: c.url, image: c.image };
  });
  return { ok: true, chapters };
}

const isRemote = (url: string) => /^https?:\/\//i.test(url);

export interface FetchChaptersOptions {
  maxBytes: number;
  signal?: AbortSignal;
  /** Local files are read only for feeds on the local disk (like their transcripts). */
  allowLocalFiles?: boolean;
  client?: HttpClient;
}

async function readLocal(url: string, maxBytes: number): Promise<Buffer> {
  const file = url.startsWith('file:') ? fileURLToPath(url) : path.resolve(url);
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new PodbrainError('chapters_unreadable', `cannot read the chapters file ${file}: ${e.code ?? e.message}`, { url });
  });
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw tooLarge(`the chapters file ${file}`, maxBytes, `the file has ${size} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Fetches and reads the publisher's chapters. Never throws for what the publisher serves
 * (unreachable, refused address, HTTP error, too large, not JSON, no usable chapter): the answer
 * says why instead, and the caller generates chapters. An abort (job timeout, shutdown) is thrown.
 */
export async function fetchPublisherChapters(config: Config, url: string, opts: FetchChaptersOptions): Promise<ParsedChapters> {
  let body: Buffer;
  try {
    if (isRemote(url)) {
      // An overall limit besides the idle timeout, so a server that drips bytes cannot hold the job.
      const { downloadTimeoutBaseMs: baseMs, downloadMinBytesPerS: minRate } = config.audio;
      const overallTimeoutMs = minRate > 0 ? baseMs + Math.ceil((opts.maxBytes * 1000) / minRate) : undefined;
      const res = await (opts.client ?? httpClientFor(config)).get(url, {
        maxBytes: opts.maxBytes,
        signal: opts.signal,
        overallTimeoutMs,
        what: 'publisher chapters',
        headers: { accept: 'application/json+chapters, application/json;q=0.9, */*;q=0.1' },
      });
      if (res.status !== 200) {
        await res.dump();
        throw statusError(res, 'publisher chapters');
      }
      body = await res.buffer();
    } else if (opts.allowLocalFiles) {
      body = await readLocal(url, opts.maxBytes);
    } else {
      return { ok: false, problem: `the chapters URL ${JSON.stringify(url.slice(0, 200))} is not http(s) (local files are read only for feeds on the local disk)` };
    }
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return { ok: false, problem: `cannot fetch the publisher chapters: ${(e as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    return { ok: false, problem: `the publisher chapters are not JSON: ${(e as Error).message.slice(0, 200)}` };
  }
  return parsePodcastChapters(doc);
}
