import type { GroundedQuote } from './types';
import { segmentAt, type TranscriptText } from '../text/transcript-text';

/**
 * Grounding (ARCHITECTURE §5): a quote is accepted only if its text occurs verbatim in the
 * transcript after whitespace and case normalisation (typographic quotes and dashes count as
 * their ASCII forms). Offsets, times and speaker always come from the transcript, never from
 * the model.
 */

/** Fewer normalised chars than this is too short to ground meaningfully ("yes", "the"). */
const MIN_QUOTE_CHARS = 12;

const CHAR_MAP: Record<string, string> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201B': "'",
  '\u02BC': "'",
  '\u201C': '"',
  '\u201D': '"',
  '\u201E': '"',
  '\u2013': '-',
  '\u2014': '-',
  '\u2212': '-',
  '\u00A0': ' ',
};

interface Normalised {
  text: string;
  /** For each char of `text`, the index of the original char it came from. */
  map: number[];
}

export function normalise(input: string): Normalised {
  const out: string[] = [];
  const map: number[] = [];
  let lastSpace = true; // drops leading whitespace
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    // ASCII fast path: most transcript text never reaches the Unicode branch.
    if (code < 128) {
      if (code === 32 || (code >= 9 && code <= 13)) {
        if (!lastSpace) {
          out.push(' ');
          map.push(i);
          lastSpace = true;
        }
        continue;
      }
      lastSpace = false;
      out.push(code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : input[i]);
      map.push(i);
      continue;
    }
    const c = CHAR_MAP[input[i]] ?? input[i];
    if (/\s/.test(c)) {
      if (!lastSpace) {
        out.push(' ');
        map.push(i);
        lastSpace = true;
      }
      continue;
    }
    lastSpace = false;
    for (const l of c.toLowerCase()) {
      out.push(l);
      map.push(i);
    }
  }
  if (out[out.length - 1] === ' ') {
    out.pop();
    map.pop();
  }
  return { text: out.join(''), map };
}

/** Strips what models add around a quote: surrounding quote marks, ellipses, whitespace. */
export function cleanQuote(q: string): string {
  return q
    .trim()
    .replace(/^(?:["'\u2018\u2019\u201C\u201D]|\.\.\.|\u2026|\s)+/, '')
    .replace(/(?:["'\u2018\u2019\u201C\u201D]|\.\.\.|\u2026|\s)+$/, '');
}

export class Grounder {
  private readonly norm: Normalised;

  constructor(private readonly tt: TranscriptText) {
    this.norm = normalise(tt.text);
  }

  /** The quote with transcript offsets/times, or null when it is not in the transcript. */
  ground(quote: string): GroundedQuote | null {
    const q = normalise(cleanQuote(quote)).text;
    if (q.length < MIN_QUOTE_CHARS) return null;
    const at = this.norm.text.indexOf(q);
    if (at < 0) return null;
    return this.fromOffsets(this.norm.map[at], this.norm.map[at + q.length - 1] + 1);
  }

  /** A quote for a known char range of the transcript text (extractive sentences). */
  fromOffsets(charStart: number, charEnd: number): GroundedQuote {
    const first = segmentAt(this.tt, charStart);
    const last = segmentAt(this.tt, Math.max(charStart, charEnd - 1));
    const seg = this.tt.segments[first];
    const quote: GroundedQuote = {
      text: this.tt.text.slice(charStart, charEnd),
      char_start: charStart,
      char_end: charEnd,
      start_ms: seg.start_ms,
      end_ms: this.tt.segments[last].end_ms,
    };
    if (seg.speaker) quote.speaker = seg.speaker;
    return quote;
  }
}
