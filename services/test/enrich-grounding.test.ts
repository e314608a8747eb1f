import { describe, expect, it } from 'vitest';
import { Grounder, cleanQuote, normalise } from '../src/enrich/grounding';
import { buildTranscriptText, segmentAt, splitSentences } from '../src/text/transcript-text';

const segments = [
  { start_ms: 0, end_ms: 4000, text: '  Welcome back   to the show. ', speaker: 'SPEAKER_00' },
  { start_ms: 4000, end_ms: 9000, text: 'Today we talk about “open source” licences', speaker: 'SPEAKER_00' },
  { start_ms: 9500, end_ms: 15000, text: 'and why Dr. Smith thinks they matter — a lot.', speaker: 'SPEAKER_01' },
  { start_ms: 15000, end_ms: 16000, text: '   ' },
  { start_ms: 16000, end_ms: 21000, text: 'Is that really true? I am not sure.' },
];

describe('grounding', () => {
  const tt = buildTranscriptText(segments);
  const g = new Grounder(tt);

  it('joins segments with single spaces and keeps their char ranges', () => {
    expect(tt.text).toBe(
      'Welcome back to the show. Today we talk about “open source” licences and why Dr. Smith thinks they matter — a lot. Is that really true? I am not sure.',
    );
    expect(tt.segments).toHaveLength(4); // the blank segment is dropped
    for (let i = 0; i < tt.segments.length; i++) expect(tt.text.slice(tt.starts[i], tt.ends[i])).toBe(tt.segments[i].text);
    expect(segmentAt(tt, 0)).toBe(0);
    expect(segmentAt(tt, tt.starts[2] + 3)).toBe(2);
  });

  it('finds a quote after whitespace, case and typographic normalisation; offsets and times come from the transcript', () => {
    const q = g.ground('  TODAY we   talk about "open source" LICENCES ');
    expect(q).not.toBeNull();
    expect(q!.text).toBe('Today we talk about “open source” licences');
    expect(tt.text.slice(q!.char_start, q!.char_end)).toBe(q!.text);
    expect(q).toMatchObject({ start_ms: 4000, end_ms: 9000, speaker: 'SPEAKER_00' });
  });

  it('a quote spanning segments takes the first start and the last end', () => {
    const q = g.ground('licences and why Dr. Smith thinks they matter - a lot');
    expect(q).toMatchObject({ start_ms: 4000, end_ms: 15000, speaker: 'SPEAKER_00', text: 'licences and why Dr. Smith thinks they matter — a lot' });
  });

  it('strips quote marks and ellipses a model wraps around a quote', () => {
    expect(cleanQuote('“…is that really true?”')).toBe('is that really true?');
    expect(g.ground('"...Is that really true?..."')).toMatchObject({ text: 'Is that really true?', start_ms: 16000, end_ms: 21000 });
    expect(g.ground('Is that really true?')!.speaker).toBeUndefined();
  });

  it('rejects quotes that are not verbatim, paraphrased or too short', () => {
    expect(g.ground('Today we discuss open source licences')).toBeNull();
    expect(g.ground('Dr. Smith thinks licences matter a lot')).toBeNull();
    expect(g.ground('the show')).toBeNull(); // shorter than MIN_QUOTE_CHARS
    expect(g.ground('')).toBeNull();
  });

  it('normalise maps every output char back to its source char', () => {
    const n = normalise('  A\u00A0 B\tÇ ');
    expect(n.text).toBe('a b ç');
    expect(n.map).toEqual([2, 3, 5, 6, 7]);
  });

  it('splits sentences without breaking at abbreviations or initials', () => {
    expect(splitSentences('Dr. Smith met J. R. Tolkien in the U.S. Army. Really? Yes! It was 1.5 years ago.').map((s) => s.text)).toEqual([
      'Dr. Smith met J. R. Tolkien in the U.S. Army.',
      'Really?',
      'Yes!',
      'It was 1.5 years ago.',
    ]);
  });
});
