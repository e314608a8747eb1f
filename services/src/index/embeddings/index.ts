import type { Config } from '../../config/config';
import { PodbrainError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { HashEmbeddings } from './hash';
import { OpenAiEmbeddings } from './openai';
import type { EmbeddingProvider } from './types';

export type { EmbeddingProvider, EmbeddingSpace } from './types';

/** Why the configured provider cannot run here, or null. Checked by the index stage's plan and by search. */
export function embeddingsUnavailableReason(config: Config): string | null {
  const e = config.embeddings;
  if (e.provider === 'onnx') {
    return 'EMBEDDINGS_PROVIDER=onnx is not built into this version of podbrain (no ONNX runtime); use hash (default, offline) or openai (any /v1/embeddings server, e.g. Ollama)';
  }
  if (e.provider === 'openai') {
    if (!config.openai.baseUrl && !config.openai.apiKey) return 'EMBEDDINGS_PROVIDER=openai needs OPENAI_BASE_URL (or OPENAI_API_KEY for api.openai.com)';
    if (!e.model) return 'EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_MODEL (e.g. text-embedding-3-small, nomic-embed-text)';
  }
  return null;
}

export function createEmbeddingProvider(config: Config, log?: Logger): EmbeddingProvider {
  const reason = embeddingsUnavailableReason(config);
  if (reason) throw new PodbrainError('embeddings_not_configured', reason);
  const e = config.embeddings;
  if (e.provider === 'openai') {
    return new OpenAiEmbeddings({
      baseUrl: config.openai.baseUrl,
      apiKey: config.openai.apiKey,
      model: e.model,
      dim: e.dim,
      batchSize: e.batchSize,
      retries: e.retries,
      retryBaseMs: e.retryBaseMs,
      timeoutMs: e.timeoutMs,
      log,
    });
  }
  return new HashEmbeddings(e.dim);
}
