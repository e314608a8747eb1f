import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Config } from '../../config/config';
import { PodbrainError, errorMessage } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { EmbeddingProvider } from './types';
import { WordPieceTokenizer } from './wordpiece';

/** EMBEDDINGS_MODEL's default for onnx: the directory MODELS_DIR/embeddings/all-MiniLM-L6-v2. */
export const DEFAULT_ONNX_MODEL = 'all-MiniLM-L6-v2';
export const ONNX_MODEL_FILE = 'model.onnx';
export const ONNX_TOKENIZER_FILE = 'tokenizer.json';
/** sentence-transformers' max_seq_length of all-MiniLM-L6-v2: longer input is cut (it was trained on 128, works to 256). */
const DEFAULT_MAX_TOKENS = 256;
/** Texts tokenised between two turns of the event loop. */
const TOKENIZE_SLICE = 4;

/** The files of a local sentence-embedding model and what identifies it. */
export interface OnnxModel {
  /** EMBEDDINGS_MODEL or the default. */
  name: string;
  dir: string;
  modelFile: string;
  tokenizerFile: string;
  /** SHA-256 of model.onnx: part of the model id, so new weights are a new embedding space. */
  sha256: string;
  /** Hidden size from config.json (what the vectors' dimension will be); null when it has none. */
  dim: number | null;
  /** Longest input in word pieces (including [CLS] and [SEP]). */
  maxTokens: number;
}

export const onnxModelName = (config: Config) => config.embeddings.model || DEFAULT_ONNX_MODEL;

/** Where the onnx provider looks: EMBEDDINGS_MODEL_PATH, else MODELS_DIR/embeddings/<EMBEDDINGS_MODEL>. */
export function onnxModelDir(config: Config): string {
  return path.resolve(config.embeddings.modelPath || path.join(config.modelsDir, 'embeddings', onnxModelName(config)));
}

const shaCache = new Map<string, { key: string; sha: string }>();

