import OpenAI from 'openai';
import { PodbrainError, errorMessage } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { isRetryableStatus, retryAfterMs, withRetries } from '../../net/retry';
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

/** Cap on one wait between attempts (backoff or the server's Retry-After). */
const MAX_BACKOFF_MS = 60_000;

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
 * Batches EMBEDDINGS_BATCH texts per request, retries 408/409/429/5xx/network errors
 * (net/retry.ts: exponential backoff with jitter, Retry-After honoured), and checks the dimension of every vector:
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

  private embedBatch(input: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    return withRetries(
      async () => {
        const res = await this.client.embeddings.create({ model: this.model, input, encoding_format: 'base64' }, { signal });
        if (res.usage?.prompt_tokens) metrics.providerTokensTotal.inc({ provider: 'openai', task: 'embeddings' }, res.usage.prompt_tokens);
        return this.check(res.data as { embedding: unknown; index: number }[], input.length);
      },
      {
        retries: this.opts.retries,
        baseMs: this.opts.retryBaseMs,
        maxDelayMs: MAX_BACKOFF_MS,
        signal,
        // A bad answer (wrong dimension, count, encoding) is a PodbrainError: thrown as it is, not retried.
        classify: (e) => {
          if (e instanceof PodbrainError) return null;
          const status = e instanceof OpenAI.APIError ? e.status : undefined;
          return {
            status,
            retryable: status === undefined || isRetryableStatus(status),
            retryAfterMs: e instanceof OpenAI.APIError ? retryAfterMs(e.headers) : null,
          };
        },
        onError: ({ verdict: { status } }) =>
          metrics.providerErrorsTotal.inc({
            provider: 'openai',
            error_type: status === 429 ? 'rate_limited' : status === undefined ? 'network' : status >= 500 ? 'http_5xx' : 'http_4xx',
          }),
        onRetry: ({ verdict: { status }, attempt, delayMs }) => {
          metrics.providerRetriesTotal.inc({ provider: 'openai' });
          this.opts.log?.warn({ status, attempt, wait_ms: Math.round(delayMs) }, 'embeddings request failed, retrying');
        },
        giveUp: ({ error, verdict: { status }, attempt }) =>
          new PodbrainError(
            'embeddings_failed',
            `embeddings request to ${this.opts.baseUrl || 'api.openai.com'} failed${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${errorMessage(error)}`,
            { status },
            { cause: error },
          ),
      },
    );
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
