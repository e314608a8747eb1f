import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { resolveEmbeddings } from '../src/index/embeddings';
import { testEmbeddingModel } from './support/embedding-model';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'deploy/scripts/fetch-embeddings-model.sh');

describe('fetch-embeddings-model.sh (the embedding model, fetched once on first start)', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pb-embed-fetch-'));
  const model = testEmbeddingModel();
  const files: Record<string, Buffer> = {
    '/rev/onnx/model_quantized.onnx': readFileSync(path.join(model, 'model.onnx')),
    '/rev/tokenizer.json': readFileSync(path.join(model, 'tokenizer.json')),
    '/rev/config.json': readFileSync(path.join(model, 'config.json')),
  };
  const sha = createHash('sha256').update(files['/rev/onnx/model_quantized.onnx']).digest('hex');
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const body = files[req.url ?? ''];
    if (!body) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rev`;
  });
  afterAll(() => {
    server.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      execFile('sh', [SCRIPT], { env: { PATH: process.env.PATH!, ...env } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });

  it('downloads model, tokenizer and config once, verifies the checksum, and the provider then resolves to onnx', async () => {
    const modelsDir = path.join(tmp, 'models');
    const env = { MODELS_DIR: modelsDir, EMBEDDINGS_MODEL_URL: base, EMBEDDINGS_MODEL_SHA256: sha };
    const first = await run(env);
    expect(first.out).toContain('saved');
    expect(first.code).toBe(0);
    const dir = path.join(modelsDir, 'embeddings', 'all-MiniLM-L6-v2');
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.onnx', 'tokenizer.json']);
    expect(resolveEmbeddings(loadConfig({ env: { MODELS_DIR: modelsDir, EMBEDDINGS_MODEL_SHA256: sha } })).provider).toBe('onnx');
    const again = await run(env);
    expect(again.out).toContain('nothing to do');
    expect(hits.filter((h) => h.endsWith('.onnx'))).toHaveLength(1);
  });

  it('refuses a model whose checksum does not match (the pinned default here) and leaves nothing behind', async () => {
    const modelsDir = path.join(tmp, 'models-bad');
    const bad = await run({ MODELS_DIR: modelsDir, EMBEDDINGS_MODEL_URL: base });
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/has SHA-256 [0-9a-f]{64}, expected afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1; removed/);
    expect(readdirSync(path.join(modelsDir, 'embeddings', 'all-MiniLM-L6-v2'))).toEqual([]);
    // auto without the model: hash, and it says why.
    expect(resolveEmbeddings(loadConfig({ env: { MODELS_DIR: modelsDir } }))).toMatchObject({ provider: 'hash', note: expect.stringMatching(/no ONNX embedding model/) });
  });

  it('refuses a tokenizer that is not WordPiece; skips for hash/openai and for EMBEDDINGS_MODEL_PATH; rejects bad names', async () => {
    const original = files['/rev/tokenizer.json'];
    files['/rev/tokenizer.json'] = Buffer.from('<html>rate limited</html>');
    try {
      const r = await run({ MODELS_DIR: path.join(tmp, 'm2'), EMBEDDINGS_MODEL_URL: base, EMBEDDINGS_MODEL_SHA256: sha });
      expect(r.code).toBe(1);
      expect(r.out).toContain('not a WordPiece tokenizer.json');
      expect(existsSync(path.join(tmp, 'm2', 'embeddings', 'all-MiniLM-L6-v2', 'model.onnx'))).toBe(false);
    } finally {
      files['/rev/tokenizer.json'] = original;
    }
    for (const provider of ['hash', 'openai']) {
      const r = await run({ MODELS_DIR: path.join(tmp, 'm3'), EMBEDDINGS_MODEL_URL: base, EMBEDDINGS_PROVIDER: provider });
      expect(r.out).toContain('nothing to fetch');
      expect(r.code).toBe(0);
    }
    writeFileSync(path.join(tmp, 'marker'), '');
    expect((await run({ MODELS_DIR: path.join(tmp, 'm3'), EMBEDDINGS_MODEL_PATH: tmp })).out).toContain('names the model; nothing to fetch');
    expect(existsSync(path.join(tmp, 'm3'))).toBe(false);
    expect((await run({ MODELS_DIR: path.join(tmp, 'm4'), EMBEDDINGS_MODEL: '../etc' })).code).toBe(2);
    expect((await run({ MODELS_DIR: path.join(tmp, 'm4'), EMBEDDINGS_MODEL_SHA256: 'xyz' })).code).toBe(2);
  });
});