/** SHA-256 of a file, recomputed only when its size or mtime changed (plans ask for it often). */
function fileSha256(file: string): string {
  const st = statSync(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = shaCache.get(file);
  if (hit?.key === key) return hit.sha;
  const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
  shaCache.set(file, { key, sha });
  return sha;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The model of this config, or why there is none usable (missing files, a checksum that does not match). */
export function findOnnxModel(config: Config): { model: OnnxModel; problem?: undefined } | { model?: undefined; problem: string } {
  const dir = onnxModelDir(config);
  const modelFile = path.join(dir, ONNX_MODEL_FILE);
  const tokenizerFile = path.join(dir, ONNX_TOKENIZER_FILE);
  const missing = [modelFile, tokenizerFile].filter((f) => !existsSync(f)).map((f) => path.basename(f));
  if (missing.length) return { problem: `no ONNX embedding model in ${dir} (missing ${missing.join(', ')})` };
  let sha256: string;
  try {
    sha256 = fileSha256(modelFile);
  } catch (e) {
    return { problem: `${modelFile} is unreadable: ${errorMessage(e)}` };
  }
  // The pinned checksum guards the fetched model; a model the owner points at is theirs.
  const pin = config.embeddings.modelSha256;
  if (pin && !config.embeddings.modelPath && onnxModelName(config) === DEFAULT_ONNX_MODEL && sha256 !== pin) {
    return { problem: `${modelFile} has SHA-256 ${sha256}, EMBEDDINGS_MODEL_SHA256 expects ${pin} (a partial or foreign file: delete it and fetch again)` };
  }
  const cfg = readJson(path.join(dir, 'config.json'));
  const st = readJson(path.join(dir, 'sentence_bert_config.json'));
  const hidden = typeof cfg?.hidden_size === 'number' ? cfg.hidden_size : null;
  const positions = typeof cfg?.max_position_embeddings === 'number' ? cfg.max_position_embeddings : 512;
  const maxTokens = Math.min(positions, typeof st?.max_seq_length === 'number' ? st.max_seq_length : DEFAULT_MAX_TOKENS);
  return { model: { name: onnxModelName(config), dir, modelFile, tokenizerFile, sha256, dim: hidden, maxTokens } };
}

/** The model id in the embedding space: the name and the weights' checksum. */
export const onnxModelId = (m: Pick<OnnxModel, 'name' | 'sha256'>) => `${m.name}@${m.sha256.slice(0, 12)}`;

/**
 * Attention-masked mean of the token vectors, then L2 normalisation: `hidden` is
 * batch × seq × dim, `mask` batch × seq (1 = token, 0 = padding). Self-contained (no imports,
 * no helpers): its source also runs inside the inference worker (see WORKER_SOURCE).
 */
export function meanPoolNormalize(hidden: Float32Array, mask: BigInt64Array | Int32Array | number[], batch: number, seq: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    const o = b * dim;
    for (let t = 0; t < seq; t++) {
      if (Number(mask[b * seq + t]) === 0) continue;
      count++;
      const h = (b * seq + t) * dim;
      for (let d = 0; d < dim; d++) out[o + d] += hidden[h + d];
    }
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      out[o + d] /= Math.max(count, 1);
      norm += out[o + d] * out[o + d];
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (let d = 0; d < dim; d++) out[o + d] /= norm;
  }
  return out;
}

/**
 * The inference thread: onnxruntime-node's `run` is synchronous in the native binding (it only
 * defers to setImmediate), so on the main thread one batch would stall every request of the
 * role. Plain JS evaluated in a worker (no file to locate: the same from dist/ and under vitest).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const meanPoolNormalize = ${meanPoolNormalize.toString()};
let session = null;
const ready = ort.InferenceSession.create(workerData.modelFile, {
  intraOpNumThreads: workerData.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  // Idle inference threads sleep instead of spinning: the cores are shared with the role's event loop and other jobs.
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
}).then((s) => {
  session = s;
  parentPort.postMessage({ type: 'ready', inputs: s.inputNames, outputs: s.outputNames });
}, (e) => parentPort.postMessage({ type: 'fatal', message: String((e && e.message) || e) }));
parentPort.on('message', async (m) => {
  await ready;
  if (!session) return;
  try {
    const shape = [m.batch, m.seq];
    const feeds = { input_ids: new ort.Tensor('int64', m.ids, shape), attention_mask: new ort.Tensor('int64', m.mask, shape) };
    if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(m.batch * m.seq), shape);
    const out = await session.run(feeds);
    const hidden = out.last_hidden_state || out[session.outputNames[0]];
    if (!hidden || hidden.dims.length !== 3) throw new Error('the model has no [batch, sequence, hidden] output (last_hidden_state)');
    const dim = hidden.dims[2];
    const vectors = meanPoolNormalize(hidden.data, m.mask, m.batch, m.seq, dim);
    parentPort.postMessage({ type: 'result', id: m.id, vectors, dim }, [vectors.buffer]);
  } catch (e) {
    parentPort.postMessage({ type: 'error', id: m.id, message: String((e && e.message) || e) });
  }
});
`;

interface Job {
  id: number;
  ids: BigInt64Array;
  mask: BigInt64Array;
  batch: number;
  seq: number;
  resolve: (v: Float32Array[]) => void;
  reject: (e: Error) => void;
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; vectors: Float32Array; dim: number }
  | { type: 'error'; id: number; message: string };

export interface OnnxEmbeddingsOptions {
  model: OnnxModel;
  /** The dimension the index expects: the model's hidden size (checked on every answer). */
  dim: number;
  batchSize: number;
  /** onnxruntime's intra-op threads (default: cores − 1, at least 1: the event loop keeps a core). */
  threads?: number;
  log?: Logger;
}

/**
 * A sentence-transformer (BERT family, e.g. all-MiniLM-L6-v2) run in-process with
 * onnxruntime-node: WordPiece tokens on the calling thread (cheap), inference with mean pooling
 * and L2 normalisation on one worker thread per provider, EMBEDDINGS_BATCH texts a run, texts of
 * similar length together (less padding). One text at a time (a search query) goes ahead of the
 * batches waiting, so a query is answered between two batches of an indexing run.
 */
export class OnnxEmbeddings implements EmbeddingProvider {
  readonly name = 'onnx' as const;
  readonly model: string;
  readonly dim: number;
  readonly tokenizer: WordPieceTokenizer;
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  private nextId = 1;

  constructor(private readonly opts: OnnxEmbeddingsOptions) {
    this.model = onnxModelId(opts.model);
    this.dim = opts.dim;
    this.tokenizer = WordPieceTokenizer.fromFile(opts.model.tokenizerFile);
  }

  async embed(texts: readonly string[], opts: { signal?: AbortSignal; onProgress?: (done: number) => void } = {}): Promise<Float32Array[]> {
    const out = new Array<Float32Array>(texts.length);
    if (!texts.length) return out;
    // Tokenised on this thread (~2 ms a chunk), a few at a time so the event loop turns between them.
    const encoded: { i: number; ids: number[] }[] = [];
    for (const [i, t] of texts.entries()) {
      if (i && i % TOKENIZE_SLICE === 0) await new Promise((r) => setImmediate(r));
      encoded.push({ i, ids: this.tokenizer.encode(t, this.opts.model.maxTokens).ids });
    }
    encoded.sort((a, b) => a.ids.length - b.ids.length);
    let done = 0;
    for (let at = 0; at < encoded.length; at += this.opts.batchSize) {
      opts.signal?.throwIfAborted();
      const group = encoded.slice(at, at + this.opts.batchSize);
      const vectors = await this.run(group.map((g) => g.ids), texts.length === 1);
      group.forEach((g, k) => (out[g.i] = vectors[k]));
      done += group.length;
      opts.onProgress?.(done);
    }
    return out;
  }

