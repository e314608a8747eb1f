import { mkdirSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import type { Logger } from '../src/core/logger';
import { closeEmbeddingProviders, createEmbeddingProvider, embeddingsUnavailableReason, resolveEmbeddings } from '../src/index/embeddings';
import { HASH_MODEL } from '../src/index/embeddings/hash';
import { OnnxEmbeddings, findOnnxModel, meanPoolNormalize } from '../src/index/embeddings/onnx';
import { WordPieceTokenizer } from '../src/index/embeddings/wordpiece';
import { SearchService, createSearchService, vectorIndexFromConfig } from '../src/index/search.service';
import { createIndexStage } from '../src/stages/index.stage';
import { testEmbeddingModel } from './support/embedding-model';
import { SPECIAL_TOKENS } from './support/bert-onnx.mjs';
import { TOPICS, buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const sentences = Object.values(TOPICS).flat();

function capturingLog(): { log: Logger; lines: { level: string; obj: unknown; msg: string }[] } {
  const lines: { level: string; obj: unknown; msg: string }[] = [];
  const at =
    (level: string) =>
    (obj: unknown, msg = '') =>
      void lines.push({ level, obj, msg: typeof obj === 'string' ? obj : msg });
  const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug'), trace: at('trace'), fatal: at('fatal') } as unknown as Logger;
  (log as unknown as { child: () => Logger }).child = () => log;
  return { log, lines };
}

let modelDir: string;
const onnxEnv = (extra: Record<string, string> = {}) => ({ EMBEDDINGS_PROVIDER: 'onnx', EMBEDDINGS_MODEL_PATH: modelDir, EMBEDDINGS_DIM: '64', ...extra });

beforeAll(() => {
  modelDir = testEmbeddingModel();
});

afterAll(async () => {
  await closeEmbeddingProviders();
  await removeTempDataDirs();
});

describe('WordPiece tokenizer (tokenizer.json)', () => {
  it('gives the known ids for a known sentence: lower-cased, accents stripped, punctuation split, unknown words spelled in pieces', () => {
    const tok = WordPieceTokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));
    const vocab = (JSON.parse(readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
    // The generated vocabulary: specials, then ASCII punctuation/digits/letters, ## letters, suffixes, words.
    expect(SPECIAL_TOKENS).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    // 'cafe' and 'qzx' are not fixture words: spelled from letters.
    const e = tok.encode('Black HOLES, café!\tqzx\u0000 telescopes');
    expect(e.tokens).toEqual(['[CLS]', 'black', 'holes', ',', 'c', '##a', '##f', '##e', '!', 'q', '##z', '##x', 'telescopes', '[SEP]']);
    expect(e.ids).toEqual(e.tokens.map((t) => vocab[t]));
    // Specials first, then ASCII punctuation in code order ('!' = 33 is the first), so these ids are known.
    expect(e.ids.slice(0, 1)).toEqual([2]);
    expect(e.ids.at(-1)).toBe(3);
    expect(e.ids[3]).toBe(5 + ','.charCodeAt(0) - 33);
    expect(e.ids[8]).toBe(5);
    expect(new Set([e.ids[1], e.ids[2], e.ids[12]]).size).toBe(3);
    expect(Math.min(e.ids[1], e.ids[2], e.ids[12])).toBeGreaterThan(100); // whole words, after the characters
  });

  it('turns a word that cannot be spelled, or one over 100 characters, into one [UNK], and cuts long input keeping [SEP]', () => {
    const tok = WordPieceTokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));
    expect(tok.encode('naïve ☃ x').tokens).toEqual(['[CLS]', 'n', '##a', '##i', '##v', '##e', '[UNK]', 'x', '[SEP]']);
    expect(tok.encode('a'.repeat(101)).tokens).toEqual(['[CLS]', '[UNK]', '[SEP]']);
    const long = tok.encode(sentences.join(' '), 16);
    expect(long.ids).toHaveLength(16);
    expect(long.tokens.at(-1)).toBe('[SEP]');
    expect(tok.encode('中文').tokens).toEqual(['[CLS]', '[UNK]', '[UNK]', '[SEP]']);
  });
});

