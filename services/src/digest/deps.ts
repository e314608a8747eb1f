import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { Database } from '../db/database';
import { createEmbeddingProvider } from '../index/embeddings';
import { HashEmbeddings } from '../index/embeddings/hash';
import { LlmProvider, llmConfigured } from '../llm/provider';
import type { DigestDeps } from './generate';

/**
 * What a digest is made with: the configured embeddings (hash when the configured provider cannot
 * run here: a digest is always made, its stats name the provider) and the LLM when one is configured.
 */
export function digestDeps(config: Config, database: Database, log: Logger): DigestDeps {
  let embeddings;
  try {
    embeddings = createEmbeddingProvider(config, log);
  } catch (e) {
    log.warn({ err: errorMessage(e) }, 'digest: the configured embeddings cannot run here; clustering with hash embeddings');
    embeddings = new HashEmbeddings(config.embeddings.dim);
  }
  return { config, database, log, embeddings, llm: llmConfigured(config) ? new LlmProvider(config, { logger: log }) : null };
}
