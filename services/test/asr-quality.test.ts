import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assessTranscript, reasonCode, repetitionRatio, speechCoverage } from '../src/asr/quality';
import type { TranscriptSegment } from '../src/asr/types';
import { metrics } from '../src/telemetry/metrics';
import { fixture } from './support/fixtures';

const seg = (start_ms: number, end_ms: number, text = 'some words here'): TranscriptSegment => ({ start_ms, end_ms, text });

/** Real reference texts (FLEURS + JFK) as a transcript: one segment per sentence, 5 s each. */
function referenceTranscript(): TranscriptSegment[] {
  const texts = readdirSync(fixture('audio'))
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => readFileSync(fixture('audio', f), 'utf8').trim());
  expect(texts.length).toBeGreaterThanOrEqual(8);
  return texts.map((text, i) => seg(i * 5000, i * 5000 + 5000, text));
}

function loopTranscript(phrase: string, times: number, segMs = 2000): TranscriptSegment[] {
  return Array.from({ length: times }, (_, i) => seg(i * segMs, (i + 1) * segMs, phrase));
}

async function degradedCount(reason: string): Promise<number> {
  const m = await metrics.transcriptsDegradedTotal.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('speechCoverage', () => {
  it('is null when speech was not measured and 1 when there is no speech', () => {
    expect(speechCoverage(null, [seg(0, 1000)])).toBeNull();
    expect(speechCoverage([], [])).toBe(1);
  });

  it('measures the union of speech covered by the union of segments', () => {
    const speech = [
      { start_ms: 0, end_ms: 10_000 },
      { start_ms: 5000, end_ms: 12_000 }, // overlaps the first: speech union is 0..12 s + 20..30 s = 22 s
      { start_ms: 20_000, end_ms: 30_000 },
    ];
    const segments = [seg(1000, 6000), seg(4000, 9000), seg(25_000, 40_000)]; // covers 1..9 s (8 s) and 25..30 s (5 s)
    expect(speechCoverage(speech, segments)).toBeCloseTo(13 / 22, 4);
  });

  it('ignores segments without text and broken intervals', () => {
    const speech = [{ start_ms: 0, end_ms: 10_000 }];
    expect(speechCoverage(speech, [seg(0, 10_000, '   ')])).toBe(0);
    expect(speechCoverage(speech, [seg(5000, 2000), seg(0, 5000)])).toBe(0.5);
  });

  it('is 1 when segments cover all speech, even with extra text outside it', () => {
    expect(speechCoverage([{ start_ms: 2000, end_ms: 3000 }], [seg(0, 10_000)])).toBe(1);
  });
});

describe('repetitionRatio', () => {
  it('is low for real speech (fixture reference texts)', () => {
    const ratio = repetitionRatio(referenceTranscript());
    console.log(`repetition ratio of the fixture reference texts: ${ratio}`);
    expect(ratio).toBeLessThan(0.05);
  });

  it('is high for a looping "thank you" transcript', () => {
    expect(repetitionRatio(loopTranscript('Thank you.', 40))).toBeGreaterThan(0.9);
    expect(repetitionRatio([seg(0, 60_000, 'thank you '.repeat(50))])).toBeGreaterThan(0.9);
  });

  it('is high when one whole sentence repeats', () => {
    expect(repetitionRatio(loopTranscript("I'm going to go to the store and buy some milk.", 20))).toBeGreaterThan(0.8);
  });

  it('is 0 for fewer than three words', () => {
    expect(repetitionRatio([seg(0, 1000, 'thank you')])).toBe(0);
  });
});

describe('assessTranscript', () => {
  const speechOf = (segments: TranscriptSegment[]) => segments.map(({ start_ms, end_ms }) => ({ start_ms, end_ms }));

  it('accepts real speech fully covered', () => {
    const segments = referenceTranscript();
    const a = assessTranscript({ segments, speech: speechOf(segments), minCoverage: 0.9, countMetric: false });
    expect(a).toMatchObject({ status: 'valid', reasons: [], speech_coverage: 1, loop: null });
    expect(a.repetition_ratio).toBeLessThan(0.05);
  });

  it('marks a transcript that drops a third of the speech as degraded (low_coverage) and counts it', async () => {
    const segments = referenceTranscript();
    const before = await degradedCount('low_coverage');
    const a = assessTranscript({ segments: segments.slice(0, 5), speech: speechOf(segments), minCoverage: 0.9 });
    expect(a.status).toBe('degraded');
    expect(a.speech_coverage).toBeCloseTo(5 / 8, 3);
    expect(a.reasons).toHaveLength(1);
    expect(a.reasons[0]).toMatch(/^low_coverage: 63% of the detected speech .* \(minimum 90%\)$/);
    expect(await degradedCount('low_coverage')).toBe(before + 1);
  });

  it('marks a looping transcript as degraded (repetition_loop) even at full coverage', async () => {
    const segments = loopTranscript('Thank you.', 30);
    const before = await degradedCount('repetition_loop');
    const a = assessTranscript({ segments, speech: speechOf(segments), minCoverage: 0.9 });
    expect(a.status).toBe('degraded');
    expect(a.speech_coverage).toBe(1);
    expect(a.reasons.map(reasonCode)).toEqual(['repetition_loop']);
    expect(a.repetition_ratio).toBeGreaterThan(0.9);
    expect(await degradedCount('repetition_loop')).toBe(before + 1);
  });

  it('finds a loop at the end of a long, otherwise normal transcript', () => {
    const normal = referenceTranscript();
    const tail = loopTranscript('thank you so much', 20).map((s) => ({ ...s, start_ms: s.start_ms + 60_000, end_ms: s.end_ms + 60_000 }));
    const segments = [...normal, ...normal.map((s) => ({ ...s, start_ms: s.start_ms + 40_000, end_ms: s.end_ms + 40_000 })), ...tail];
    const a = assessTranscript({ segments, speech: null, minCoverage: 0.9, countMetric: false });
    expect(a.repetition_ratio).toBeLessThan(0.5);
    expect(a.status).toBe('degraded');
    expect(a.loop).toEqual({ start_ms: 60_000, words: expect.any(Number) });
    expect(a.loop!.words).toBeGreaterThanOrEqual(70);
    expect(a.reasons).toEqual([expect.stringMatching(/^repetition_loop: \d+ words from 0:01:00 keep repeating/)]);
  });

  it('marks an empty transcript degraded unless detection found no speech', () => {
    const empty = [seg(0, 5000, '')];
    const noVad = assessTranscript({ segments: [], speech: null, minCoverage: 0.9, countMetric: false });
    expect(noVad).toMatchObject({ status: 'degraded', speech_coverage: null, reasons: ['empty_transcript: the engine returned no text'] });
    const withSpeech = assessTranscript({ segments: empty, speech: [{ start_ms: 0, end_ms: 8000 }], minCoverage: 0.9, countMetric: false });
    expect(withSpeech.reasons.map(reasonCode)).toEqual(['empty_transcript', 'low_coverage']);
    expect(withSpeech.speech_coverage).toBe(0);
    const silence = assessTranscript({ segments: [], speech: [], minCoverage: 0.9, countMetric: false });
    expect(silence).toMatchObject({ status: 'valid', speech_coverage: 1, reasons: [] });
  });

  it('respects the configured thresholds', () => {
    const segments = referenceTranscript();
    const speech = speechOf(segments);
    expect(assessTranscript({ segments: segments.slice(0, 5), speech, minCoverage: 0.5, countMetric: false }).status).toBe('valid');
    const loop = loopTranscript('thank you', 10);
    expect(assessTranscript({ segments: loop, speech: null, minCoverage: 0.9, maxRepetition: 0.99, countMetric: false }).status).toBe('valid');
  });
});