describe('mean pooling with the attention mask + L2 normalisation', () => {
  it('averages the attended tokens only and gives unit vectors', () => {
    // batch 2, seq 3, dim 2; the second row's last token is padding.
    const hidden = new Float32Array([1, 0, 3, 0, 5, 4, /**/ 0, 2, 0, 4, 100, 100]);
    const v = meanPoolNormalize(hidden, new BigInt64Array([1n, 1n, 1n, 1n, 1n, 0n]), 2, 3, 2);
    const a = [3, 4 / 3];
    const n = Math.hypot(a[0], a[1]);
    expect(v[0]).toBeCloseTo(a[0] / n, 6);
    expect(v[1]).toBeCloseTo(a[1] / n, 6);
    expect([v[2], v[3]]).toEqual([0, 1]);
  });
});

describe('onnx embeddings (random-weight BERT, real runtime)', () => {
  it('loads the model, gives unit vectors of the model dimension, deterministically', async () => {
    const p = createEmbeddingProvider(loadConfig({ env: onnxEnv() }));
    expect(p).toBeInstanceOf(OnnxEmbeddings);
    expect(p.dim).toBe(64);
    expect(p.model).toMatch(/^all-MiniLM-L6-v2@[0-9a-f]{12}$/);
    const [a, b] = await p.embed(['The goalkeeper saved a penalty.', 'Sourdough needs a starter.']);
    const [a2] = await p.embed(['The goalkeeper saved a penalty.']);
    expect(a).toHaveLength(64);
    expect(Math.sqrt(dot(a, a))).toBeCloseTo(1, 5);
    expect(Math.sqrt(dot(b, b))).toBeCloseTo(1, 5);
    expect(maxAbsDiff(a, a2)).toBeLessThan(1e-6);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-3);
  });

  it('gives the same vectors in batches (padded, length-sorted) as one by one', async () => {
    const model = findOnnxModel(loadConfig({ env: onnxEnv() })).model!;
    const batched = new OnnxEmbeddings({ model, dim: 64, batchSize: 4 });
    const single = new OnnxEmbeddings({ model, dim: 64, batchSize: 1 });
    try {
      const texts = [...sentences.slice(0, 9), sentences.slice(10, 20).join(' ')];
      const progress: number[] = [];
      const many = await batched.embed(texts, { onProgress: (d) => progress.push(d) });
      expect(progress).toEqual([4, 8, 10]);
      for (const [i, t] of texts.entries()) {
        const [one] = await single.embed([t]);
        expect(maxAbsDiff(many[i], one)).toBeLessThan(1e-4);
      }
    } finally {
      await Promise.all([batched.close(), single.close()]);
    }
  });

  it('keeps the event loop free during a big batch, and a query is answered before the batch ends', async () => {
    // all-MiniLM-L6-v2's size (6 layers, hidden 384), so a batch costs what it costs in production.
    const dir = testEmbeddingModel('minilm');
    const model = findOnnxModel(loadConfig({ env: { EMBEDDINGS_MODEL_PATH: dir } })).model!;
    const p = new OnnxEmbeddings({ model, dim: 384, batchSize: 8 });
    try {
      await p.embed(['warm up']);
      const chunk = sentences.join(' ');
      const big = Array.from({ length: 24 }, (_, i) => `${i} ${chunk}`);
      const h = monitorEventLoopDelay({ resolution: 5 });
      h.enable();
      const t0 = performance.now();
      let bigDone = 0;
      const bigRun = p.embed(big).then((v) => {
        bigDone = performance.now() - t0;
        return v;
      });
      await new Promise((r) => setTimeout(r, 50));
      const [q] = await p.embed(['how do telescopes see black holes']);
      const queryDone = performance.now() - t0;
      const vectors = await bigRun;
      h.disable();
      const maxDelayMs = h.max / 1e6;
      console.log(`big batch ${big.length} chunks: ${Math.round(bigDone)} ms; query answered at ${Math.round(queryDone)} ms; max event-loop delay ${maxDelayMs.toFixed(1)} ms`);
      expect(vectors).toHaveLength(24);
      expect(q).toHaveLength(384);
      expect(queryDone).toBeLessThan(bigDone);
      // Tokenising one batch of 8 is the only work on this thread (a few ms); inference is elsewhere.
      expect(maxDelayMs).toBeLessThan(100);
      expect(bigDone).toBeGreaterThan(4 * maxDelayMs);
    } finally {
      await p.close();
    }
  });

  it('refuses vectors of another dimension than the index expects', async () => {
    const dir = await tempDataDir('onnx-dim');
    for (const f of ['model.onnx', 'tokenizer.json']) copyFileSync(path.join(modelDir, f), path.join(dir, f));
    // config.json claims 32 dimensions: the model gives 64.
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ hidden_size: 32, max_position_embeddings: 512 }));
    const config = loadConfig({ env: onnxEnv({ EMBEDDINGS_MODEL_PATH: dir }) });
    expect(resolveEmbeddings(config).space.dim).toBe(32);
    const p = createEmbeddingProvider(config);
    await expect(p.embed(['black holes'])).rejects.toMatchObject({ code: 'embeddings_dimension_mismatch', message: expect.stringMatching(/dimension 64, the index expects 32/) });
  });
});

