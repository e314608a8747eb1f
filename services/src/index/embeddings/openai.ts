import OpenAI from 'openai';
import { PodbrainError, errorMessage } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { metrics } from '../../telemetry/metrics';
import { type EmbeddingProvider, normalize } from './types';

export interface OpenAiEmbeddingsOptions {
  baseUrl: string;
  apiKey: string;
  model: string;
  dim: number;
  batchSize: number;
  retries: number;
  retryBaseMs: number;
  timeoutMs: number;
  log?: Logger;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

function decode(embedding: unknown): Float32Array {
  if (typeof embedding === 'string') {
    const buf = Buffer.from(embedding, 'base64');
    // Copy: the Buffer may be a slice of a shared pool with an unaligned offset.
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length - (buf.length % 4)));
  }
  if (Array.isArray(embedding) && embedding.every((x) => typeof x === 'number')) return Float32Array.from(embedding);
  throw new PodbrainError('embeddings_bad_response', 'embedding server returned an embedding that is neither base64 nor a list of numbers');
}

/**
 * Any OpenAI-compatible `/v1/embeddings` (OpenAI, Ollama, llama.cpp server, vLLM, TEI).
 * Batches EMBEDDINGS_BATCH texts per request, retries 429/5xx/network errors with
 * exponential backoff (honouring Retry-After), and checks the dimension of every vector:
 * a server answering another dimension than EMBEDDINGS_DIM is a configuration error,
 * reported before anything is written.
 */
export class OpenAiEmbeddings implements EmbeddingProvider {
  readonly name = 'openai' as const;
  readonly model: string;
  readonly dim: number;
  private readonly client: OpenAI;

  constructor(private readonly opts: OpenAiEmbeddingsOptions) {
    if (!opts.baseUrl && !opts.apiKey) {
      throw new PodbrainError('embeddings_not_configured', 'EMBEDDINGS_PROVIDER=openai needs OPENAI_BASE_URL (or OPENAI_API_KEY for api.openai.com)');
    }
    if (!opts.model) throw new PodbrainError('embeddings_not_configured', 'EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_MODEL (e.g. text-embedding-3-small, nomic-embed-text)');
    this.model = opts.model;
    this.dim = opts.dim;
    this.client = new OpenAI({
      apiKey: opts.apiKey || 'not-needed',
      baseURL: opts.baseUrl || undefined,
      maxRetries: 0,
      timeout: opts.timeoutMs,
    });
  }

  async embed(texts: readonly string[], opts: { signal?: AbortSignal; onProgress?: (done: number) => void } = {}): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.opts.batchSize) {
      const batch = texts.slice(i, i + this.opts.batchSize);
      out.push(...(await this.embedBatch(batch, opts.signal)));
      opts.onProgress?.(out.length);
    }
    return out;
  }

  private async embedBatch(input: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.client.embeddings.create({ model: this.model, input, encoding_format: 'base64' }, { signal });
        if (res.usage?.prompt_tokens) metrics.providerTokensTotal.inc({ provider: 'openai', task: 'embeddings' }, res.usage.prompt_tokens);
        return this.check(res.data as { embedding: unknown; index: number }[], input.length);
      } catch (e) {
        if (e instanceof PodbrainError || signal?.aborted) throw e;
        const status = e instanceof OpenAI.APIError ? e.status : undefined;
        const retryable = status === undefined || status === 429 || status >= 500;
        metrics.providerErrorsTotal.inc({
          provider: 'openai',
          error_type: status === 429 ? 'rate_limited' : status === undefined ? 'network' : status >= 500 ? 'http_5xx' : 'http_4xx',
        });
        if (!retryable || attempt >= this.opts.retries) {
          throw new PodbrainError(
            'embeddings_failed',
            `embeddings request to ${this.opts.baseUrl || 'api.openai.com'} failed${attempt ? ` after ${attempt + 1} attempts` : ''}: ${errorMessage(e)}`,
            { status },
            { cause: e },
          );
        }
        const retryAfter = e instanceof OpenAI.APIError ? Number(e.headers?.get('retry-after')) : NaN;
        const backoff = this.opts.retryBaseMs * 2 ** attempt * (0.5 + Math.random() / 2);
        const wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? Math.min(retryAfter * 1000, 60_000) : backoff;
        metrics.providerRetriesTotal.inc({ provider: 'openai' });
        this.opts.log?.warn({ status, attempt: attempt + 1, wait_ms: Math.round(wait) }, 'embeddings request failed, retrying');
        await sleep(wait, signal);
      }
    }
  }

  private check(data: { embedding: unknown; index: number }[], expected: number): Float32Array[] {
    if (!Array.isArray(data) || data.length !== expected) {
      throw new PodbrainError('embeddings_bad_response', `embedding server returned ${Array.isArray(data) ? data.length : 'no'} vectors for ${expected} inputs`);
    }
    const out = new Array<Float32Array>(expected);
    for (const [pos, item] of data.entries()) {
      const v = decode(item.embedding);
      if (v.length !== this.dim) {
        throw new PodbrainError(
          'embeddings_dimension_mismatch',
          `embedding model ${this.model} returned vectors of dimension ${v.length}, but EMBEDDINGS_DIM is ${this.dim}; set EMBEDDINGS_DIM=${v.length} (the index is rebuilt for the new dimension)`,
          { expected: this.dim, got: v.length },
        );
      }
      if (!v.every(Number.isFinite)) throw new PodbrainError('embeddings_bad_response', 'embedding server returned a vector with NaN or infinite values');
      const at = Number.isInteger(item.index) ? item.index : pos;
      out[at] = normalize(v);
    }
    if (out.some((v) => !v)) throw new PodbrainError('embeddings_bad_response', 'embedding server returned duplicate or out-of-range indexes');
    return out;
  }
}
