import { describe, expect, it } from 'vitest';
import { generateChapters, MIN_CHAPTER_MS } from '../src/chapters/generate';
import { topicTranscript } from './chapters-fixtures';

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
