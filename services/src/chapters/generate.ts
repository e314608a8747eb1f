import type { TranscriptSegment } from '../asr/types';
import { contentWords, shorten, stem } from '../text/words';
import { MAX_TITLE_CHARS, type Chapter } from './types';

/**
 * Generated chapters: TextTiling-style lexical cohesion over the transcript (Hearst 1997).
 * At every gap between two segments the content words (stemmed, stopwords dropped) of the
 * WINDOW_MS before and after are compared (cosine of their counts); the curve is smoothed, and a
 * gap where it dips deeply (depth: how far it climbs back on both sides) is a topic shift.
 * Boundaries are those gaps, so each chapter starts at a segment's start; chapters are at least
 * MIN_CHAPTER_MS long, episodes under MIN_EPISODE_MS get none (one chapter would be the whole
 * episode), and there is at most one chapter per MS_PER_CHAPTER of audio. Titles are extractive:
 * the chapter's most distinctive phrase and terms (counted in it, rare in the other chapters).
 */

export const MIN_EPISODE_MS = 10 * 60_000;
export const MIN_CHAPTER_MS = 3 * 60_000;
const MS_PER_CHAPTER = 5 * 60_000;
const WINDOW_MS = 90_000;
/** Gaps averaged on each side when smoothing the cohesion curve. */
const SMOOTH = 2;
/** A dip shallower than this is never a boundary, whatever the rest of the curve does. */
const MIN_DEPTH = 0.12;
const MAX_CHAPTERS = 40;
/** Neighbouring chapters whose words are this alike (cosine of their counts) are one chapter. */
const MERGE_SIMILARITY = 0.6;

export interface GeneratedChapters {
  chapters: Chapter[];
  /** Why there are none, when there are none. */
  note?: string;
  /** Each chapter's distinctive terms, best first (also given to the LLM when it titles them). */
  keyTerms: string[][];
}

type Counts = Map<string, number>;

function add(into: Counts, terms: readonly string[], by = 1): void {
  for (const t of terms) {
    const n = (into.get(t) ?? 0) + by;
    if (n) into.set(t, n);
    else into.delete(t);
  }
}

function cosine(a: Counts, b: Counts): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [t, x] of a) {
    na += x * x;
    const y = b.get(t);
    if (y) dot += x * y;
  }
  for (const y of b.values()) nb += y * y;
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

/** The cohesion between the window before and the window after each gap (gap i: before segment i). */
export function cohesionCurve(segments: readonly TranscriptSegment[], termsOf: readonly string[][]): number[] {
  const sims: number[] = new Array<number>(segments.length).fill(0);
  const left: Counts = new Map();
  const right: Counts = new Map();
  // Two sliding windows: [l0, i) before the gap, [r0 = i, r1) after it.
  let l0 = 0;
  let r0 = 0;
  let r1 = 0;
  for (let i = 1; i < segments.length; i++) {
    const t = segments[i].start_ms;
    add(left, termsOf[i - 1]);
    while (l0 < i && segments[l0].start_ms < t - WINDOW_MS) add(left, termsOf[l0++], -1);
    if (r1 < i) {
      right.clear();
      r0 = r1 = i;
    }
    while (r0 < i) add(right, termsOf[r0++], -1);
    while (r1 < segments.length && segments[r1].start_ms < t + WINDOW_MS) add(right, termsOf[r1++]);
    sims[i] = cosine(left, right);
  }
  return sims;
}

function smooth(xs: readonly number[]): number[] {
  return xs.map((_, i) => {
    if (i === 0) return 0;
    let sum = 0;
    let n = 0;
    for (let j = Math.max(1, i - SMOOTH); j <= Math.min(xs.length - 1, i + SMOOTH); j++, n++) sum += xs[j];
    return sum / n;
  });
}

/** Depth of each local minimum of the curve (gap index → depth). */
function depths(sims: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 1; i < sims.length; i++) {
    const s = sims[i];
    if ((i > 1 && sims[i - 1] < s) || (i + 1 < sims.length && sims[i + 1] < s)) continue;
    let lp = s;
    for (let j = i - 1; j >= 1 && sims[j] >= lp; j--) lp = sims[j];
    let rp = s;
    for (let j = i + 1; j < sims.length && sims[j] >= rp; j++) rp = sims[j];
    const d = lp - s + (rp - s);
    if (d > 0) out.set(i, d);
  }
  return out;
}

