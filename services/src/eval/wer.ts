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
 * Levenshtein alignment over words with S/D/I counts, in O(ref) memory: each cell keeps the
 * counts of one cheapest path to it, so long transcripts (10k × 10k words) need no matrix.
 */
export function wordErrorRate(ref: string, hyp: string): WerResult {
  const r = words(ref);
  const h = words(hyp);
  const n = r.length;
  // Row i of the DP table: cost and counts for aligning r[0..i) with h[0..j) for the current j.
  let cost = new Uint32Array(n + 1);
  let sub = new Uint32Array(n + 1);
  let del = new Uint32Array(n + 1);
  let ins = new Uint32Array(n + 1);
  for (let i = 0; i <= n; i++) [cost[i], del[i]] = [i, i];
  let nCost = new Uint32Array(n + 1);
  let nSub = new Uint32Array(n + 1);
  let nDel = new Uint32Array(n + 1);
  let nIns = new Uint32Array(n + 1);
  for (let j = 1; j <= h.length; j++) {
    nCost[0] = j;
    nSub[0] = 0;
    nDel[0] = 0;
    nIns[0] = j;
    for (let i = 1; i <= n; i++) {
      const same = r[i - 1] === h[j - 1];
      const diag = cost[i - 1] + (same ? 0 : 1);
      const up = nCost[i - 1] + 1; // deletion of r[i-1]
      const left = cost[i] + 1; // insertion of h[j-1]
      if (diag <= up && diag <= left) {
        nCost[i] = diag;
        nSub[i] = sub[i - 1] + (same ? 0 : 1);
        nDel[i] = del[i - 1];
        nIns[i] = ins[i - 1];
      } else if (up <= left) {
        nCost[i] = up;
        nSub[i] = nSub[i - 1];
        nDel[i] = nDel[i - 1] + 1;
        nIns[i] = nIns[i - 1];
      } else {
        nCost[i] = left;
        nSub[i] = sub[i];
        nDel[i] = del[i];
        nIns[i] = ins[i] + 1;
      }
    }
    [cost, nCost] = [nCost, cost];
    [sub, nSub] = [nSub, sub];
    [del, nDel] = [nDel, del];
    [ins, nIns] = [nIns, ins];
  }
  const errors = sub[n] + del[n] + ins[n];
  return {
    wer: n === 0 ? (h.length === 0 ? 0 : 1) : errors / n,
    substitutions: sub[n],
    deletions: del[n],
    insertions: ins[n],
    refWords: n,
    hypWords: h.length,
  };
}