describe('which provider runs', () => {
  it('auto: onnx when the model is in MODELS_DIR/embeddings/<name>, else hash with a clear warning', async () => {
    const modelsDir = await tempDataDir('models');
    const config = loadConfig({ env: { MODELS_DIR: modelsDir, EMBEDDINGS_DIM: '64' } });
    const { log, lines } = capturingLog();
    expect(config.embeddings.provider).toBe('auto');
    const hash = resolveEmbeddings(config);
    expect(hash).toMatchObject({ provider: 'hash', space: { provider: 'hash', model: HASH_MODEL, dim: 64 }, unavailable: null });
    expect(hash.note).toMatch(/EMBEDDINGS_PROVIDER=auto: no ONNX embedding model in .*embeddings\/all-MiniLM-L6-v2 \(missing model\.onnx, tokenizer\.json\); search uses hash embeddings \(keyword hashing, not semantic\)/);
    expect(createEmbeddingProvider(config, log).name).toBe('hash');
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: hash.note }));

    // The fetched model lands there: auto is onnx now (the pinned checksum applies to the default model).
    const target = path.join(modelsDir, 'embeddings', 'all-MiniLM-L6-v2');
    mkdirSync(target, { recursive: true });
    for (const f of ['model.onnx', 'tokenizer.json', 'config.json']) copyFileSync(path.join(modelDir, f), path.join(target, f));
    expect(resolveEmbeddings(config).unavailable).toBeNull();
    expect(resolveEmbeddings(config).note).toMatch(/SHA-256 .* EMBEDDINGS_MODEL_SHA256 expects afdb6f1a/);
    // Pinned to what is there: onnx, with the model's own dimension.
    const sha = findOnnxModel(loadConfig({ env: onnxEnv() })).model!.sha256;
    const pinned = loadConfig({ env: { MODELS_DIR: modelsDir, EMBEDDINGS_MODEL_SHA256: sha } });
    expect(resolveEmbeddings(pinned)).toMatchObject({ provider: 'onnx', note: null, space: { provider: 'onnx', model: `all-MiniLM-L6-v2@${sha.slice(0, 12)}`, dim: 64 } });
    expect(createEmbeddingProvider(pinned).name).toBe('onnx');
    // onnx asked for explicitly with a model that does not match its checksum: refused, not hash.
    expect(embeddingsUnavailableReason(loadConfig({ env: { MODELS_DIR: modelsDir, EMBEDDINGS_PROVIDER: 'onnx' } }))).toMatch(/EMBEDDINGS_MODEL_SHA256 expects/);
  });

  it('puts the model name and the weights checksum into the index recipe (a new model makes the index stale)', async () => {
    const stage = createIndexStage();
    const recipe = (env: Record<string, string>) => JSON.stringify(stage.recipes!(loadConfig({ env })));
    const a = recipe(onnxEnv());
    expect(a).toMatch(/"provider":"onnx","model":"all-MiniLM-L6-v2@[0-9a-f]{12}","dim":64/);
    const other = await tempDataDir('other-model');
    for (const f of ['tokenizer.json', 'config.json']) copyFileSync(path.join(modelDir, f), path.join(other, f));
    await fs.writeFile(path.join(other, 'model.onnx'), Buffer.concat([readFileSync(path.join(modelDir, 'model.onnx'))]).subarray(0, 100));
    expect(recipe(onnxEnv({ EMBEDDINGS_MODEL_PATH: other }))).not.toBe(a);
    expect(recipe({ EMBEDDINGS_PROVIDER: 'hash', EMBEDDINGS_DIM: '64' })).not.toBe(a);
  });
});