/** Where the chapters start: indexes of segments, ascending (0 not included). */
export function chapterBoundaries(segments: readonly TranscriptSegment[], termsOf: readonly string[][], durationMs: number): number[] {
  const sims = smooth(cohesionCurve(segments, termsOf));
  const minima = depths(sims);
  const ds = [...minima.values()];
  if (!ds.length) return [];
  const mean = ds.reduce((a, b) => a + b, 0) / ds.length;
  const sd = Math.sqrt(ds.reduce((a, b) => a + (b - mean) ** 2, 0) / ds.length);
  const cutoff = Math.max(MIN_DEPTH, mean + sd / 2);
  const maxBoundaries = Math.min(MAX_CHAPTERS, Math.floor(durationMs / MS_PER_CHAPTER)) - 1;
  const chosen: number[] = [];
  const candidates = [...minima].filter(([, d]) => d >= cutoff).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (const [i] of candidates) {
    if (chosen.length >= maxBoundaries) break;
    const t = segments[i].start_ms;
    if (t < MIN_CHAPTER_MS || durationMs - t < MIN_CHAPTER_MS) continue;
    if (chosen.some((j) => Math.abs(segments[j].start_ms - t) < MIN_CHAPTER_MS)) continue;
    chosen.push(i);
  }
  return mergeAlike(chosen.sort((a, b) => a - b), termsOf);
}

/**
 * A dip in the curve is only a shift when the chapters on both sides are about different things:
 * while two neighbours' whole vocabularies are still alike (cosine ≥ MERGE_SIMILARITY: one topic
 * with a lull in it), the boundary between the most alike pair goes.
 */
function mergeAlike(bounds: number[], termsOf: readonly string[][]): number[] {
  const out = [...bounds];
  const countsOf = (from: number, to: number) => {
    const c: Counts = new Map();
    for (let i = from; i < to; i++) add(c, termsOf[i]);
    return c;
  };
  for (;;) {
    const edges = [0, ...out, termsOf.length];
    const chapters = edges.slice(0, -1).map((from, k) => countsOf(from, edges[k + 1]));
    let worst = -1;
    let worstSim = MERGE_SIMILARITY;
    for (let k = 0; k + 1 < chapters.length; k++) {
      const sim = cosine(chapters[k], chapters[k + 1]);
      if (sim >= worstSim) {
        worst = k;
        worstSim = sim;
      }
    }
    if (worst < 0) return out;
    out.splice(worst, 1);
  }
}

interface Phrase {
  key: string;
  stems: string[];
  score: number;
}

