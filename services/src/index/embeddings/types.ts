/** Turns texts into L2-comparable vectors of a fixed dimension (ARCHITECTURE §6). */
export interface EmbeddingProvider {
  readonly name: 'hash' | 'openai' | 'onnx';
  readonly model: string;
  readonly dim: number;
  /** Vectors are unit length, so inner product = cosine similarity. */
  embed(texts: readonly string[], opts?: { signal?: AbortSignal; onProgress?: (done: number) => void }): Promise<Float32Array[]>;
}

/** What identifies the vector space: part of the index stage fingerprint and of the global index manifest. */
export interface EmbeddingSpace {
  provider: string;
  model: string;
  dim: number;
}

export function spaceOf(p: Pick<EmbeddingProvider, 'name' | 'model' | 'dim'>): EmbeddingSpace {
  return { provider: p.name, model: p.model, dim: p.dim };
}

export function sameSpace(a: EmbeddingSpace, b: EmbeddingSpace): boolean {
  return a.provider === b.provider && a.model === b.model && a.dim === b.dim;
}

export function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}