  /** Stops the inference thread (the next embed starts it again). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    if (w) await w.terminate();
  }

  private run(batchIds: number[][], urgent: boolean): Promise<Float32Array[]> {
    const batch = batchIds.length;
    const seq = Math.max(...batchIds.map((x) => x.length));
    const ids = new BigInt64Array(batch * seq);
    const mask = new BigInt64Array(batch * seq);
    batchIds.forEach((row, b) =>
      row.forEach((id, t) => {
        ids[b * seq + t] = BigInt(id);
        mask[b * seq + t] = 1n;
      }),
    );
    return new Promise<Float32Array[]>((resolve, reject) => {
      const job: Job = { id: this.nextId++, ids, mask, batch, seq, resolve, reject };
      if (urgent) this.queue.unshift(job);
      else this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || !this.queue.length) return;
    const job = this.queue.shift()!;
    this.running = job;
    this.start()
      .then((w) => {
        w.ref();
        w.postMessage({ id: job.id, ids: job.ids, mask: job.mask, batch: job.batch, seq: job.seq }, [job.ids.buffer as ArrayBuffer]);
      })
      .catch((e: unknown) => this.finish(job, e instanceof Error ? e : new Error(String(e))));
  }

  private finish(job: Job, result: Error | Float32Array[]): void {
    if (this.running !== job) return;
    this.running = null;
    if (result instanceof Error) job.reject(result);
    else job.resolve(result);
    if (!this.queue.length) this.worker?.unref();
    this.pump();
  }

  private start(): Promise<Worker> {
    if (this.worker && this.ready) {
      const w = this.worker;
      return this.ready.then(() => w);
    }
    const threads = this.opts.threads || Math.max(1, os.availableParallelism() - 1);
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { ortPath: require.resolve('onnxruntime-node'), modelFile: this.opts.model.modelFile, threads },
    });
    this.worker = w;
    const t0 = performance.now();
    this.ready = new Promise<void>((resolve, reject) => {
      const fail = (message: string) => {
        const err = new PodbrainError('embeddings_model_unusable', `ONNX embedding model ${this.opts.model.modelFile} cannot be used: ${message}`);
        reject(err);
        this.failAll(err);
        if (this.worker === w) {
          this.worker = null;
          this.ready = null;
        }
        void w.terminate();
      };
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          this.opts.log?.info({ model: this.model, threads, load_ms: Math.round(performance.now() - t0) }, 'ONNX embedding model loaded');
          resolve();
        } else if (m.type === 'fatal') fail(m.message);
        else if (this.running?.id === m.id) {
          const job = this.running;
          if (m.type === 'error') this.finish(job, new PodbrainError('embeddings_failed', `ONNX embedding run failed: ${m.message}`));
          else if (m.dim !== this.dim) {
            this.finish(
              job,
              new PodbrainError('embeddings_dimension_mismatch', `ONNX embedding model ${this.model} gives vectors of dimension ${m.dim}, the index expects ${this.dim}`, {
                expected: this.dim,
                got: m.dim,
              }),
            );
          } else {
            const vectors = Array.from({ length: job.batch }, (_, b) => m.vectors.slice(b * m.dim, (b + 1) * m.dim));
            this.finish(job, vectors);
          }
        }
      });
      w.on('error', (e) => fail(errorMessage(e)));
      w.on('exit', (code) => {
        if (this.worker === w) fail(`the inference thread ended (exit ${code})`);
      });
    });
    return this.ready.then(() => w);
  }

  private failAll(err: Error): void {
    const jobs = [...(this.running ? [this.running] : []), ...this.queue.splice(0)];
    this.running = null;
    for (const j of jobs) j.reject(err);
  }
}

/** The onnx provider of this config's model (createEmbeddingProvider checks that it exists first). */
export function createOnnxEmbeddings(config: Config, model: OnnxModel, log?: Logger): OnnxEmbeddings {
  return new OnnxEmbeddings({ model, dim: model.dim ?? config.embeddings.dim, batchSize: config.embeddings.batchSize, threads: config.embeddings.threads, log });
}
