import { isStopword, stem, terms, wordSpans } from '../text/words';

/**
 * What makes a fused chunk a hit people can use (issue 16): the sentence that matched (its time,
 * a snippet centred on it with highlight ranges), the query terms it matched, why it is a hit, a
 * relevance floor from real signals, and overlapping hits of one episode merged.
 */

/** A transcript segment as hits read it (the chunk's text is segment texts joined by single spaces). */
export interface TimedSegment {
  start_ms: number;
  end_ms: number;
  text: string;
}

/** A character range [start, end) in a snippet's text. */
export interface Highlight {
  start: number;
  end: number;
}

export interface Snippet {
  /** Plain text (an ellipsis where cut), never markup. */
  text: string;
  /** The matched query words in `text`. */
  highlights: Highlight[];
}

/** The query as hits judge it: its distinct stemmed terms (stopwords dropped). */
export interface QueryTerms {
  terms: string[];
}

export function queryTerms(query: string): QueryTerms {
  return { terms: [...new Set(terms(query))] };
}

interface SentenceSpan {
  start: number;
  end: number;
}

const SENTENCE_END = /[.!?…]+["'”’)\]]*(?=\s|$)/g;

/** Sentence ranges of a chunk's text (same ends as the chunker's). */
export function sentenceSpans(text: string): SentenceSpan[] {
  const out: SentenceSpan[] = [];
  let from = 0;
  const push = (s: number, e: number) => {
    while (s < e && text[s] === ' ') s++;
    if (e > s) out.push({ start: s, end: e });
  };
  for (const m of text.matchAll(SENTENCE_END)) {
    const end = m.index + m[0].length;
    push(from, end);
    from = end;
  }
  push(from, text.length);
  return out;
}

/**
 * Where the query's terms occur in `text`: their ranges, which terms (stems, in query order) and
 * each one's first form in the text ("flies" for the term "fly"), which is what people are shown.
 */
export function matchesIn(text: string, q: QueryTerms): { spans: Highlight[]; matched: string[]; words: string[] } {
  const wanted = new Set(q.terms);
  const spans: Highlight[] = [];
  const seen = new Map<string, string>();
  for (const w of wordSpans(text)) {
    if (isStopword(w.word)) continue;
    const s = stem(w.word);
    if (!wanted.has(s)) continue;
    spans.push({ start: w.start, end: w.end });
    if (!seen.has(s)) seen.set(s, w.word);
  }
  const matched = q.terms.filter((t) => seen.has(t));
  return { spans, matched, words: matched.map((t) => seen.get(t) as string) };
}

/** The query's own words (stopwords dropped, as typed, lower-cased, once each). */
export function queryWords(query: string): string[] {
  return [...new Set(wordSpans(query).filter((w) => !isStopword(w.word)).map((w) => w.word))];
}

/** The sentence with the most distinct query terms (earliest on ties); the first one when none matched. */
export function bestSentence(text: string, q: QueryTerms): SentenceSpan {
  const sents = sentenceSpans(text);
  if (!sents.length) return { start: 0, end: text.length };
  let best = sents[0];
  let bestCount = 0;
  for (const s of sents) {
    const n = matchesIn(text.slice(s.start, s.end), q).matched.length;
    if (n > bestCount) [best, bestCount] = [s, n];
  }
  return best;
}

/**
 * A window of about `maxChars` of `text` centred on the sentence [focus.start, focus.end),
 * cut at word boundaries, with the query's words as highlight ranges into the window's text.
 */
export function centredSnippet(text: string, focus: SentenceSpan, q: QueryTerms, maxChars = 240): Snippet {
  let start = 0;
  let end = text.length;
  if (text.length > maxChars) {
    const len = focus.end - focus.start;
    if (len >= maxChars) {
      // A long sentence: start at it, or just before its first match when that is far in.
      const first = matchesIn(text.slice(focus.start, focus.end), q).spans[0];
      start = first && first.start > maxChars / 2 ? focus.start + first.start - Math.round(maxChars / 4) : focus.start;
    } else {
      start = Math.max(0, focus.start - Math.floor((maxChars - len) / 2));
    }
    end = Math.min(text.length, start + maxChars);
    start = Math.max(0, end - maxChars);
    if (start > 0) {
      const space = text.indexOf(' ', start);
      if (space >= 0 && space < Math.min(focus.start, start + 20)) start = space + 1;
      else if (space >= 0 && focus.start > start && focus.start - start < 20) start = focus.start;
    }
    if (end < text.length) {
      const space = text.lastIndexOf(' ', end);
      if (space > Math.max(start + maxChars / 2, focus.start)) end = space;
    }
  }
  const prefix = start > 0 ? '…' : '';
  const body = text.slice(start, end);
  const highlights = matchesIn(body, q).spans.map((h) => ({ start: h.start + prefix.length, end: h.end + prefix.length }));
  return { text: `${prefix}${body}${end < text.length ? '…' : ''}`, highlights };
}

/** The snippet with its highlights wrapped in «…» (the CLI's terminal form). */
export function markedSnippet(s: Snippet): string {
  let out = '';
  let pos = 0;
  for (const h of s.highlights) {
    out += `${s.text.slice(pos, h.start)}«${s.text.slice(h.start, h.end)}»`;
    pos = h.end;
  }
  return out + s.text.slice(pos);
}

/**
 * The time of char `offset` of a chunk: from the transcript segments where they line up with the
 * chunk's text (the sentence's segment, plus its share of that segment when the segment holds
 * several sentences), else the chunk's span shared out by characters.
 */
export function timeAtOffset(chunk: { text: string; start_ms: number; end_ms: number }, offset: number, segments: readonly TimedSegment[] | null): number {
  if (segments?.length) {
    const texts = segments.map((s) => s.text.trim().replace(/\s+/g, ' '));
    const joined = texts.join(' ');
    const head = chunk.text.slice(0, 80);
    const at = joined.indexOf(head);
    if (at >= 0) {
      const abs = at + offset;
      let pos = 0;
      for (let i = 0; i < texts.length; i++) {
        const end = pos + texts[i].length;
        if (abs < end || i === texts.length - 1) {
          const seg = segments[i];
          const share = texts[i].length ? Math.max(0, abs - pos) / texts[i].length : 0;
          return Math.round(seg.start_ms + share * Math.max(0, seg.end_ms - seg.start_ms));
        }
        pos = end + 1;
      }
    }
  }
  const share = chunk.text.length ? offset / chunk.text.length : 0;
  return Math.round(chunk.start_ms + share * Math.max(0, chunk.end_ms - chunk.start_ms));
}

/**
 * The least cosine a vector-only hit needs, per embedding provider. `hash` has no meaning beyond
 * shared words (which the keyword side already sees), so its neighbours alone never make a hit.
 * Learned models also have to beat what gibberish scores against the same index (the baseline).
 */
export const MIN_COSINE: Record<string, number> = { hash: Number.POSITIVE_INFINITY, onnx: 0.3, openai: 0.3 };
/** How far above the gibberish baseline a vector-only hit must be. */
export const BASELINE_MARGIN = 0.05;
/** Nonsense probes whose best cosine against the index is the baseline a real query must beat. */
export const GIBBERISH_PROBES = ['xqzv blorf', 'asdf qwerty', 'zzkq vrrp wmph'];

/**
 * Share of the query's weight a chunk's matched terms must carry to be a keyword hit (at least
 * one term). Weighted by idf where the keyword side knows it (BM25), so a common word ("get") of
 * a long question does not make a hit while a rare one ("bitcoin") does.
 */
export const MIN_TERM_COVERAGE = 0.2;

/** idf-weighted share of the query's terms in `matched` (uniform without weights). */
export function termCoverage(matched: readonly string[], q: QueryTerms, weights: ReadonlyMap<string, number> | null): number {
  const w = (t: string) => weights?.get(t) ?? 1;
  const total = q.terms.reduce((sum, t) => sum + w(t), 0);
  return total > 0 ? matched.reduce((sum, t) => sum + w(t), 0) / total : 0;
}

export interface Evidence {
  /** Query terms in the chunk, as they appear in it. */
  matched: string[];
  /** Their share of the query's terms, 0–1 (termCoverage). */
  coverage: number;
  /** Cosine of the query and the chunk, null where the vector side did not return it. */
  similarity: number | null;
  /** The keyword searcher matched it by its own rules, which are the floor (Postgres full text: every term, with its stemming). */
  keywordMatched?: boolean;
}

/** Whether a chunk is a hit at all, and why: enough of the query's words, or close enough in meaning. */
export function judge(e: Evidence, q: QueryTerms, vectorFloor: number): { keep: boolean; why: string; relevance: number } {
  const byWords = e.keywordMatched === true || (e.matched.length > 0 && e.coverage >= MIN_TERM_COVERAGE);
  const byMeaning = e.similarity !== null && e.similarity >= vectorFloor;
  const why = byWords ? `matched: ${e.matched.join(', ')}` : 'similar meaning';
  const relevance = Math.max(byWords ? (e.keywordMatched ? 1 : e.coverage) : 0, byMeaning && e.similarity !== null ? e.similarity : 0);
  return { keep: byWords || byMeaning, why, relevance: Math.round(Math.min(1, relevance) * 100) / 100 };
}

/**
 * Overlapping hits of one episode (chunks overlap by design) folded into the best-ranked one:
 * its sentence and snippet stay, the span and matched terms grow. `hits` is best first;
 * `terms` are the matched stems and `matched` their words, index for index.
 */
export function mergeOverlapping<H extends { episodeKey: string; spanStart: number; spanEnd: number; terms: string[]; matched: string[] }>(hits: readonly H[]): H[] {
  const out: H[] = [];
  for (const h of hits) {
    const into = out.find((o) => o.episodeKey === h.episodeKey && h.spanStart < o.spanEnd && o.spanStart < h.spanEnd);
    if (!into) {
      out.push({ ...h, terms: [...h.terms], matched: [...h.matched] });
      continue;
    }
    into.spanStart = Math.min(into.spanStart, h.spanStart);
    into.spanEnd = Math.max(into.spanEnd, h.spanEnd);
    // By term, so "holes" in one chunk and "hole" in the next are one match.
    h.terms.forEach((t, i) => {
      if (into.terms.includes(t)) return;
      into.terms.push(t);
      into.matched.push(h.matched[i]);
    });
  }
  return out;
}
