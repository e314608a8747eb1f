import { terms } from '../text/words';

export interface Bm25Hit {
  id: string;
  score: number;
}

/**
 * Okapi BM25 over short documents (chunks), in memory. Atomic mode's keyword side; stage
 * mode uses Postgres full-text instead.
 */
export class Bm25Index {
  private readonly postings = new Map<string, { doc: number; tf: number }[]>();
  private readonly ids: string[] = [];
  private readonly lengths: number[] = [];
  private totalLength = 0;

  constructor(
    private readonly k1 = 1.2,
    private readonly b = 0.75,
  ) {}

  get size(): number {
    return this.ids.length;
  }

  add(id: string, text: string): void {
    const doc = this.ids.length;
    this.ids.push(id);
    const ts = terms(text);
    this.lengths.push(ts.length);
    this.totalLength += ts.length;
    const tf = new Map<string, number>();
    for (const t of ts) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const [t, n] of tf) {
      let list = this.postings.get(t);
      if (!list) this.postings.set(t, (list = []));
      list.push({ doc, tf: n });
    }
  }

  /** Inverse document frequency of a (stemmed) term; a term no chunk has gets the highest. */
  idf(term: string): number {
    const n = this.ids.length;
    const df = this.postings.get(term)?.length ?? 0;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  search(query: string, k: number): Bm25Hit[] {
    const n = this.ids.length;
    if (!n) return [];
    const avg = this.totalLength / n || 1;
    const scores = new Map<number, number>();
    for (const t of new Set(terms(query))) {
      const list = this.postings.get(t);
      if (!list) continue;
      const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
      for (const { doc, tf } of list) {
        const norm = tf + this.k1 * (1 - this.b + (this.b * this.lengths[doc]) / avg);
        scores.set(doc, (scores.get(doc) ?? 0) + (idf * tf * (this.k1 + 1)) / norm);
      }
    }
    return [...scores.entries()]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, k)
      .map(([doc, score]) => ({ id: this.ids[doc], score }));
  }
}
