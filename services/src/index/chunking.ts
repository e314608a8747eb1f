import type { Transcript } from '../asr/types';
import { buildTranscriptText, segmentAt, type TranscriptText } from '../text/transcript-text';
import { estimateTokens } from '../text/words';

/** One line of chunks.jsonl. Offsets are into the transcript text (text/transcript-text.ts: segments joined by single spaces). */
export interface Chunk {
  chunk_no: number;
  text: string;
  start_ms: number;
  end_ms: number;
  char_start: number;
  char_end: number;
  tokens: number;
}

export interface ChunkOptions {
  /** Target size; a chunk closes at the first sentence end at or past it. */
  targetTokens: number;
  /** Sentences from the end of a chunk repeated at the start of the next, up to this many tokens. */
  overlapTokens: number;
}

/** Bump when the output of chunkTranscript changes for the same input (part of the index fingerprint). */
export const CHUNKER_VERSION = 1;

interface Sentence {
  start: number;
  end: number;
  startMs: number;
  endMs: number;
  tokens: number;
}

const SENTENCE_END = /[.!?…]+["'”’)\]]*(?=\s|$)/g;

/**
 * Splits into sentences at every sentence end followed by a space (unlike enrichment's
 * `splitSentences`, which wants a capital next and skips abbreviations: the chunk boundaries
 * are part of CHUNKER_VERSION). A sentence longer than the target (transcripts without punctuation)
 * is cut further at segment boundaries, then at word boundaries.
 */
function sentences(tt: TranscriptText, targetTokens: number): Sentence[] {
  const { text, starts, segments } = tt;
  const segAt = (offset: number): number => segmentAt(tt, offset);
  const make = (start: number, end: number): Sentence | null => {
    while (start < end && text[start] === ' ') start++;
    while (end > start && text[end - 1] === ' ') end--;
    if (end <= start) return null;
    return {
      start,
      end,
      startMs: segments[segAt(start)].start_ms,
      endMs: segments[segAt(end - 1)].end_ms,
      tokens: estimateTokens(text.slice(start, end)),
    };
  };

  const raw: [number, number][] = [];
  let from = 0;
  for (const m of text.matchAll(SENTENCE_END)) {
    const end = m.index + m[0].length;
    raw.push([from, end]);
    from = end;
  }
  if (from < text.length) raw.push([from, text.length]);

  const maxChars = targetTokens * 4;
  const out: Sentence[] = [];
  for (const [s, e] of raw) {
    if (e - s <= maxChars) {
      const sent = make(s, e);
      if (sent) out.push(sent);
      continue;
    }
    // Too long: cut at segment starts inside it, else at the last space before the budget.
    let cur = s;
    while (e - cur > maxChars) {
      let cut = -1;
      for (let i = segAt(cur) + 1; i < starts.length && starts[i] < e; i++) {
        if (starts[i] - cur > maxChars) break;
        if (starts[i] > cur) cut = starts[i];
      }
      if (cut < 0) {
        const space = text.lastIndexOf(' ', cur + maxChars);
        cut = space > cur ? space : cur + maxChars;
      }
      const sent = make(cur, cut);
      if (sent) out.push(sent);
      cur = cut;
    }
    const sent = make(cur, e);
    if (sent) out.push(sent);
  }
  return out;
}

/** Sentence-aligned chunks of ~targetTokens with ~overlapTokens of overlap, carrying start/end ms. */
export function chunkTranscript(transcript: Pick<Transcript, 'segments'>, opts: ChunkOptions): Chunk[] {
  const tt = buildTranscriptText(transcript.segments);
  if (!tt.segments.length) return [];
  const { text } = tt;
  const sents = sentences(tt, opts.targetTokens);
  const chunks: Chunk[] = [];
  let i = 0;
  while (i < sents.length) {
    let j = i;
    let tokens = 0;
    while (j < sents.length && (tokens < opts.targetTokens || j === i)) tokens += sents[j++].tokens;
    const first = sents[i];
    const last = sents[j - 1];
    const start = first.start;
    const end = last.end;
    chunks.push({
      chunk_no: chunks.length,
      text: text.slice(start, end),
      start_ms: Math.min(...sents.slice(i, j).map((s) => s.startMs)),
      end_ms: Math.max(...sents.slice(i, j).map((s) => s.endMs)),
      char_start: start,
      char_end: end,
      tokens: estimateTokens(text.slice(start, end)),
    });
    if (j >= sents.length) break;
    // Step back over trailing sentences that fit in the overlap, always moving forward.
    let back = j;
    let overlap = 0;
    while (back - 1 > i && overlap + sents[back - 1].tokens <= opts.overlapTokens) overlap += sents[--back].tokens;
    i = back;
  }
  return chunks;
}
