import { describe, expect, it } from 'vitest';
import { chunkTranscript } from '../src/index/chunking';
import { buildTranscriptText } from '../src/text/transcript-text';
import { estimateTokens } from '../src/text/words';
import { TOPICS, makeTranscript } from './support/index-corpus';

const opts = { targetTokens: 300, overlapTokens: 50 };

describe('chunking at sentence boundaries', () => {
  // ~60 sentences of 10-15 words, two per segment.
  const sentences = Array.from({ length: 6 }, () => Object.values(TOPICS).flat()).flat().slice(0, 60);
  const pairs = Array.from({ length: sentences.length / 2 }, (_, i) => `${sentences[2 * i]} ${sentences[2 * i + 1]}`);
  const transcript = makeTranscript('ep', pairs, 8000);
  const { text } = buildTranscriptText(transcript.segments);
  const chunks = chunkTranscript(transcript, opts);

  it('makes ~300-token chunks that start and end on sentence boundaries', () => {
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks.slice(0, -1)) {
      expect(c.tokens).toBeGreaterThanOrEqual(300);
      expect(c.tokens).toBeLessThan(300 + 40); // at most one sentence past the target
    }
    for (const c of chunks) {
      expect(c.text).toBe(text.slice(c.char_start, c.char_end));
      expect(c.text).toMatch(/[.!?]$/);
      expect(c.char_start === 0 || text[c.char_start - 2] === '.').toBe(true);
      expect(c.tokens).toBe(estimateTokens(c.text));
    }
    expect(chunks.map((c) => c.chunk_no)).toEqual(chunks.map((_, i) => i));
  });

  it('overlaps consecutive chunks by whole sentences of at most 50 tokens and covers all text', () => {
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1];
      const cur = chunks[i];
      expect(cur.char_start).toBeGreaterThan(prev.char_start);
      expect(cur.char_start).toBeLessThan(prev.char_end); // overlap exists (sentences are short)
      expect(estimateTokens(text.slice(cur.char_start, prev.char_end))).toBeLessThanOrEqual(50);
    }
    expect(chunks[0].char_start).toBe(0);
    expect(chunks.at(-1)?.char_end).toBe(text.length);
  });

  it('carries start/end ms of the segments the chunk spans', () => {
    for (const c of chunks) {
      const segs = transcript.segments.filter((s, i) => {
        const start = buildTranscriptText(transcript.segments).starts[i];
        return start < c.char_end && start + s.text.length > c.char_start;
      });
      expect(c.start_ms).toBe(segs[0].start_ms);
      expect(c.end_ms).toBe(segs.at(-1)?.end_ms);
    }
    expect(chunks[0].start_ms).toBe(0);
  });

  it('cuts transcripts without punctuation at segment or word boundaries', () => {
    const words = Array.from({ length: 2000 }, (_, i) => `word${i}`);
    const segs = Array.from({ length: 100 }, (_, i) => words.slice(i * 20, (i + 1) * 20).join(' '));
    const cs = chunkTranscript(makeTranscript('np', segs, 5000), opts);
    expect(cs.length).toBeGreaterThan(5);
    for (const c of cs) {
      expect(c.tokens).toBeLessThanOrEqual(2 * 300);
      expect(c.text).not.toMatch(/^\s|\s$/);
      expect(c.text.split(' ').every((w) => /^word\d+$/.test(w))).toBe(true);
    }
    const single = chunkTranscript(makeTranscript('one', [words.join(' ')], 5000), opts);
    expect(single.length).toBeGreaterThan(5);
    expect(single.every((c) => c.start_ms === 0 && c.end_ms === 4900)).toBe(true);
  });

  it('returns no chunks for an empty transcript and one for a short one', () => {
    expect(chunkTranscript(makeTranscript('e', [], 1000), opts)).toEqual([]);
    expect(chunkTranscript(makeTranscript('e', ['  ', ''], 1000), opts)).toEqual([]);
    const one = chunkTranscript(makeTranscript('s', ['Hello there.', 'Bye.'], 1000), opts);
    expect(one).toEqual([{ chunk_no: 0, text: 'Hello there. Bye.', start_ms: 0, end_ms: 1900, char_start: 0, char_end: 17, tokens: 5 }]);
  });
});
