import { isStopword, stem, terms, wordSpans } from '../text/words';

const MARK_OPEN = '«';
const MARK_CLOSE = '»';

/**
 * A window of `text` around the query's words, each match wrapped in «…» (the viewer
 * renders those marks). Words match by stem, so "podcasts" marks "podcast".
 */
export function makeSnippet(text: string, query: string, maxChars = 240): string {
  const wanted = new Set(terms(query));
  const ws = wordSpans(text);
  const matches = ws.filter((w) => !isStopword(w.word) && wanted.has(stem(w.word)));
  let start = 0;
  if (matches.length && text.length > maxChars) {
    // The window starting a little before the match that has the most matches after it.
    let best = 0;
    let bestCount = -1;
    for (let i = 0; i < matches.length; i++) {
      let count = 0;
      for (let j = i; j < matches.length && matches[j].end - matches[i].start <= maxChars * 0.8; j++) count++;
      if (count > bestCount) [best, bestCount] = [i, count];
    }
    start = Math.max(0, matches[best].start - Math.round(maxChars * 0.2));
    const space = text.lastIndexOf(' ', start);
    start = start > 0 && space >= 0 && start - space < 20 ? space + 1 : start;
  }
  let end = Math.min(text.length, start + maxChars);
  if (end < text.length) {
    const space = text.lastIndexOf(' ', end);
    if (space > start + maxChars / 2) end = space;
  }
  let out = '';
  let pos = start;
  for (const m of matches) {
    if (m.start < start || m.end > end) continue;
    out += text.slice(pos, m.start) + MARK_OPEN + text.slice(m.start, m.end) + MARK_CLOSE;
    pos = m.end;
  }
  out += text.slice(pos, end);
  return `${start > 0 ? '…' : ''}${out}${end < text.length ? '…' : ''}`;
}
