import { ENRICH_STOPWORDS, SEARCH_STOPWORDS } from './stopwords';

/**
 * Word handling for search and enrichment (English-centric, dependency-free). The two jobs
 * tokenise differently on purpose, and each keeps its behaviour:
 *
 * - search: `wordSpans` (words with their offsets, apostrophes kept, ’ folded to '), `stem`,
 *   `terms`, `isStopword`, so a query term that matched in BM25 is the same term the snippet
 *   marks and the hash embedding counts;
 * - enrichment: `words` (inner apostrophes and hyphens kept: "state-of-the-art") and
 *   `contentWords`, with the longer enrichment stopword list.
 */

/** A search word: lower-cased, ’ folded to ', with its character range in the text. */
export interface WordSpan {
  word: string;
  start: number;
  end: number;
}

const SEARCH_WORD = /[\p{L}\p{N}][\p{L}\p{N}'’]*/gu;

/** Lower-cased search words with their character offsets in `text`. */
export function wordSpans(text: string): WordSpan[] {
  const out: WordSpan[] = [];
  for (const m of text.matchAll(SEARCH_WORD)) {
    out.push({ word: m[0].toLowerCase().replace(/’/g, "'"), start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** A light suffix stripper (plural/-ing/-ed), enough to match "podcasts" with "podcast". */
export function stem(word: string): string {
  let w = word.replace(/'s$/, '');
  if (w.length > 4 && w.endsWith('ies')) return `${w.slice(0, -3)}y`;
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1);
  return w;
}

/** Whether search drops this word (a `wordSpans` word). */
export function isStopword(word: string): boolean {
  return SEARCH_STOPWORDS.has(word);
}

/** Stemmed search terms (stopwords dropped) in order: what BM25 indexes and queries. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const { word } of wordSpans(text)) if (!SEARCH_STOPWORDS.has(word)) out.push(stem(word));
  return out;
}

/** Rough token count for chunk budgets (~4 characters per token, as for English with BPE tokenizers). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.trim().length / 4);
}

/** Lowercased word tokens of a text for enrichment (letters, digits, inner apostrophes/hyphens). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) ?? [];
}

/** Enrichment content words: no stopwords, no pure numbers, at least 3 chars; possessive 's dropped. */
export function contentWords(text: string): string[] {
  const out: string[] = [];
  for (let w of words(text)) {
    w = w.replace(/['’]s$/, '');
    if (w.length < 3 || ENRICH_STOPWORDS.has(w) || /^\d+$/.test(w) || /['’]/.test(w)) continue;
    out.push(w);
  }
  return out;
}

/** Stable ASCII slug: "Café Labs, Inc." → "cafe-labs-inc". */
export function slugify(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/['’]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
}

/** Shortens to at most `max` chars at a word boundary, with an ellipsis. */
export function shorten(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max - 1);
  const sp = cut.lastIndexOf(' ');
  return `${(sp > max * 0.6 ? cut.slice(0, sp) : cut).replace(/[\s,;:.-]+$/, '')}…`;
}
