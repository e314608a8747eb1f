import { describe, expect, it } from 'vitest';
import { generateChapters, MIN_CHAPTER_MS } from '../src/chapters/generate';
import type { TranscriptSegment } from '../src/asr/types';
import { topicTranscript } from './chapters-fixtures';
import { fixtureSentences } from './support/fixture-transcript';

describe('generated chapters (topic shifts)', () => {
  it('finds the shifts between three topics, snapped to segment starts, titled by their distinctive terms', () => {
    const { segments, shifts } = topicTranscript([
      { topic: 'bees', minutes: 6 },
      { topic: 'backups', minutes: 7 },
      { topic: 'bread', minutes: 5 },
    ]);
    const g = generateChapters(segments);
    expect(g.note).toBeUndefined();
    expect(g.chapters).toHaveLength(3);
    expect(g.chapters[0].start_ms).toBe(0);
    const segStarts = new Set(segments.map((s) => s.start_ms));
    for (const [k, shift] of shifts.entries()) {
      const c = g.chapters[k + 1];
      expect(segStarts.has(c.start_ms)).toBe(true);
      expect(Math.abs(c.start_ms - shift)).toBeLessThanOrEqual(30_000);
      expect(g.chapters[k].end_ms).toBe(c.start_ms);
    }
    expect(g.chapters[2].end_ms).toBeNull();
    expect(g.chapters[0].title.toLowerCase()).toMatch(/hive|bee|queen|honey/);
    expect(g.chapters[1].title.toLowerCase()).toMatch(/backup|database|restore/);
    expect(g.chapters[2].title.toLowerCase()).toMatch(/dough|sourdough|flour|loaf|bread/);
    for (const c of g.chapters) {
      expect(c.title).toMatch(/^[A-Z]/);
      expect(c.title.toLowerCase()).not.toMatch(/\b(the|and the|that|is)\b(?! and)/);
      expect(c.title.length).toBeLessThanOrEqual(120);
    }
  });

  it('real show notes of three different shows in a row (fixture feeds): the shifts found, titles name their subjects', () => {
    const segments: TranscriptSegment[] = [];
    const shifts: number[] = [];
    let t = 0;
    for (const feed of ['changing-the-tide.xml', '1865.xml', 'launched.xml']) {
      if (t) shifts.push(t);
      const end = t + 10 * 60_000;
      const sentences = fixtureSentences([feed]);
      for (let i = 0; t < end; i++) {
        const text = sentences[i % sentences.length];
        const ms = Math.round((text.split(' ').length / 150) * 60_000);
        segments.push({ start_ms: t, end_ms: t + ms, text });
        t += ms + 200;
      }
    }
    const g = generateChapters(segments);
    expect(g.chapters).toHaveLength(3);
    for (const [k, shift] of shifts.entries()) expect(Math.abs(g.chapters[k + 1].start_ms - shift)).toBeLessThanOrEqual(30_000);
    expect(g.chapters[0].title).toMatch(/Bitcoin|Crabtree/);
    expect(g.chapters[2].title).toMatch(/App|Apple|launch/i);
    for (const c of g.chapters) expect(c.title.toLowerCase()).not.toMatch(/\b(episode|show|talk|joins?)\b/);
  });

  it('keeps chapters at least the minimum length, and none for a short episode or one topic', () => {
    const short = generateChapters(topicTranscript([{ topic: 'bees', minutes: 4 }, { topic: 'bread', minutes: 4 }]).segments);
    expect(short.chapters).toEqual([]);
    expect(short.note).toMatch(/shorter than 10 minutes/);
    const one = generateChapters(topicTranscript([{ topic: 'backups', minutes: 20 }]).segments);
    expect(one.chapters).toEqual([]);
    expect(one.note).toMatch(/no clear topic shift/);
    // A 1-minute aside between two long parts is no chapter of its own.
    const aside = generateChapters(topicTranscript([{ topic: 'bees', minutes: 8 }, { topic: 'bread', minutes: 1 }, { topic: 'backups', minutes: 8 }]).segments);
    const starts = aside.chapters.map((c) => c.start_ms);
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(MIN_CHAPTER_MS);
  });

  it('a 3-hour episode (~1,350 segments, six parts): one chapter per part, quickly', () => {
    const parts = (['bees', 'backups', 'bread', 'bees', 'backups', 'bread'] as const).map((topic) => ({ topic, minutes: 30 }));
    const { segments, shifts } = topicTranscript(parts, 11);
    const t0 = performance.now();
    const g = generateChapters(segments);
    const ms = performance.now() - t0;
    console.log(`generateChapters: ${segments.length} segments (3 h) in ${ms.toFixed(1)} ms`);
    expect(g.chapters).toHaveLength(6);
    for (const [k, shift] of shifts.entries()) expect(Math.abs(g.chapters[k + 1].start_ms - shift)).toBeLessThanOrEqual(30_000);
    expect(ms).toBeLessThan(2_000);
  });

  it('survives hostile segments (empty, unordered, no words, huge)', () => {
    expect(generateChapters([]).chapters).toEqual([]);
    const weird = [
      { start_ms: 700_000, end_ms: 701_000, text: '' },
      { start_ms: 0, end_ms: 1_000, text: '!!! ??? …' },
      { start_ms: 400_000, end_ms: 900_000, text: 'x'.repeat(100_000) },
    ];
    expect(generateChapters(weird).chapters).toEqual([]);
  });
});
