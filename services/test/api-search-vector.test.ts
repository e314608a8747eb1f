import fs from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../src/artifacts/store';
import type { Config } from '../src/config/config';
import { closeEmbeddingProviders } from '../src/index/embeddings';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { testEmbeddingModel } from './support/embedding-model';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';

/**
 * Stage-mode search with both halves: a real FAISS index (hash embeddings, built by the real
 * index stage) and Postgres full-text over the projected chunks, fused by RRF and filtered by
 * the caller's subscriptions.
 */
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_e2_search');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  const dataDir = await tempDataDir('e2-api-search');
  config = apiConfig(db.url, { DATA_DIR: dataDir, EMBEDDINGS_PROVIDER: 'hash', EMBEDDINGS_DIM: '64' });
  const episodes = topicEpisodes();
  await buildCorpus(config, episodes);

  const store = new ArtifactStore(dataDir);
  for (const feedId of ['feed-a', 'feed-b']) {
    await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, 3600, now())`, [feedId, `https://example.com/${feedId}.xml`, `Title of ${feedId}`]);
  }
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feed-a')`);
  for (const e of episodes) {
    await pg.query(`INSERT INTO episodes (episode_key, feed_id, title, transcripts, source, state) VALUES ($1, $2, $3, '[]', '{}', 'done')`, [e.key, e.feedId, e.title]);
    const [transcript] = await store.list(e.feedId, e.key, 'transcribe');
    const segments = JSON.parse(await fs.readFile(path.join(transcript.dir, 'transcript.json'), 'utf8')).segments as { start_ms: number; end_ms: number; text: string }[];
    for (const [i, s] of segments.entries()) {
      await pg.query(`INSERT INTO transcript_segments (episode_key, fingerprint, idx, start_ms, end_ms, text) VALUES ($1, $2, $3, $4, $5, $6)`, [e.key, transcript.fingerprint, i, s.start_ms, s.end_ms, s.text]);
    }
    const [ref] = await store.list(e.feedId, e.key, 'index');
    const lines = (await fs.readFile(path.join(ref.dir, 'chunks.jsonl'), 'utf8')).split('\n').filter(Boolean);
    for (const line of lines) {
      const c = JSON.parse(line) as { chunk_no: number; text: string; start_ms: number; end_ms: number };
      await pg.query(`INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms) VALUES ($1, $2, $3, $4, $5, $6)`, [e.key, ref.fingerprint, c.chunk_no, c.text, c.start_ms, c.end_ms]);
    }
  }
  api = await startApi(config);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await pg?.end();
  await db?.drop();
  await removeTempDataDirs();
});

