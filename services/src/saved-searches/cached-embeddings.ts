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
    await this.fill(texts, opts);
  }

  async embed(texts: readonly string[], opts?: { signal?: AbortSignal }): Promise<Float32Array[]> {
    const fresh = await this.fill(texts, opts);
    return texts.map((t) => {
      const v = this.cache.get(t);
      if (!v) return fresh.get(t) as Float32Array; // a batch larger than the cache pushed it out again
      this.cache.delete(t);
      this.cache.set(t, v);
      return v;
    });
  }

  /** Embeds the texts not cached yet (one batch) and caches them; answers those it embedded. */
  private async fill(texts: readonly string[], opts?: { signal?: AbortSignal }): Promise<Map<string, Float32Array>> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
    const fresh = new Map<string, Float32Array>();
    if (!missing.length) return fresh;
    const vectors = await this.inner.embed(missing, opts);
    missing.forEach((t, i) => {
      fresh.set(t, vectors[i]);
      this.put(t, vectors[i]);
    });
    return fresh;
  }

  private put(text: string, v: Float32Array): void {
    this.cache.set(text, v);
    while (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value as string);
  }
}
