#!/usr/bin/env node
// Embedding throughput (issue 16): the onnx provider (BERT sentence encoder run in-process with
// onnxruntime-node on its inference thread) on a random-weight model of all-MiniLM-L6-v2's shape
// (6 layers, hidden 384, 12 heads, intermediate 1536, fp32; generated locally, never downloaded:
// the weights are random, the cost per token is the real shape's), against the built-in hash
// provider in the same run. Input: the chunks of a 60-minute transcript (~150 words a minute of
// fixture sentences) cut by the real chunker (CHUNK_TOKENS 300 / overlap 50). Figures: chunks/s,
// the added time per 60-minute episode, one query's latency, the event loop's worst delay.
// Needs the compiled services: `npm run build -w services`, then `npm run bench:embeddings`.
// BENCH_THREADS=1,2 (onnx intra-op threads to try; 0 = the default, cores − 1), BENCH_RUNS=3.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(root, 'services/dist');
const require = createRequire(path.join(root, 'services/package.json'));
if (!existsSync(path.join(dist, 'index/embeddings/onnx.js'))) {
  console.error(`missing ${dist}/index/embeddings/onnx.js: run "npm run build -w services" first`);
  process.exit(2);
}
const { OnnxEmbeddings, findOnnxModel } = require(path.join(dist, 'index/embeddings/onnx.js'));
const { HashEmbeddings } = require(path.join(dist, 'index/embeddings/hash.js'));
const { chunkTranscript } = require(path.join(dist, 'index/chunking.js'));
const { loadConfig } = require(path.join(dist, 'config/config.js'));
const { ensureEmbeddingModel } = await import(path.join(root, 'services/test/support/bert-onnx.mjs'));

const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const MINUTES = 60;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const THREADS = (process.env.BENCH_THREADS ?? '0').split(',').map(Number);
const BATCH = Number(process.env.EMBEDDINGS_BATCH ?? 64);

// ---- the transcript: fixture sentences (FLEURS read speech + JFK) repeated to 60 minutes ----
const texts = readdirSync(path.join(fixtures, 'audio'))
  .filter((f) => f.endsWith('.txt'))
  .sort()
  .map((f) => readFileSync(path.join(fixtures, 'audio', f), 'utf8').trim());
const sentences = texts.flatMap((t) => t.split(/(?<=[.!?])\s+/)).filter((s) => s.split(' ').length >= 4);
const segments = [];
let t = 0;
for (let i = 0; t < MINUTES * 60_000; i++) {
  const s = sentences[i % sentences.length];
  const ms = Math.round((s.split(' ').length / 150) * 60_000);
  segments.push({ start_ms: t, end_ms: t + ms, text: s });
  t += ms + 200;
}
const config = loadConfig({ env: {} });
const chunks = chunkTranscript({ segments }, { targetTokens: config.index.chunkTokens, overlapTokens: config.index.chunkOverlapTokens }).map((c) => c.text);
const words = segments.reduce((n, s) => n + s.text.split(' ').length, 0);

// ---- the model: all-MiniLM-L6-v2's shape, random weights, vocabulary from the same fixtures ----
const t0 = performance.now();
const dir = ensureEmbeddingModel({ texts, shape: 'minilm' });
const genMs = performance.now() - t0;
const model = findOnnxModel(loadConfig({ env: { EMBEDDINGS_MODEL_PATH: dir } })).model;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function measure(provider) {
  await provider.embed(chunks.slice(0, 2)); // load + warm up
  const tokens = provider.tokenizer ? chunks.map((c) => provider.tokenizer.encode(c, model.maxTokens).ids.length) : null;
  const times = [];
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  for (let r = 0; r < RUNS; r++) {
    const s = performance.now();
    const v = await provider.embed(chunks);
    times.push(performance.now() - s);
    if (v.length !== chunks.length) throw new Error('wrong vector count');
  }
  delay.disable();
  const q = [];
  for (let i = 0; i < 15; i++) {
    const s = performance.now();
    await provider.embed([`how do I ${sentences[i % sentences.length].split(' ').slice(0, 6).join(' ')}`]);
    q.push(performance.now() - s);
  }
  const ms = median(times);
  return {
    episode_ms: round(ms),
    chunks_per_s: round(chunks.length / (ms / 1000)),
    per_chunk_ms: round(ms / chunks.length, 2),
    query_p50_ms: round(median(q), 2),
    max_event_loop_delay_ms: round(delay.max / 1e6),
    mean_tokens_per_chunk: tokens ? round(tokens.reduce((a, b) => a + b, 0) / tokens.length) : null,
  };
}

const hash = await measure(new HashEmbeddings(384));
const onnx = {};
for (const threads of THREADS) {
  const p = new OnnxEmbeddings({ model, dim: 384, batchSize: BATCH, threads: threads || undefined });
  onnx[`threads_${threads || `default_${Math.max(1, os.availableParallelism() - 1)}`}`] = await measure(p);
  await p.close();
}

const result = {
  bench: 'embeddings',
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), mem_gib: round(os.totalmem() / 1024 ** 3), load_avg_1m: round(os.loadavg()[0], 2) },
  model: { shape: 'all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, intermediate 1536), fp32, random weights', max_tokens: model.maxTokens, generated_ms: round(genMs) },
  episode: { minutes: MINUTES, words, chunks: chunks.length, chunk_tokens: config.index.chunkTokens, overlap_tokens: config.index.chunkOverlapTokens },
  batch: BATCH,
  runs: RUNS,
  hash,
  onnx,
  onnx_vs_hash: Object.fromEntries(Object.entries(onnx).map(([k, v]) => [k, round(v.episode_ms / Math.max(hash.episode_ms, 0.01))])),
};
console.log(JSON.stringify(result, null, 2));
