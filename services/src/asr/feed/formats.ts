import { decodeHTML } from 'entities';
import type { TranscriptSegment } from '../types';

/**
 * Parsers for publisher transcripts (Podcasting 2.0 `podcast:transcript`): SRT, WebVTT,
 * Podcasting 2.0 JSON, HTML and plain text → transcript segments. They are lenient the way
 * real files need (BOM, CRLF, missing blank lines, stray cue numbers, bad timestamps):
 * a broken cue is dropped with a warning, the rest is kept.
 */

export type TranscriptFormat = 'json' | 'vtt' | 'srt' | 'html' | 'text';

/** Preference when an episode lists several transcripts: timed and structured first. */
export const FORMAT_PREFERENCE: readonly TranscriptFormat[] = ['json', 'vtt', 'srt', 'html', 'text'];

export interface ParsedTranscript {
  format: TranscriptFormat;
  segments: TranscriptSegment[];
  /** 'cues': times come from the file; 'estimated': the file has no times, they are spread by text length. */
  timing: 'cues' | 'estimated';
  warnings: string[];
}

export interface ParseOptions {
  /** Audio duration, used to spread untimed text (HTML/plain text without times). */
  durationMs?: number | null;
}

const MIME: Record<string, TranscriptFormat> = {
  'application/json': 'json',
  'text/json': 'json',
  'application/x-json': 'json',
  'text/vtt': 'vtt',
  'text/webvtt': 'vtt',
  'application/srt': 'srt',
  'application/x-srt': 'srt',
  'application/x-subrip': 'srt',
  'text/srt': 'srt',
  'text/x-srt': 'srt',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'text/plain': 'text',
};
const EXTENSION: Record<string, TranscriptFormat> = { json: 'json', vtt: 'vtt', srt: 'srt', html: 'html', htm: 'html', txt: 'text' };

