import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { OpenAiEmbeddings } from '../src/index/embeddings/openai';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';
import { type FakeOpenAi, hashEmbedding, startFakeOpenAi } from './support/fake-openai';

afterAll(removeTempDataDirs);

let ai: FakeOpenAi | null = null;
afterEach(async () => {
  await ai?.close();
  ai = null;
});

const provider = (url: string, over: Partial<ConstructorParameters<typeof OpenAiEmbeddings>[0]> = {}) =>
  new OpenAiEmbeddings({ baseUrl: url, apiKey: '', model: 'fake-embed', dim: 384, batchSize: 4, retries: 3, retryBaseMs: 5, timeoutMs: 5000, ...over });

describe('openai embeddings (any /v1/embeddings)', () => {
  it('batches EMBEDDINGS_BATCH inputs per request and decodes base64 vectors', async () => {
    ai = await startFakeOpenAi({ embeddingDim: 384 });
    const texts = Array.from({ length: 10 }, (_, i) => `text number ${i}`);
    const vectors = await provider(ai.url).embed(texts);
    const calls = ai.requests.filter((r) => r.path.endsWith('/embeddings'));
    expect(calls.map((c) => (c.body as { input: string[] }).input.length)).toEqual([4, 4, 2]);
    expect(calls.every((c) => (c.body as { encoding_format: string }).encoding_format === 'base64')).toBe(true);
    expect(vectors).toHaveLength(10);
    const want = hashEmbedding('text number 7', 384);
    vectors[7].forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });

  it('accepts servers that ignore encoding_format and answer plain float lists', async () => {
    // e.g. older Ollama / llama.cpp servers
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const input = (JSON.parse(body) as { input: string[] }).input;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: input.map((_, index) => ({ object: 'embedding', index, embedding: [3, 4, 0, 0] })), model: 'm' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      const res = await provider(url, { dim: 4 }).embed(['a', 'b']);
      expect(Array.from(res[1])).toEqual(Array.from(new Float32Array([0.6, 0.8, 0, 0])));
    } finally {
      server.close();
    }
  });

  it('retries 429 and 5xx with backoff, then succeeds', async () => {
    ai = await startFakeOpenAi({ failFirst: { status: 429, times: 2, path: 'embeddings' } });
    const vectors = await provider(ai.url).embed(['one', 'two']);
    expect(vectors).toHaveLength(2);
    expect(ai.requests.filter((r) => r.path.endsWith('/embeddings'))).toHaveLength(3);

    await ai.close();
    ai = await startFakeOpenAi({ failFirst: { status: 500, times: 10, path: 'embeddings' } });
    const err = await provider(ai.url, { retries: 2 }).embed(['x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PodbrainError);
    expect((err as PodbrainError).code).toBe('embeddings_failed');
    expect((err as Error).message).toMatch(/after 3 attempts/);
    expect(ai.requests).toHaveLength(3);
  });

  it('does not retry a 4xx other than 429', async () => {
    ai = await startFakeOpenAi({ failFirst: { status: 401, times: 10, path: 'embeddings' } });
    await expect(provider(ai.url).embed(['x'])).rejects.toThrow(/401/);
    expect(ai.requests).toHaveLength(1);
  });

  it('rejects a server answering the wrong dimension with a clear error', async () => {
    ai = await startFakeOpenAi({ embeddingDim: 256 });
    const err = await provider(ai.url).embed(['x']).catch((e: unknown) => e);
    expect((err as PodbrainError).code).toBe('embeddings_dimension_mismatch');
    expect((err as Error).message).toMatch(/dimension 256, but EMBEDDINGS_DIM is 384/);
  });

  it('index stage: wrong dimension fails the episode and writes nothing (no artifact, no index)', async () => {
    ai = await startFakeOpenAi({ embeddingDim: 256 });
    const dataDir = await tempDataDir('openai-dim');
    const config = loadConfig({ env: { DATA_DIR: dataDir, EMBEDDINGS_PROVIDER: 'openai', OPENAI_BASE_URL: ai.url, EMBEDDINGS_MODEL: 'fake-embed' } });
    const [report] = await buildCorpus(config, topicEpisodes().slice(0, 1));
    const index = report.stages.find((s) => s.stage === 'index');
    expect(index?.status).toBe('failed');
    expect(index?.reason).toMatch(/dimension 256, but EMBEDDINGS_DIM is 384/);
    const epDir = path.join(dataDir, 'corpus', 'feed-a', 'feed-a:astronomy-1');
    expect((await fs.readdir(epDir)).filter((d) => d.startsWith('index@'))).toEqual([]);
    expect(existsSync(path.join(dataDir, 'index', 'CURRENT'))).toBe(false);
  });

  it('index stage: a matching server indexes the episode through the openai provider', async () => {
    ai = await startFakeOpenAi({ embeddingDim: 384 });
    const dataDir = await tempDataDir('openai-ok');
    const config = loadConfig({ env: { DATA_DIR: dataDir, EMBEDDINGS_PROVIDER: 'openai', OPENAI_BASE_URL: ai.url, EMBEDDINGS_MODEL: 'fake-embed', EMBEDDINGS_BATCH: '2' } });
    const [report] = await buildCorpus(config, topicEpisodes().slice(0, 1));
    const index = report.stages.find((s) => s.stage === 'index');
    expect(index?.status).toBe('done');
    const info = index?.ref?.meta.info as { chunks: number; space: unknown };
    expect(info.space).toEqual({ provider: 'openai', model: 'fake-embed', dim: 384 });
    expect(ai.requests.filter((r) => r.path.endsWith('/embeddings')).length).toBe(Math.ceil(info.chunks / 2));
  });
});
