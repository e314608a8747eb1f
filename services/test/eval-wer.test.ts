import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeForWer, wordErrorRate } from '../src/eval/wer';
import { fixture } from './support/fixtures';

describe('normalizeForWer', () => {
  it.each([
    ['And so, my fellow Americans: ask not!', 'and so my fellow americans ask not'],
    ['It’s 1,000 dollars — or 3.5%.', "it's 1000 dollars or 3.5"],
    ['e-mail / fax', 'e mail fax'],
    ['"Quoted"  text\n\twith   spaces', 'quoted text with spaces'],
    ["'single quotes' and rock 'n' roll", "single quotes and rock n roll"],
    ['Ça va?  ÉCOLE', 'ça va école'],
    ['Version 2.0. Next.', 'version 2.0 next'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(normalizeForWer(input)).toBe(expected);
  });
});

describe('wordErrorRate', () => {
  it('is 0 for the same text in a different format', () => {
    const ref = readFileSync(fixture('audio', 'jfk.txt'), 'utf8');
    const hyp = ' and so my fellow americans ask not what your country can do for you ask what you can do for your country ';
    expect(wordErrorRate(ref, hyp)).toEqual({ wer: 0, substitutions: 0, deletions: 0, insertions: 0, refWords: 22, hypWords: 22 });
  });

  it('counts substitutions, deletions and insertions', () => {
    expect(wordErrorRate('the cat sat on the mat', 'the cat sat on mat')).toMatchObject({ deletions: 1, substitutions: 0, insertions: 0, refWords: 6 });
    expect(wordErrorRate('the cat sat on the mat', 'the cat sat on the mat today')).toMatchObject({ insertions: 1, wer: 1 / 6 });
    expect(wordErrorRate('a b c', 'a x c d')).toMatchObject({ substitutions: 1, insertions: 1, deletions: 0, wer: 2 / 3 });
    expect(wordErrorRate('one two three four', '')).toMatchObject({ deletions: 4, wer: 1 });
  });

  it('handles empty texts', () => {
    expect(wordErrorRate('', '').wer).toBe(0);
    expect(wordErrorRate('', 'hello there')).toMatchObject({ wer: 1, insertions: 2, refWords: 0 });
  });

  it('matches a brute-force edit distance on random word lists', () => {
    const vocab = ['a', 'b', 'c', 'd'];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const list = (n: number) => Array.from({ length: n }, () => vocab[Math.floor(rnd() * vocab.length)]);
    const distance = (r: string[], h: string[]) => {
      const d = Array.from({ length: r.length + 1 }, (_, i) => Array.from({ length: h.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
      for (let i = 1; i <= r.length; i++)
        for (let j = 1; j <= h.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
      return d[r.length][h.length];
    };
    for (let t = 0; t < 200; t++) {
      const r = list(Math.floor(rnd() * 12));
      const h = list(Math.floor(rnd() * 12));
      const res = wordErrorRate(r.join(' '), h.join(' '));
      expect(res.substitutions + res.deletions + res.insertions).toBe(distance(r, h));
      expect(res.refWords - res.deletions + res.insertions).toBe(h.length);
    }
  });

  it('aligns 10k-word transcripts quickly', () => {
    const words = Array.from({ length: 10_000 }, (_, i) => `w${i % 997}`);
    const hyp = [...words];
    hyp.splice(5000, 10);
    const t0 = performance.now();
    const res = wordErrorRate(words.join(' '), hyp.join(' '));
    const ms = performance.now() - t0;
    console.log(`WER of 10k words: ${ms.toFixed(0)} ms`);
    expect(res).toMatchObject({ deletions: 10, substitutions: 0, insertions: 0, refWords: 10_000 });
    // ~1 s on an idle 2-core box; the bound leaves room for a loaded CI machine.
    expect(ms).toBeLessThan(30_000);
  });
});
