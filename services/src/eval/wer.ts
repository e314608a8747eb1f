/**
 * Word error rate, normalised the usual way so formatting does not count as an error:
 * Unicode NFKC, lowercase, punctuation stripped (apostrophes inside words kept, hyphens
 * and slashes split words), digits kept as words ("25" stays "25", "1,000" → "1000"),
 * whitespace collapsed.
 */

export interface WerResult {
  /** (substitutions + deletions + insertions) / reference words; 0 for two empty texts. */
  wer: number;
  substitutions: number;
  deletions: number;
  insertions: number;
  refWords: number;
  hypWords: number;
}

export function normalizeForWer(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/(\p{N})[,.](?=\p{N}{3}\b)/gu, '$1')
    .replace(/[^\p{L}\p{N}'.]+/gu, ' ')
    .replace(/(?<!\p{N})\.|\.(?!\p{N})/gu, ' ')
    .replace(/(^|\s)'+|'+(?=\s|$)/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

const words = (text: string) => {
  const n = normalizeForWer(text);
  return n ? n.split(' ') : [];
};

/**
 * Levenshtein alignment over words with S/D/I counts in O(ref) memory. Each cell keeps its
 * cost and the insertions on one cheapest path to it; deletions and substitutions follow,
 * because a path to cell (i, j) has i − D + I = j and S + D + I = cost. Words are interned
 * to integers first, so 10k × 10k words is 100M cheap cell updates.
 */
export function wordErrorRate(ref: string, hyp: string): WerResult {
  const ids = new Map<string, number>();
  const intern = (ws: string[]) => Int32Array.from(ws, (w) => ids.get(w) ?? (ids.set(w, ids.size), ids.size - 1));
  const r = intern(words(ref));
  const h = intern(words(hyp));
  const n = r.length;
  let cost = new Uint32Array(n + 1);
  let ins = new Uint32Array(n + 1);
  for (let i = 0; i <= n; i++) cost[i] = i;
  let nCost = new Uint32Array(n + 1);
  let nIns = new Uint32Array(n + 1);
  for (let j = 1; j <= h.length; j++) {
    const hj = h[j - 1];
    nCost[0] = j;
    nIns[0] = j;
    for (let i = 1; i <= n; i++) {
      const diag = cost[i - 1] + (r[i - 1] === hj ? 0 : 1);
      const up = nCost[i - 1] + 1; // deletion of r[i-1]
      const left = cost[i] + 1; // insertion of h[j-1]
      if (diag <= up && diag <= left) {
        nCost[i] = diag;
        nIns[i] = ins[i - 1];
      } else if (up <= left) {
        nCost[i] = up;
        nIns[i] = nIns[i - 1];
      } else {
        nCost[i] = left;
        nIns[i] = ins[i] + 1;
      }
    }
    [cost, nCost] = [nCost, cost];
    [ins, nIns] = [nIns, ins];
  }
  const insertions = ins[n];
  const deletions = n - h.length + insertions;
  const substitutions = cost[n] - deletions - insertions;
  return {
    wer: n === 0 ? (h.length === 0 ? 0 : 1) : cost[n] / n,
    substitutions,
    deletions,
    insertions,
    refWords: n,
    hypWords: h.length,
  };
}