/** The surface form of each stem as it is written most often ("Postgres" stays capitalised, "bees" → "bees"). */
function surfaceForms(segments: readonly TranscriptSegment[]): Map<string, string> {
  const counts = new Map<string, Map<string, number>>();
  for (const s of segments) {
    for (const m of s.text.matchAll(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu)) {
      const raw = m[0].replace(/['’]s$/, '');
      const lower = raw.toLowerCase();
      // A capital after a sentence end says nothing about the word; elsewhere it marks a name.
      const before = s.text.slice(0, m.index).trimEnd();
      const form = before === '' || /[.!?]$/.test(before) ? lower : raw;
      const key = stem(lower);
      const forms = counts.get(key) ?? new Map<string, number>();
      forms.set(form, (forms.get(form) ?? 0) + 1);
      counts.set(key, forms);
    }
  }
  const out = new Map<string, string>();
  for (const [key, forms] of counts) {
    const lowerCount = [...forms].filter(([f]) => f === f.toLowerCase()).reduce((a, [, n]) => a + n, 0);
    const best = [...forms].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
    // Mostly written lower-case: lower-case (the capitalised ones start sentences the splitter missed).
    out.set(key, lowerCount * 2 >= [...forms.values()].reduce((a, b) => a + b, 0) ? best.toLowerCase() : best);
  }
  return out;
}

/** Podcast talk about the talk: never what a chapter is about (stems, as `stem` makes them). */
const TITLE_NOISE = new Set(['episode', 'show', 'podcast', 'talk', 'join', 'discuss', 'listen', 'listener', 'host', 'guest', 'chat', 'conversation', 'welcome', 'interview', 'question', 'point', 'stuff']);
/** A name (written capitalised mid-sentence) says more about a chapter than a common word. */
const NAME_BOOST = 1.5;

/** Each chapter's best phrases by tf·idf over the chapters (a two-word phrase said twice beats its words). */
function keyPhrases(chapterSegs: readonly TranscriptSegment[][], forms: Map<string, string>): Phrase[][] {
  const per = chapterSegs.map((segs) => {
    const uni = new Map<string, number>();
    const bi = new Map<string, number>();
    for (const s of segs) {
      // Bigrams only of adjacent content words: "sourdough starter", never across a stopword.
      const ws = s.text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) ?? [];
      let prev: string | null = null;
      for (const w of ws) {
        const c = contentWords(w)[0];
        if (!c) {
          prev = null;
          continue;
        }
        const st = stem(c);
        if (TITLE_NOISE.has(st)) {
          prev = null;
          continue;
        }
        uni.set(st, (uni.get(st) ?? 0) + 1);
        if (prev && prev !== st) bi.set(`${prev} ${st}`, (bi.get(`${prev} ${st}`) ?? 0) + 1);
        prev = st;
      }
    }
    return { uni, bi };
  });
  const n = per.length;
  const df = new Map<string, number>();
  for (const p of per) for (const k of [...p.uni.keys(), ...p.bi.keys()]) df.set(k, (df.get(k) ?? 0) + 1);
  const idf = (k: string) => Math.log(1 + n / (df.get(k) ?? 1));
  const boost = (stems: string[]) => (stems.some((st) => /^\p{Lu}/u.test(forms.get(st) ?? '')) ? NAME_BOOST : 1);
  return per.map(({ uni, bi }) => {
    const phrases: Phrase[] = [];
    for (const [k, tf] of uni) if (tf >= 2 && k.length >= 3) phrases.push({ key: k, stems: [k], score: tf * idf(k) * boost([k]) });
    for (const [k, tf] of bi) {
      const stems = k.split(' ');
      if (tf >= 2) phrases.push({ key: k, stems, score: 1.5 * tf * idf(k) * boost(stems) });
    }
    return phrases.sort((a, b) => b.score - a.score || a.key.localeCompare(b.key));
  });
}

/** "Sourdough starter, flour and oven": the best phrase and up to two more terms not in it. */
function titleOf(phrases: readonly Phrase[], forms: Map<string, string>): { title: string; terms: string[] } {
  const picked: Phrase[] = [];
  const used = new Set<string>();
  for (const p of phrases) {
    if (picked.length >= 3) break;
    if (p.stems.some((s) => used.has(s))) continue;
    picked.push(p);
    p.stems.forEach((s) => used.add(s));
  }
  const texts = picked.map((p) => p.stems.map((s) => forms.get(s) ?? s).join(' '));
  if (!texts.length) return { title: '', terms: [] };
  const joined = texts.length === 1 ? texts[0] : `${texts.slice(0, -1).join(', ')} and ${texts[texts.length - 1]}`;
  return { title: shorten(joined.charAt(0).toUpperCase() + joined.slice(1), MAX_TITLE_CHARS), terms: texts };
}

/** Chapters from topic shifts in the transcript, titled extractively (see the module comment). */
export function generateChapters(segments: readonly TranscriptSegment[]): GeneratedChapters {
  const segs = segments.filter((s) => s.text.trim() !== '' && Number.isFinite(s.start_ms)).slice().sort((a, b) => a.start_ms - b.start_ms);
  const durationMs = segs.reduce((m, s) => Math.max(m, s.end_ms, s.start_ms), 0);
  if (durationMs < MIN_EPISODE_MS) {
    return { chapters: [], keyTerms: [], note: `no chapters generated: the transcript is shorter than ${MIN_EPISODE_MS / 60_000} minutes (one chapter would be the whole episode)` };
  }
  const termsOf = segs.map((s) => contentWords(s.text).map(stem));
  const bounds = chapterBoundaries(segs, termsOf, durationMs);
  if (!bounds.length) return { chapters: [], keyTerms: [], note: 'no chapters generated: no clear topic shift in the transcript' };
  const starts = [0, ...bounds];
  const chapterSegs = starts.map((s, k) => segs.slice(s, k + 1 < starts.length ? starts[k + 1] : segs.length));
  const forms = surfaceForms(segs);
  const phrases = keyPhrases(chapterSegs, forms);
  const keyTerms: string[][] = [];
  const chapters = starts.map((s, k): Chapter => {
    const { title, terms } = titleOf(phrases[k], forms);
    keyTerms.push(terms);
    return {
      start_ms: k === 0 ? 0 : segs[s].start_ms,
      end_ms: k + 1 < starts.length ? segs[starts[k + 1]].start_ms : null,
      title: title || `Part ${k + 1}`,
      url: null,
      image: null,
    };
  });
  return { chapters, keyTerms };
}
