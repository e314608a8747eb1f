/** Word-level helpers for the extractive enrichment (English-centric, dependency-free). */

export const STOPWORDS = new Set(
  (
    'a about above after again against all almost also am an and any are aren as at be because been before being below between both ' +
    'but by can cannot could couldn did didn do does doesn doing don down during each either else even ever every few for from further ' +
    'get gets getting go goes going gone got gotta had hadn has hasn have haven having he her here hers herself him himself his how ' +
    'however i if in into is isn it its itself just know like lot lots maybe me might more most much must my myself need no nor not now of off ' +
    'oh ok okay on once one only or other ought our ours ourselves out over own really right said same say says see she should so some ' +
    'something such than that thats the their theirs them themselves then there these they thing things think this those though through ' +
    'to too under until up upon us very was wasn we well were weren what whatever when where whether which while who whom whose why will with ' +
    'within without won would wouldn yeah yes yet you your yours yourself yourselves actually basically kind sort mean means want wanted ' +
    'let lets make made many may back still way ways today time times year years day days people person guy guys uh um hmm mm ' +
    'gonna wanna two three first second new good great big little okay sure anything everything nothing someone everyone come came take took'
  ).split(/\s+/),
);

/** Lowercased word tokens of a text (letters, digits, inner apostrophes/hyphens). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) ?? [];
}

/** Content words: no stopwords, no pure numbers, at least 3 chars; possessive 's dropped. */
export function contentWords(text: string): string[] {
  const out: string[] = [];
  for (let w of words(text)) {
    w = w.replace(/['’]s$/, '');
    if (w.length < 3 || STOPWORDS.has(w) || /^\d+$/.test(w) || /['’]/.test(w)) continue;
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
