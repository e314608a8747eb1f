import { contentWords } from '../text/words';

/**
 * TextRank over TF-IDF sentence vectors (cosine similarity graph, PageRank with damping
 * 0.85). Pair similarities come from an inverted index, so cost grows with shared terms,
 * not n²; terms in more than 30% of sentences add little and are skipped.
 */
export function rankSentences(texts: readonly string[], opts: { iterations?: number; damping?: number } = {}): number[] {
  const n = texts.length;
  if (n === 0) return [];
  if (n === 1) return [1];
  // A sentence said again word for word (intros, ads, boilerplate) gets no second vote:
  // repeats would form a dense cluster and win the ranking. Only the first keeps a score.
  const seen = new Set<string>();
  const repeat = new Array<boolean>(n).fill(false);
  const docs = texts.map((t, i) => {
    const ws = contentWords(t);
    const key = ws.join(' ');
    if (key && seen.has(key)) {
      repeat[i] = true;
      return [];
    }
    seen.add(key);
    return ws;
  });
  const df = new Map<string, number>();
  for (const d of docs) for (const w of new Set(d)) df.set(w, (df.get(w) ?? 0) + 1);

  // Normalised TF-IDF vectors.
  const vectors = docs.map((d) => {
    const tf = new Map<string, number>();
    for (const w of d) tf.set(w, (tf.get(w) ?? 0) + 1);
    const v = new Map<string, number>();
    let norm = 0;
    for (const [w, c] of tf) {
      const x = (1 + Math.log(c)) * Math.log(1 + n / (df.get(w) ?? 1));
      v.set(w, x);
      norm += x * x;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [w, x] of v) v.set(w, x / norm);
    return v;
  });

  const postings = new Map<string, { i: number; x: number }[]>();
  const maxDf = Math.max(3, Math.floor(n * 0.3));
  vectors.forEach((v, i) => {
    for (const [w, x] of v) {
      if ((df.get(w) ?? 0) > maxDf) continue;
      let p = postings.get(w);
      if (!p) postings.set(w, (p = []));
      p.push({ i, x });
    }
  });
  const edges: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (const p of postings.values()) {
    for (let a = 0; a < p.length; a++) {
      for (let b = a + 1; b < p.length; b++) {
        const s = p[a].x * p[b].x;
        const ea = edges[p[a].i];
        ea.set(p[b].i, (ea.get(p[b].i) ?? 0) + s);
        const eb = edges[p[b].i];
        eb.set(p[a].i, (eb.get(p[a].i) ?? 0) + s);
      }
    }
  }
  const outSum = edges.map((e) => [...e.values()].reduce((s, x) => s + x, 0));

  const d = opts.damping ?? 0.85;
  let score = new Array<number>(n).fill(1 / n);
  for (let it = 0; it < (opts.iterations ?? 30); it++) {
    const next = new Array<number>(n).fill((1 - d) / n);
    let dangling = 0;
    for (let i = 0; i < n; i++) {
      if (outSum[i] === 0) {
        dangling += score[i];
        continue;
      }
      const share = (d * score[i]) / outSum[i];
      for (const [j, w] of edges[i]) next[j] += share * w;
    }
    for (let i = 0; i < n; i++) next[i] += (d * dangling) / n;
    score = next;
  }
  // Near repeats (cosine ≥ 0.8 with another sentence): boilerplate such as ad reads and
  // disclaimers. The first keeps a share of its score, the later ones none.
  for (let i = 0; i < n; i++) {
    let near = 0;
    let earlier = false;
    for (const [j, w] of edges[i]) {
      if (w < 0.8) continue;
      near++;
      if (j < i) earlier = true;
    }
    if (earlier) repeat[i] = true;
    else if (near) score[i] /= 1 + near;
  }
  const max = Math.max(...score.filter((_, i) => !repeat[i]), Number.MIN_VALUE);
  return score.map((s, i) => (repeat[i] ? 0 : s / max));
}
