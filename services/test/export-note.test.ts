import { describe, expect, it } from 'vitest';
import { episodeNote, noteFileName, tagOf, uniqueName, wikiTarget } from '../src/export/episode-note';

describe('export: note helpers', () => {
  it('tags are Obsidian tags (no spaces or punctuation, never only digits)', () => {
    expect(tagOf('Analytical engines')).toBe('analytical-engines');
    expect(tagOf('C++ / Rust!')).toBe('c-/-rust');
    expect(tagOf('2024')).toBeNull();
    expect(tagOf('  #  ')).toBeNull();
    expect(tagOf('Ökonomie')).toBe('ökonomie');
  });

  it('file names are safe on every OS and valid link targets; unique case-insensitively', () => {
    expect(noteFileName({ title: 'a/b\\c:d*e?f"g<h>i|j [k] #l ^m', published: '2024-01-02T00:00:00Z' })).toBe('2024-01-02 a b c d e f g h i j k l m.md');
    expect(noteFileName({ title: '...', published: null })).toBe('episode.md');
    expect(noteFileName({ title: 'x'.repeat(300), published: null }).length).toBeLessThanOrEqual(123);
    expect(wikiTarget('Acme [Corp] | x')).toBe('Acme Corp x');
    const taken = new Set<string>();
    expect(['A.md', 'a.md', 'A.md', 'A (2).md'].map((n) => uniqueName(n, taken))).toEqual(['A.md', 'a (2).md', 'A (3).md', 'A (2) (2).md']);
  });

  it('a bare episode (nothing enriched yet) is still a note with its front matter and a link back', () => {
    const md = episodeNote({ key: 'k1', title: 'Bare', show: null, published: null, durationS: null, url: 'javascript:alert(1)', summary: [], insights: [], topics: [], entities: [], chapters: [] }, 'https://v.example/');
    expect(md).toBe('---\ntitle: Bare\npodbrain: https://v.example/episodes/k1\nepisode_key: k1\n---\n\n# Bare\n\n[Open in podbrain](https://v.example/episodes/k1)\n');
  });
});
