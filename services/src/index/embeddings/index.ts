import type { Config } from '../../config/config';
import { PodbrainError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { HealthCheck } from '../../telemetry/health/model';
import { HASH_MODEL, HashEmbeddings } from './hash';
import { type OnnxEmbeddings, type OnnxModel, createOnnxEmbeddings, findOnnxModel, onnxModelId } from './onnx';
import { OpenAiEmbeddings } from './openai';
import type { EmbeddingProvider, EmbeddingSpace } from './types';

export type { EmbeddingProvider, EmbeddingSpace } from './types';

/** How to fetch the default model, for the messages that say it is missing. */
const FETCH_HINT = 'deploy/scripts/fetch-embeddings-model.sh fetches it (the appliance does on first start)';

/**
 * What EMBEDDINGS_PROVIDER comes to here: `auto` is onnx when the model files are in place,
 * else hash with a `note` saying why (logged, in `podbrain doctor` and /healthz). `unavailable`:
 * the configured provider cannot run (then nothing is indexed with it).
 */
export interface ResolvedEmbeddings {
  provider: 'hash' | 'openai' | 'onnx';
  /** The vector space it writes: provider, model id, dimension (part of the index recipe). */
  space: EmbeddingSpace;
  onnx: OnnxModel | null;
  note: string | null;
  unavailable: string | null;
}

export function resolveEmbeddings(config: Config): ResolvedEmbeddings {
  const e = config.embeddings;
  const hash = (note: string | null): ResolvedEmbeddings => ({ provider: 'hash', space: { provider: 'hash', model: HASH_MODEL, dim: e.dim }, onnx: null, note, unavailable: null });
  if (e.provider === 'hash') return hash(null);
  if (e.provider === 'openai') {
    let unavailable: string | null = null;
    if (!config.openai.baseUrl && !config.openai.apiKey) unavailable = 'EMBEDDINGS_PROVIDER=openai needs OPENAI_BASE_URL (or OPENAI_API_KEY for api.openai.com)';
    else if (!e.model) unavailable = 'EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_MODEL (e.g. text-embedding-3-small, nomic-embed-text)';
    return { provider: 'openai', space: { provider: 'openai', model: e.model, dim: e.dim }, onnx: null, note: null, unavailable };
  }
  const found = findOnnxModel(config);
  if (found.model) {
    const m = found.model;
    return { provider: 'onnx', space: { provider: 'onnx', model: onnxModelId(m), dim: m.dim ?? e.dim }, onnx: m, note: null, unavailable: null };
  }
  if (e.provider === 'auto') {
    return hash(`EMBEDDINGS_PROVIDER=auto: ${found.problem}; search uses hash embeddings (keyword hashing, not semantic) until the model is there (${FETCH_HINT})`);
  }
  return {
    provider: 'onnx',
    space: { provider: 'onnx', model: '', dim: e.dim },
    onnx: null,
    note: null,
    unavailable: `EMBEDDINGS_PROVIDER=onnx: ${found.problem}; ${FETCH_HINT}, or set EMBEDDINGS_PROVIDER=auto to fall back to hash`,
  };
}

/**
 * /healthz of the api: which embeddings search uses. The hash fallback of `auto` is healthy (search
 * works) with its reason as the detail; a configured provider that cannot run degrades the role.
 */
export function embeddingsHealthCheck(config: Config): HealthCheck {
  return () => {
    const r = resolveEmbeddings(config);
    if (r.unavailable) return Promise.resolve({ status: 'degraded', detail: r.unavailable });
    return Promise.resolve({ status: 'healthy', detail: r.note ?? `${r.space.provider} ${r.space.model} (${r.space.dim} dimensions)` });
  };
}

/** Why the configured provider cannot run here, or null. Checked by the index stage's plan and by search. */
export function embeddingsUnavailableReason(config: Config): string | null {
  return resolveEmbeddings(config).unavailable;
}

/** One onnx provider (one inference thread, one loaded model) per model in a process. */
const onnxProviders = new Map<string, OnnxEmbeddings>();
const notesLogged = new Set<string>();

export function createEmbeddingProvider(config: Config, log?: Logger): EmbeddingProvider {
  const r = resolveEmbeddings(config);
  if (r.unavailable) throw new PodbrainError('embeddings_not_configured', r.unavailable);
  if (r.note && !notesLogged.has(r.note)) {
    notesLogged.add(r.note);
    log?.warn({ provider: r.provider }, r.note);
  }
  const e = config.embeddings;
  if (r.provider === 'openai') {
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
  if (r.provider === 'onnx' && r.onnx) {
    const key = JSON.stringify([r.onnx.modelFile, r.onnx.sha256, r.space.dim, e.batchSize]);
    let p = onnxProviders.get(key);
    if (!p) onnxProviders.set(key, (p = createOnnxEmbeddings(config, r.onnx, log)));
    return p;
  }
  return new HashEmbeddings(e.dim);
}

/** Stops the inference threads of the onnx providers made in this process (tests, shutdown). */
export async function closeEmbeddingProviders(): Promise<void> {
  const all = [...onnxProviders.values()];
  onnxProviders.clear();
  await Promise.all(all.map((p) => p.close()));
}
