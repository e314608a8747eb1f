/**
 * Word handling shared by the hash embeddings, BM25 and snippets, so a query term that
 * matched in BM25 is the same term the snippet marks.
 */

const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it its ' +
    'just me my no not of on or our she so than that the their them then there these they this to too up us was we were ' +
    "what when where which who why will with would you your i'm it's don't that's yeah okay oh um uh like know really"
  ).split(' '),
);

const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’]*/gu;

/** Lower-cased words with their character offsets in `text`. */
export function words(text: string): { word: string; start: number; end: number }[] {
  const out: { word: string; start: number; end: number }[] = [];
  for (const m of text.matchAll(WORD)) {
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

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}

/** Stemmed content terms (stopwords dropped) in order. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const { word } of words(text)) if (!STOPWORDS.has(word)) out.push(stem(word));
  return out;
}

/** Rough token count for chunk budgets (~4 characters per token, as for English with BPE tokenizers). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.trim().length / 4);
}