describe('index stage and search with onnx', () => {
  it('indexes episodes end to end and search answers from the onnx vectors and keywords', async () => {
    const dataDir = await tempDataDir('onnx-index');
    const config = loadConfig({ env: onnxEnv({ DATA_DIR: dataDir }) });
    const reports = await buildCorpus(config, topicEpisodes());
    expect(reports.every((r) => r.stages.every((s) => s.status === 'done'))).toBe(true);
    const svc = createSearchService(config);
    const r = await svc.search('sourdough starter flour', { k: 5 });
    expect(r.index.vectors).toBeGreaterThan(0);
    expect(r.hits.length).toBeGreaterThan(0);
    expect(r.hits[0].title).toMatch(/cooking/);
    expect(r.hits.some((h) => h.vector_rank !== null)).toBe(true);
    const manifest = JSON.parse(await fs.readFile(path.join(dataDir, 'index', (await fs.readFile(path.join(dataDir, 'index', 'CURRENT'), 'utf8')).trim(), 'manifest.json'), 'utf8'));
    expect(manifest.space).toEqual({ provider: 'onnx', model: expect.stringMatching(/^all-MiniLM-L6-v2@/), dim: 64 });
  });

  it('the query side never searches an index of another embedding model: keywords answer alone, with a note', async () => {
    const dataDir = await tempDataDir('foreign-index');
    await buildCorpus(loadConfig({ env: { DATA_DIR: dataDir, EMBEDDINGS_PROVIDER: 'hash', EMBEDDINGS_DIM: '64' } }), topicEpisodes().slice(0, 2));
    const pointer = await fs.readFile(path.join(dataDir, 'index', 'CURRENT'), 'utf8');
    const config = loadConfig({ env: onnxEnv({ DATA_DIR: dataDir }) });
    const provider = createEmbeddingProvider(config);
    const store = vectorIndexFromConfig(config, provider, undefined, { onForeignSpace: 'ignore' });
    const keywordHit = { feed_id: 'feed-a', episode_key: 'k', chunk_no: 0, text: 'black holes', start_ms: 0, end_ms: 1, episode_title: null, feed_title: null };
    const svc = new SearchService({
      dataDir,
      vectors: { provider, store },
      keywords: { search: () => Promise.resolve([keywordHit]) },
      chunks: { find: () => Promise.resolve([]) },
      requireVectors: false,
    });
    const r = await svc.find('black holes');
    expect(r.vector).toBe(false);
    expect(r.hits.map((h) => h.chunk.text)).toEqual(['black holes']);
    expect(r.note).toMatch(/keyword search only: the vector index was built with hash hash-v1 \(64 dimensions\), this server embeds with onnx all-MiniLM-L6-v2@/);
    // Read, not rebuilt: the hash index is still the current one.
    expect(await fs.readFile(path.join(dataDir, 'index', 'CURRENT'), 'utf8')).toBe(pointer);
  });
});
