import { isStopword, stem, wordSpans } from '../../text/words';
import { type EmbeddingProvider, normalize } from './types';

export const HASH_MODEL = 'hash-v1';
const BIGRAM_WEIGHT = 0.5;

// FNV-1a (32-bit) with a seed, over UTF-16 code units.
function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Built-in, offline, deterministic embeddings: signed feature hashing of stemmed word
 * unigrams and bigrams with sublinear term frequency, L2-normalised. No model, no
 * semantics beyond shared words, but texts that share vocabulary land close together,
 * which is enough for search over a corpus without any ML setup.
 */
export class HashEmbeddings implements EmbeddingProvider {
  readonly name = 'hash' as const;
  readonly model = HASH_MODEL;

  constructor(readonly dim: number) {}

  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    const ws = wordSpans(text).map((w) => (isStopword(w.word) ? null : stem(w.word)));
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      if (!w) continue;
      counts.set(w, (counts.get(w) ?? 0) + 1);
      const next = ws[i + 1];
      if (next) counts.set(`${w} ${next}`, (counts.get(`${w} ${next}`) ?? 0) + 1);
    }
    const v = new Float32Array(this.dim);
    for (const [feature, tf] of counts) {
      const h = fnv1a(feature, 0);
      const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
      const weight = feature.includes(' ') ? BIGRAM_WEIGHT : 1;
      v[h % this.dim] += sign * weight * (1 + Math.log(tf));
    }
    return normalize(v);
  }

  embed(texts: readonly string[], opts: { onProgress?: (done: number) => void } = {}): Promise<Float32Array[]> {
    const out = texts.map((t) => this.embedOne(t));
    opts.onProgress?.(texts.length);
    return Promise.resolve(out);
  }
}
