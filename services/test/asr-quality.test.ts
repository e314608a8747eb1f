import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseTranscript } from '../src/asr/feed/formats';
import { assessTranscript, checkText, enrichBlocker, reasonCode, repetitionRatio, speechCoverage } from '../src/asr/quality';
import type { TranscriptSegment } from '../src/asr/types';
import { createWhisperCppEngine } from '../src/asr/whisper/engine';
import { writeFakeWhisperModel } from '../src/asr/whisper/fake-model';
import { silentLogger } from '../src/core/logger';
import { fixturePublisherTranscripts } from '../src/eval/gate-corpus';
import { metrics } from '../src/telemetry/metrics';
import { requireWhisperBuild, tempDir, whisperTestConfig } from './support/audio';
import { FIXTURES, fixture } from './support/fixtures';

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

describe('the gate on clean publisher transcripts (every fixture SRT/VTT)', () => {
  const corpus = fixturePublisherTranscripts(FIXTURES);

  it('covers every real feed with text and the reference texts, in both formats, with two named speakers', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(16);
    expect(corpus.map((c) => c.name)).toEqual(expect.arrayContaining(['1865.srt', '1865.vtt', 'animated-no-agenda.srt', 'pc20rss.vtt', 'reference-texts.srt']));
    for (const c of corpus) {
      // (An SRT line of show notes such as "Fresh Crops: …" reads as a third speaker, as it would in any SRT.)
      const speakers = new Set(parseTranscript(c.body, c.format).segments.map((s) => s.speaker));
      expect([...speakers], c.name).toEqual(expect.arrayContaining(['Ana Lima', 'Ben Okafor']));
    }
  });

  it('flags none of them (boilerplate said in every episode description is no loop)', () => {
    const flagged = corpus
      .map((c) => ({ name: c.name, a: assessTranscript({ segments: parseTranscript(c.body, c.format).segments, speech: null, minCoverage: 0.9, language: 'en', countMetric: false }) }))
      .filter((x) => x.a.status !== 'valid')
      .map((x) => `${x.name}: ${x.a.reasons.join('; ')}`);
    expect(flagged).toEqual([]);
  });

  it('their words are English words (the word list is read), well above the 50% floor', () => {
    for (const c of corpus) {
      const { check } = checkText(parseTranscript(c.body, c.format).segments, { language: 'en' });
      expect(check.method, c.name).toBe('wordlist');
      expect(check.word_share, c.name).toBeGreaterThan(0.75);
      expect(check.entropy, c.name).toBeLessThan(4.6);
    }
  });
});

describe('garbage text', () => {
  const segs = (...texts: string[]) => texts.map((t, i) => seg(i * 1000, i * 1000 + 900, t));

  it('random tokens are garbage_text, real sentences are not', () => {
    const garbage = assessTranscript({ segments: segs('wdf7 wxlq wzb4 w1a9 wq0x', 'wr2 wkk7 # wzz'), speech: null, minCoverage: 0.9, countMetric: false });
    expect(garbage.status).toBe('degraded');
    expect(garbage.reasons).toEqual([expect.stringMatching(/^garbage_text: 0% of 8 words are English words \(minimum 50%\)$/)]);
    const real = assessTranscript({ segments: segs("We'd back up the NAS to Backblaze B2 every night.", "It's 2021 and the 3rd drive failed."), speech: null, minCoverage: 0.9, countMetric: false });
    expect(real).toMatchObject({ status: 'valid', reasons: [] });
    expect(real.text_check.word_share).toBeGreaterThan(0.8);
  });

  it('without the word list it says so and judges by token shape and entropy', () => {
    const missing = path.join(tempDir('no-wordlist'), 'words');
    const g = checkText(segs('wdf7 wxlq wzb4 wpqk wq0x'), { wordlist: missing });
    expect(g.check).toMatchObject({ method: 'shape', wordlist: null });
    expect(g.garbage).toMatch(/^garbage_text: 0% of 5 words look like words \(no word list at .*words: install wamerican\)/);
    expect(checkText(segs('We talked about backups and restores today.'), { wordlist: missing }).garbage).toBeNull();
    // Random letters pass the shape test one by one, but not as a whole: their entropy is too high.
    const letters = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let x = 7;
    const random = Array.from({ length: 80 }, () => Array.from({ length: 5 }, () => letters[(x = (x * 1103515245 + 12345) % 2 ** 31) % 36]).join('')).join(' ');
    expect(checkText(segs(random), { wordlist: missing }).garbage).toMatch(/^garbage_text: (character entropy|\d+% of)/);
  });

  it('a German transcript is not judged by the English list', () => {
    const de = checkText(segs('Wir sprechen heute über Datensicherung und warum ein Spiegel keine Sicherung ist.'), { language: 'de' });
    expect(de.check.method).toBe('shape');
    expect(de.garbage).toBeNull();
  });

  it('keeps enrichment off garbage and whole-transcript loops, not off low coverage or a tail loop', () => {
    expect(enrichBlocker({ reasons: ['garbage_text: 0% of 4 words are English words (minimum 50%)'] })).toMatch(/^garbage_text/);
    expect(enrichBlocker({ reasons: ['repetition_loop: 96% of the word sequences repeat recent text (limit 50%)'], repetition_ratio: 0.96 })).toMatch(/^repetition_loop/);
    expect(enrichBlocker({ reasons: ['repetition_loop: 80 words from 0:01:00 keep repeating the same text'], repetition_ratio: 0.2 })).toBeNull();
    expect(enrichBlocker({ reasons: ['low_coverage: 62% of the detected speech is covered by transcript segments (minimum 90%)'] })).toBeNull();
    expect(enrichBlocker({ reasons: [] })).toBeNull();
    expect(enrichBlocker(undefined)).toBeNull();
  });
});

describe('the gate on fake-model transcripts (real whisper-cli, random-weight tiny models, fixture audio)', () => {
  const work = tempDir('gate-fake');
  const outputs: { name: string; segments: TranscriptSegment[] }[] = [];

  beforeAll(async () => {
    requireWhisperBuild();
    const clips = ['jfk.wav', 'fleurs-en-003.ogg'];
    for (const seed of [1, 3]) {
      const dir = path.join(work, `model-${seed}`);
      await writeFakeWhisperModel({ shape: 'tiny', outDir: dir, seed });
      const engine = createWhisperCppEngine(whisperTestConfig(dir), { logger: silentLogger });
      for (const clip of clips) {
        const wav = path.join(work, `${clip}.wav`);
        execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-i', fixture('audio', clip), '-ar', '16000', '-ac', '1', wav]);
        const res = await engine.transcribe({ wavPath: wav, durationMs: null, transcripts: [], signal: new AbortController().signal });
        outputs.push({ name: `${clip} seed ${seed}`, segments: res.segments });
      }
    }
  }, 180_000);

  it('flags every one of them degraded, and enrichment is kept off them', () => {
    expect(outputs).toHaveLength(4);
    for (const o of outputs) {
      const a = assessTranscript({ segments: o.segments, speech: null, minCoverage: 0.9, language: 'en', countMetric: false });
      expect(a.status, `${o.name}: ${o.segments.map((s) => s.text).join(' | ')}`).toBe('degraded');
      expect(a.reasons.map(reasonCode), o.name).toContain(o.segments.length ? 'garbage_text' : 'empty_transcript');
      expect(enrichBlocker({ reasons: a.reasons, repetition_ratio: a.repetition_ratio }), o.name).not.toBeNull();
    }
  });
});