describe('api: hybrid search (FAISS + Postgres full-text)', () => {
  it('fuses the vector and the full-text ranking and keeps to the subscribed feeds', async () => {
    const r = await call(api.base, 'GET', '/api/search?q=black%20hole%20telescope&k=5');
    expect(r.status).toBe(200);
    expect(r.body.vector).toBe(true);
    const hits = r.body.hits as { episode_key: string; feed_id: string; snippet: string; highlights: { start: number; end: number }[]; why: string; relevance: number }[];
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.feed_id === 'feed-a')).toBe(true);
    expect(hits[0].episode_key).toBe('feed-a:astronomy-1');
    expect(hits[0].snippet.toLowerCase()).toMatch(/black hole|telescope/);
    // Plain text with highlight ranges on the query's words; why instead of a fusion score.
    expect(hits[0].snippet).not.toMatch(/[«»<>]/);
    expect(hits[0].highlights.map((h) => hits[0].snippet.slice(h.start, h.end).toLowerCase())).toEqual(expect.arrayContaining(['black', 'hole', 'telescope']));
    expect(hits[0]).toMatchObject({ why: expect.stringMatching(/^matched: black, holes?, telescopes?$/), relevance: 1 });
    expect(hits[0]).not.toHaveProperty('score');
  });

  it('a hit starts at the sentence that matched (from the projected segments), not at its chunk', async () => {
    const r = await call(api.base, 'GET', '/api/search?q=goalkeeper%20penalty&k=3');
    const top = r.body.hits[0] as { episode_key: string; start_ms: number; end_ms: number; snippet: string; highlights: unknown[] };
    expect(top.episode_key).toBe('feed-a:football-1');
    const sentences = topicEpisodes().find((e) => e.key === top.episode_key)!.sentences;
    // makeTranscript: sentence i is the segment [i·4 s, (i+1)·4 s).
    expect(top.start_ms % 4000).toBe(0);
    expect(sentences[top.start_ms / 4000]).toMatch(/goalkeeper saved a penalty/);
    expect(top.start_ms).toBeGreaterThan(0);
    expect(top.end_ms).toBeGreaterThan(top.start_ms);
  });

  it('nonsense finds nothing, even with both halves answering', async () => {
    for (const q of ['xqzv blorf', 'asdf qwerty']) {
      const r = await call(api.base, 'GET', `/api/search?q=${encodeURIComponent(q)}&k=10`);
      expect(r.status).toBe(200);
      expect(r.body.hits, q).toEqual([]);
    }
  });

  it('episodes of a feed the tenant subscribes to later become searchable at once', async () => {
    const before = await call(api.base, 'GET', '/api/search?q=goalkeeper%20penalty&k=10');
    expect(before.body.hits.length).toBeGreaterThan(0);
    expect(before.body.hits.some((h: { feed_id: string }) => h.feed_id === 'feed-b')).toBe(false);
    await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feed-b')`);
    const after = await call(api.base, 'GET', '/api/search?q=goalkeeper%20penalty&k=10');
    expect(after.body.hits.map((h: { episode_key: string }) => h.episode_key)).toContain('feed-b:football-2');
  });
});

describe('api: which embeddings search uses, said in the answer', () => {
  it('with another embedding model than the index was built with: full text alone, a note, the index left as it is', async () => {
    const pointer = await fs.readFile(path.join(config.dataDir, 'index', 'CURRENT'), 'utf8');
    const onnx = await startApi({ ...config, embeddings: { ...config.embeddings, provider: 'onnx', modelPath: testEmbeddingModel() } });
    try {
      const r = await call(onnx.base, 'GET', '/api/search?q=black%20hole%20telescope&k=5');
      expect(r.status).toBe(200);
      expect(r.body.vector).toBe(false);
      expect(r.body.hits.length).toBeGreaterThan(0);
      expect(r.body.note).toMatch(/keyword search only: the vector index was built with hash hash-v1 \(64 dimensions\), this server embeds with onnx all-MiniLM-L6-v2@[0-9a-f]{12} \(64\)/);
      expect(await fs.readFile(path.join(config.dataDir, 'index', 'CURRENT'), 'utf8')).toBe(pointer);
    } finally {
      await onnx.close();
      await closeEmbeddingProviders();
    }
    // The hash api still answers from both sides, with nothing to say.
    const r = await call(api.base, 'GET', '/api/search?q=black%20hole%20telescope&k=5');
    expect(r.body).toMatchObject({ vector: true, note: null });
  });

  it('auto without the local model: hash, and the answer says so', async () => {
    const auto = await startApi({ ...config, modelsDir: '/nonexistent/models', embeddings: { ...config.embeddings, provider: 'auto' } });
    try {
      const r = await call(auto.base, 'GET', '/api/search?q=black%20hole%20telescope&k=5');
      expect(r.body.vector).toBe(true);
      expect(r.body.note).toMatch(/EMBEDDINGS_PROVIDER=auto: no ONNX embedding model in \/nonexistent\/models\/embeddings\/all-MiniLM-L6-v2 .*keyword hashing, not semantic/);
    } finally {
      await auto.close();
    }
  });
});
