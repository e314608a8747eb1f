import type { EmbeddingProvider } from '../index/embeddings/types';

/**
 * An embedding provider that remembers the vectors of the texts it embedded (a saved search's
 * query is matched against every new episode: it is embedded once, not once per episode).
 * `warm` embeds the texts not cached yet in one batch. Least recently used first out.
 */
export class CachedEmbeddings implements EmbeddingProvider {
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    private readonly inner: EmbeddingProvider,
    private readonly max = 5000,
  ) {}

  get name() {
    return this.inner.name;
  }
  get model() {
    return this.inner.model;
  }
  get dim() {
    return this.inner.dim;
  }

  get size(): number {
    return this.cache.size;
  }

  /** Embeds (one batch) those of the texts not cached yet. */
  async warm(texts: readonly string[], opts?: { signal?: AbortSignal }): Promise<void> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
    if (!missing.length) return;
    const vectors = await this.inner.embed(missing, opts);
    missing.forEach((t, i) => this.put(t, vectors[i]));
  }

  async embed(texts: readonly string[], opts?: { signal?: AbortSignal }): Promise<Float32Array[]> {
    await this.warm(texts, opts);
    return texts.map((t) => {
      const v = this.cache.get(t) as Float32Array;
      this.cache.delete(t);
      this.cache.set(t, v);
      return v;
    });
  }

  private put(text: string, v: Float32Array): void {
    this.cache.set(text, v);
    while (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value as string);
  }
}