/** The format a `podcast:transcript` announces (MIME type, else the URL's extension); null when unknown. */
export function formatOf(type: string | null | undefined, url?: string): TranscriptFormat | null {
  const mime = (type ?? '').split(';')[0].trim().toLowerCase();
  if (MIME[mime]) return MIME[mime];
  if (mime.endsWith('+json')) return 'json';
  const ext = (url ?? '').split(/[?#]/)[0].match(/\.([a-z0-9]+)$/i)?.[1]?.toLowerCase();
  return ext && EXTENSION[ext] ? EXTENSION[ext] : null;
}

/** `Sarah: text` / `Dr. Jane Doe: text` at the start of an SRT card (1–4 capitalised words). */
const SRT_SPEAKER = /^(\p{Lu}[\p{L}.'-]*(?: \p{Lu}[\p{L}.'-]*){0,3}):\s+/u;
const TIMING_LINE = /^\s*([0-9:.,]+)\s*-->\s*([0-9:.,]+)(.*)$/;
const TIME = /^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$/;

/** `hh:mm:ss,mmm`, `mm:ss.mmm`, `h:mm:ss` … → ms; null when not a time. */
export function parseCueTime(raw: string): number | null {
  const m = TIME.exec(raw.trim());
  if (!m) return null;
  const [h, min, s] = [Number(m[1] ?? 0), Number(m[2]), Number(m[3])];
  if (min > 59 || s > 59) return null;
  const ms = m[4] ? Number(m[4].padEnd(3, '0')) : 0;
  return ((h * 60 + min) * 60 + s) * 1000 + ms;
}

/** `1:02:03`, `02:03`, `123.5` (seconds), `PT1M2.5S` → ms; null when not a time. */
export function parseClockTime(raw: string): number | null {
  const t = raw.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const iso = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/i.exec(t);
  if (iso && t.length > 2) return Math.round(((Number(iso[1] ?? 0) * 60 + Number(iso[2] ?? 0)) * 60 + Number(iso[3] ?? 0)) * 1000);
  return parseCueTime(t);
}

function normalizeText(raw: string): string {
  // BOM anywhere at the start, CRLF/CR line ends.
  return raw.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

function cleanCueText(lines: string[]): { text: string; speaker?: string } {
  let speaker: string | undefined;
  const joined = lines.join(' ');
  const voice = /<v(?:\.[^\s>]+)*\s+([^>]+)>/i.exec(joined);
  if (voice) speaker = decodeHTML(voice[1].trim());
  const text = decodeHTML(
    joined
      .replace(/\{\\[^}]*\}/g, '') // ASS override tags some SRT files carry ({\an8})
      .replace(/<[^>]*>/g, ''),
  )
    .replace(/\s+/g, ' ')
    .trim();
  return speaker ? { text, speaker } : { text };
}

/** SRT and WebVTT share the cue grammar; VTT adds a header, NOTE/STYLE/REGION blocks, settings and voice tags. */
function parseCues(raw: string, format: 'srt' | 'vtt'): ParsedTranscript {
  const warnings: string[] = [];
  const segments: TranscriptSegment[] = [];
  const lines = normalizeText(raw).split('\n');
  let i = 0;
  if (format === 'vtt') {
    if (!/^WEBVTT(\s|$)/.test(lines[0] ?? '')) warnings.push('missing WEBVTT header');
    else while (i < lines.length && lines[i].trim() !== '') i++; // header block
  }

  let cue: { start: number; end: number; text: string[] } | null = null;
  let skipping = false; // inside a NOTE/STYLE/REGION block or a cue with a bad timing line
  let afterBlank = true;
  // Podcasting 2.0 marks the speaker only where it changes (`<v Name>` in VTT, `Name: ` in SRT).
  let speaker: string | undefined;
  const flush = () => {
    if (cue) {
      const cleaned = cleanCueText(cue.text);
      let text = cleaned.text;
      if (cleaned.speaker) speaker = cleaned.speaker;
      else if (format === 'srt') {
        const named = SRT_SPEAKER.exec(text);
        if (named) [speaker, text] = [named[1], text.slice(named[0].length)];
      }
      if (text) segments.push({ start_ms: cue.start, end_ms: cue.end, text, ...(speaker ? { speaker } : {}) });
    }
    cue = null;
  };

  for (; i < lines.length; i++) {
    const line = lines[i];
    const lineNo = i + 1;
    if (line.trim() === '') {
      flush();
      skipping = false;
      afterBlank = true;
      continue;
    }
    const timing = TIMING_LINE.exec(line);
    if (timing) {
      // A cue number (SRT) or identifier (VTT) glued to the previous cue when a blank line is missing.
      const current = cue as { text: string[] } | null;
      if (current && current.text.length && /^\d+$/.test(current.text[current.text.length - 1].trim())) current.text.pop();
      flush();
      const start = parseCueTime(timing[1]);
      const end = parseCueTime(timing[2]);
      if (start === null || end === null) {
        warnings.push(`line ${lineNo}: bad cue timing ${JSON.stringify(line.trim())}; cue dropped`);
        skipping = true;
      } else {
        if (end < start) warnings.push(`line ${lineNo}: cue ends before it starts; end set to start`);
        cue = { start, end: Math.max(start, end), text: [] };
        skipping = false;
      }
      afterBlank = false;
      continue;
    }
    if (skipping) continue;
    if (cue) {
      cue.text.push(line);
    } else if (format === 'vtt' && afterBlank && /^(NOTE|STYLE|REGION)(\s|$)/.test(line)) {
      skipping = true;
    } else if (/-->/.test(line)) {
      warnings.push(`line ${lineNo}: bad cue timing ${JSON.stringify(line.trim())}; cue dropped`);
      skipping = true;
    }
    // Anything else between cues is a cue number / identifier.
    afterBlank = false;
  }
  flush();
  segments.sort((a, b) => a.start_ms - b.start_ms);
  return { format, segments, timing: 'cues', warnings };
}

export const parseSrt = (raw: string) => parseCues(raw, 'srt');
export const parseVtt = (raw: string) => parseCues(raw, 'vtt');

/** Podcasting 2.0 JSON: `{version, segments:[{speaker?, startTime, endTime, body}]}` (times in seconds). */
export function parsePodcastJson(raw: string): ParsedTranscript {
  const warnings: string[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(normalizeText(raw));
  } catch (e) {
    return { format: 'json', segments: [], timing: 'cues', warnings: [`not valid JSON: ${(e as Error).message}`] };
  }
  const list = Array.isArray(doc) ? doc : (doc as { segments?: unknown })?.segments;
  if (!Array.isArray(list)) return { format: 'json', segments: [], timing: 'cues', warnings: ['no "segments" array'] };
  const segments: TranscriptSegment[] = [];
  list.forEach((s: unknown, idx) => {
    const o = (s ?? {}) as Record<string, unknown>;
    const start = Number(o.startTime);
    const end = Number(o.endTime ?? o.startTime);
    const body = typeof o.body === 'string' ? o.body : typeof o.text === 'string' ? o.text : null;
    if (!Number.isFinite(start) || start < 0 || !Number.isFinite(end) || body === null) {
      warnings.push(`segment ${idx}: needs numeric startTime/endTime and a body; dropped`);
      return;
    }
    const text = decodeHTML(body.replace(/<[^>]*>/g, ''))
      .replace(/\s+/g, ' ')
      .trim();
    if (!text) return;
    const speaker = typeof o.speaker === 'string' && o.speaker.trim() ? o.speaker.trim() : undefined;
    segments.push({ start_ms: Math.round(start * 1000), end_ms: Math.round(Math.max(start, end) * 1000), text, ...(speaker ? { speaker } : {}) });
  });
  segments.sort((a, b) => a.start_ms - b.start_ms);
  return { format: 'json', segments: mergeWordLevel(segments), timing: 'cues', warnings };
}

/**
 * Many JSON transcripts carry one segment per word. Those are joined (same speaker, no long
 * gap) into sentence-sized segments so downstream chunking and quotes work on sentences.
 */
function mergeWordLevel(segments: TranscriptSegment[]): TranscriptSegment[] {
  if (segments.length < 10) return segments;
  const avgWords = segments.reduce((n, s) => n + s.text.split(' ').length, 0) / segments.length;
  if (avgWords > 2) return segments;
  const out: TranscriptSegment[] = [];
  let cur: TranscriptSegment | null = null;
  for (const s of segments) {
    const joinable =
      cur && cur.speaker === s.speaker && s.start_ms - cur.end_ms <= 1500 && s.end_ms - cur.start_ms <= 30_000 && !/[.!?…]["')\]]?$/.test(cur.text);
    if (cur && joinable) {
      cur.text = `${cur.text} ${s.text}`;
      cur.end_ms = Math.max(cur.end_ms, s.end_ms);
    } else {
      if (cur) out.push(cur);
      cur = { ...s };
    }
  }
  if (cur) out.push(cur);
  return out;
}

interface Paragraph {
  start_ms: number | null;
  text: string;
  speaker?: string;
}

/** Gives untimed paragraphs times: known starts are kept; the rest is spread by text length. */
function timeParagraphs(paragraphs: Paragraph[], durationMs: number | null | undefined): { segments: TranscriptSegment[]; estimated: boolean } {
  const CHARS_PER_SECOND = 15; // ~150 words per minute
  const estimated = paragraphs.some((p) => p.start_ms === null);
  const totalChars = paragraphs.reduce((n, p) => n + p.text.length, 0) || 1;
  const totalMs = durationMs && durationMs > 0 ? durationMs : Math.round((totalChars / CHARS_PER_SECOND) * 1000);
  const segments: TranscriptSegment[] = [];
  let cursor = 0;
  paragraphs.forEach((p, idx) => {
    const start = p.start_ms ?? cursor;
    let end = start + Math.round((p.text.length / totalChars) * totalMs);
    if (idx === paragraphs.length - 1 && durationMs && durationMs > start) end = durationMs;
    // Never run into the next time the file gives; a timed paragraph followed by a timed one ends there.
    const nextKnown = paragraphs.slice(idx + 1).find((q) => q.start_ms !== null)?.start_ms ?? null;
    if (nextKnown !== null && nextKnown >= start && (nextKnown < end || paragraphs[idx + 1].start_ms !== null)) end = nextKnown;
    segments.push({ start_ms: start, end_ms: Math.max(start, end), text: p.text, ...(p.speaker ? { speaker: p.speaker } : {}) });
    cursor = Math.max(start, end);
  });
  return { segments, estimated };
}

function stripTags(html: string): string {
  return decodeHTML(html.replace(/<br\s*\/?>/gi, ' ').replace(/<[^>]*>/g, ''))
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * HTML transcripts as Podcasting 2.0 describes them (`<cite>Speaker:</cite> <time>0:00</time> <p>text</p>`);
 * other pages fall back to their paragraphs / text.
 */
export function parseHtmlTranscript(raw: string, opts: ParseOptions = {}): ParsedTranscript {
  const warnings: string[] = [];
  const html = normalizeText(raw)
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, '')
    // `</p>` is optional in HTML: close every paragraph before the next one opens and at the end.
    .replace(/<p\b/gi, '</p><p')
    .concat('</p>');
  const paragraphs: Paragraph[] = [];
  let speaker: string | undefined;
  let time: number | null = null;
  for (const m of html.matchAll(/<(cite|time|p)\b([^>]*)>([\s\S]*?)<\/\1\s*>/gi)) {
    const tag = m[1].toLowerCase();
    const inner = stripTags(m[3]);
    if (tag === 'cite') speaker = inner.replace(/:\s*$/, '').trim() || undefined;
    else if (tag === 'time') {
      const attr = /datetime\s*=\s*["']([^"']+)["']/i.exec(m[2])?.[1];
      const t = parseClockTime(attr ?? inner) ?? (attr ? parseClockTime(inner) : null);
      if (t === null) warnings.push(`bad <time> ${JSON.stringify(attr ?? inner)}; ignored`);
      time = t;
    } else {
      // Some pages nest the speaker and time inside the paragraph: <p><cite>A:</cite> <time>0:05</time> text</p>.
      const nestedCite = /<cite\b[^>]*>([\s\S]*?)<\/cite\s*>/i.exec(m[3]);
      if (nestedCite) speaker = stripTags(nestedCite[1]).replace(/:\s*$/, '').trim() || undefined;
      const nestedTime = /<time\b([^>]*)>([\s\S]*?)<\/time\s*>/i.exec(m[3]);
      if (nestedTime) time = parseClockTime(/datetime\s*=\s*["']([^"']+)["']/i.exec(nestedTime[1])?.[1] ?? stripTags(nestedTime[2]));
      const text = nestedCite || nestedTime ? stripTags(m[3].replace(/<(cite|time)\b[\s\S]*?<\/\1\s*>/gi, '')) : inner;
      if (!text) continue;
      paragraphs.push({ start_ms: time, text, ...(speaker ? { speaker } : {}) });
      time = null;
    }
  }
  if (!paragraphs.length) {
    const text = decodeHTML(html.replace(/<\/(p|div|li|h[1-6]|section|article)\s*>|<br\s*\/?>/gi, '\n\n').replace(/<[^>]*>/g, ''));
    const plain = parsePlainText(text, opts);
    return { ...plain, format: 'html', warnings: [...warnings, 'no <p> elements; read as plain text', ...plain.warnings] };
  }
  const { segments, estimated } = timeParagraphs(paragraphs, opts.durationMs);
  return { format: 'html', segments, timing: estimated ? 'estimated' : 'cues', warnings };
}

/** Plain text: paragraphs (blank-line separated) become segments; a leading `[0:01:02]` gives a start time. */
export function parsePlainText(raw: string, opts: ParseOptions = {}): ParsedTranscript {
  const paragraphs: Paragraph[] = normalizeText(raw)
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^\[?(\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)\]?\s+(.*)$/.exec(p);
      const start = m ? parseCueTime(m[1]) : null;
      return start !== null && m ? { start_ms: start, text: m[2] } : { start_ms: null, text: p };
    });
  const { segments, estimated } = timeParagraphs(paragraphs, opts.durationMs);
  return { format: 'text', segments, timing: estimated ? 'estimated' : 'cues', warnings: [] };
}

/** What the bytes look like, which beats a wrong MIME type (SRT served as text/plain is common). */
export function sniffFormat(text: string): TranscriptFormat | null {
  const head = normalizeText(text).trimStart().slice(0, 2000);
  if (/^WEBVTT(\s|$)/.test(head)) return 'vtt';
  if (/^[[{]/.test(head)) return 'json';
  if (/^(\d+\s*\n)?\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->/.test(head)) return 'srt';
  if (/^<(!doctype html|html|body|div|p|cite|time|section|article)\b/i.test(head)) return 'html';
  return null;
}

/** Parses a transcript body; the sniffed content wins over the announced format. */
export function parseTranscript(text: string, announced: TranscriptFormat | null, opts: ParseOptions = {}): ParsedTranscript {
  const format = sniffFormat(text) ?? announced ?? 'text';
  switch (format) {
    case 'json':
      return parsePodcastJson(text);
    case 'vtt':
      return parseVtt(text);
    case 'srt':
      return parseSrt(text);
    case 'html':
      return parseHtmlTranscript(text, opts);
    default:
      return parsePlainText(text, opts);
  }
}
