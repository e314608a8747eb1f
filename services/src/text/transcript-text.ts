import type { TranscriptSegment } from '../asr/types';

/**
 * The transcript as one string (segment texts joined by a single space) with the char range
 * of every segment, so a char offset maps back to segment times and speaker.
 */
export interface TranscriptText {
  text: string;
  segments: TranscriptSegment[];
  /** char_start of each segment in `text` (ascending). */
  starts: number[];
  /** char_end (exclusive) of each segment in `text`. */
  ends: number[];
}

export function buildTranscriptText(segments: readonly TranscriptSegment[]): TranscriptText {
  const kept = segments.filter((s) => s.text.trim() !== '');
  const parts: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let pos = 0;
  for (const seg of kept) {
    const t = seg.text.trim().replace(/\s+/g, ' ');
    if (parts.length) pos += 1; // the joining space
    starts.push(pos);
    parts.push(t);
    pos += t.length;
    ends.push(pos);
  }
  return { text: parts.join(' '), segments: kept.map((s) => ({ ...s, text: s.text.trim().replace(/\s+/g, ' ') })), starts, ends };
}

/** Index of the segment holding char `offset` (the nearest one before it when in a gap). */
export function segmentAt(tt: TranscriptText, offset: number): number {
  let lo = 0;
  let hi = tt.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tt.starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface Sentence {
  text: string;
  char_start: number;
  char_end: number;
}

const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'vs', 'etc', 'inc', 'ltd', 'jr', 'sr', 'e.g', 'i.e', 'no', 'vol', 'mt', 'u.s']);

/**
 * Sentence split on . ! ? (and …) followed by space and a capital/digit/quote, skipping
 * common abbreviations and initials. Offsets index `text`.
 */
export function splitSentences(text: string): Sentence[] {
  const out: Sentence[] = [];
  const re = /[.!?…]+["')\]*”’]*\s+(?=["'(\[*“‘]?[A-Z0-9])/g;
  let start = 0;
  let m: RegExpExecArray | null;
  const push = (from: number, to: number) => {
    let a = from;
    let b = to;
    while (a < b && /\s/.test(text[a])) a++;
    while (b > a && /\s/.test(text[b - 1])) b--;
    if (b > a) out.push({ text: text.slice(a, b), char_start: a, char_end: b });
  };
  while ((m = re.exec(text))) {
    const end = m.index + m[0].trimEnd().length;
    const before = text.slice(Math.max(start, m.index - 6), m.index);
    const word = /([A-Za-z.]+)$/.exec(before)?.[1]?.toLowerCase() ?? '';
    // "Dr. Smith", "U.S. policy", "J. Doe": not a sentence end
    if (m[0][0] === '.' && (ABBREVIATIONS.has(word) || /^[a-z]$/.test(word))) continue;
    push(start, end);
    start = end;
  }
  push(start, text.length);
  return out;
}
