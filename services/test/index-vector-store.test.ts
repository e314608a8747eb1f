import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { HashEmbeddings } from '../src/index/embeddings/hash';
import { spaceOf } from '../src/index/embeddings/types';
import { ivfNprobe, VectorIndexStore, type VectorIndexOptions } from '../src/index/vector-store';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes, TOPICS } from './support/index-corpus';

afterAll(removeTempDataDirs);

const hash = new HashEmbeddings(384);
const options = (dataDir: string, over: Partial<VectorIndexOptions> = {}): VectorIndexOptions => ({
  dataDir,
  space: spaceOf(hash),
  type: 'auto',
  annThreshold: 50_000,
  hnswM: 16,
  efConstruction: 40,
  efSearch: 64,
  nprobe: 16,
  ...over,
});
const query = (text: string) => hash.embedOne(text);
const keys = (hits: { episode: { episode_key: string } }[]) => [...new Set(hits.map((h) => h.episode.episode_key))].sort();
const gens = async (dataDir: string) => (await fs.readdir(path.join(dataDir, 'index'))).filter((n) => /^gen-\d{8}$/.test(n)).sort();

async function corpus(name: string, env: Record<string, string> = {}) {
  const dataDir = await tempDataDir(name);
  const config = loadConfig({ env: { DATA_DIR: dataDir, ...env } });
  const reports = await buildCorpus(config, topicEpisodes());
  expect(reports.every((r) => r.state === 'done')).toBe(true);
  return { dataDir, config };
}

describe('vector index store (FAISS, generations, atomic swap)', () => {
  it('indexes every episode with one generation per change and maps hits back to chunks', async () => {
    const { dataDir } = await corpus('store-basic');
    const store = new VectorIndexStore(options(dataDir));
    const stats = await store.stats();
    expect(stats).toMatchObject({ generation: 6, type: 'flat', episodes: 6 });
    expect((await fs.readFile(path.join(dataDir, 'index', 'CURRENT'), 'utf8')).trim()).toBe('gen-00000006');
    expect(await gens(dataDir)).toEqual(['gen-00000005', 'gen-00000006']); // older ones pruned

    // The artifact: chunks.jsonl + vectors.f32 (one row per chunk) + meta info.
    const epDir = path.join(dataDir, 'corpus/feed-a/feed-a:astronomy-1');
    const artDir = path.join(epDir, (await fs.readdir(epDir)).find((d) => d.startsWith('index@'))!);
    const meta = JSON.parse(await fs.readFile(path.join(artDir, 'meta.json'), 'utf8'));
    expect(meta.files).toEqual(['chunks.jsonl', 'vectors.f32']);
    expect(meta.info).toMatchObject({ space: { provider: 'hash', model: 'hash-v1', dim: 384 }, title: 'All about astronomy', chunk_tokens: 300 });
    const lines = (await fs.readFile(path.join(artDir, 'chunks.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(meta.info.chunks);
    expect((await fs.stat(path.join(artDir, 'vectors.f32'))).size).toBe(meta.info.chunks * 384 * 4);

    const hits = await store.search(query('goalkeeper penalty striker'), 3);
    expect(hits[0].episode.episode_key).toMatch(/football/);
    expect(hits[0].similarity).toBeGreaterThan(0.1);
    const chunks = (await fs.readFile(path.join(dataDir, hits[0].episode.artifact, 'chunks.jsonl'), 'utf8')).trim().split('\n');
    expect(JSON.parse(chunks[hits[0].chunkNo]).text).toMatch(/goalkeeper|penalty|striker/);
  });

  it('removes an episode (tombstone) and re-adds it; another reader sees each generation without restart', async () => {
    const { dataDir } = await corpus('store-remove');
    const writer = new VectorIndexStore(options(dataDir));
    const reader = new VectorIndexStore(options(dataDir)); // like a second process
    const q = query('sourdough starter flour dough');
    expect(keys(await reader.search(q, 50))).toContain('feed-a:cooking-1');

    const r = await writer.update({ remove: [{ feedId: 'feed-a', episodeKey: 'feed-a:cooking-1' }] });
    expect(r).toMatchObject({ rebuilt: false, removed: 1 });
    const after = await reader.search(q, 50);
    expect(keys(after)).not.toContain('feed-a:cooking-1');
    expect(keys(after)).toContain('feed-b:cooking-2');
    expect((await reader.stats())?.generation).toBe(r.generation);

    const art = (await fs.readdir(path.join(dataDir, 'corpus/feed-a/feed-a:cooking-1'))).find((d) => d.startsWith('index@'))!;
    await writer.sync({ graceMs: 0 }); // the artifact is still there: sync puts it back
    expect(keys(await reader.search(q, 50))).toContain('feed-a:cooking-1');
    const m = JSON.parse(await fs.readFile(path.join(dataDir, 'index', (await gens(dataDir)).at(-1)!, 'manifest.json'), 'utf8'));
    expect(m.episodes.find((e: { episode_key: string }) => e.episode_key === 'feed-a:cooking-1').artifact).toContain(art);
    expect(m.dead.length).toBe(1);
  });

  it('rebuilds a corrupt (truncated) index file from the chunk artifacts, nothing lost', async () => {
    const { dataDir } = await corpus('store-corrupt');
    const before = new VectorIndexStore(options(dataDir));
    const want = await before.search(query('black hole telescope galaxy'), 100);
    const gen = (await gens(dataDir)).at(-1)!;
    const file = path.join(dataDir, 'index', gen, 'vectors.faiss');
    const size = (await fs.stat(file)).size;
    await fs.truncate(file, Math.floor(size / 2));

    const fresh = new VectorIndexStore(options(dataDir));
    const got = await fresh.search(query('black hole telescope galaxy'), 100);
    expect(got.map((h) => [h.episode.episode_key, h.chunkNo])).toEqual(want.map((h) => [h.episode.episode_key, h.chunkNo]));
    const stats = await fresh.stats();
    expect(stats?.episodes).toBe(6);
    expect(stats?.generation).toBeGreaterThan(Number(gen.slice(4)));

    // Garbage instead of a FAISS file, same size: caught by the checksum.
    const gen2 = (await gens(dataDir)).at(-1)!;
    const file2 = path.join(dataDir, 'index', gen2, 'vectors.faiss');
    await fs.writeFile(file2, Buffer.alloc((await fs.stat(file2)).size, 7));
    const third = new VectorIndexStore(options(dataDir));
    expect(keys(await third.search(query('black hole telescope galaxy'), 100))).toEqual(keys(want));
  });

  it('rebuilds from the artifacts when the whole index directory is gone', async () => {
    const { dataDir } = await corpus('store-gone');
    await fs.rm(path.join(dataDir, 'index'), { recursive: true });
    const store = new VectorIndexStore(options(dataDir));
    expect((await store.stats())?.episodes).toBe(6);
    expect(keys(await store.search(query('referee offside goal video review'), 3))).toContain('feed-a:football-1');
  });

  it('switches from Flat to an ANN index past the threshold, with the same answers', async () => {
    const { dataDir } = await corpus('store-ann');
    const flat = new VectorIndexStore(options(dataDir));
    const q = query('telescope infrared galaxies');
    const exact = await flat.search(q, 3);
    for (const type of ['hnsw', 'ivf'] as const) {
      // annThreshold below the corpus size: the next write rebuilds as HNSW (auto) / IVF (forced, needs ≥ 10k to train, else Flat).
      const store = new VectorIndexStore(options(dataDir, type === 'hnsw' ? { annThreshold: 5 } : { type: 'ivf' }));
      const r = await store.update({ rebuild: true });
      expect(r.rebuilt).toBe(true);
      const stats = await store.stats();
      expect(stats?.type).toBe(type === 'hnsw' ? 'hnsw' : 'flat');
      expect((await store.search(q, 3)).map((h) => [h.episode.episode_key, h.chunkNo])).toEqual(exact.map((h) => [h.episode.episode_key, h.chunkNo]));
    }
  });

  it('rebuilds for a new embedding space and ignores artifacts of the old one', async () => {
    const { dataDir } = await corpus('store-space');
    const other = new VectorIndexStore(options(dataDir, { space: { provider: 'hash', model: 'hash-v1', dim: 128 } }));
    // No artifacts in 128-d: the rebuilt index is empty rather than mixing spaces.
    expect(await other.stats()).toMatchObject({ episodes: 0, vectors: 0 });
    expect(await other.search(new Float32Array(128).fill(1 / Math.sqrt(128)), 5)).toEqual([]);
    await expect(other.search(query('x'), 5)).rejects.toThrow(/dimension 384, the index 128/);
  });

  it('serialises concurrent writers in one process without losing an episode', async () => {
    const dataDir = await tempDataDir('store-concurrent');
    const store = new VectorIndexStore(options(dataDir));
    const eps = Object.entries(TOPICS).flatMap(([topic, s]) => s.map((text, i) => ({ key: `${topic}-${i}`, text })));
    await Promise.all(
      eps.map((e) => store.update({ add: [{ feedId: 'f', episodeKey: e.key, title: e.key, artifact: path.join(dataDir, 'corpus/f', e.key, 'index@x'), vectors: query(e.text) }] })),
    );
    expect(await store.stats()).toMatchObject({ episodes: eps.length, vectors: eps.length, generation: eps.length });
    const hits = await store.search(query(TOPICS.football[3]), 1);
    expect(hits[0].episode.episode_key).toBe('football-3');
  });

  it('searches off the event loop: timers keep firing while a search runs', async () => {
    const dataDir = await tempDataDir('store-offloop');
    const store = new VectorIndexStore(options(dataDir, { annThreshold: 1e9 }));
    const n = 60_000;
    const vectors = new Float32Array(n * 384);
    let seed = 7;
    for (let i = 0; i < vectors.length; i++) vectors[i] = ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
    await store.update({ add: [{ feedId: 'f', episodeKey: 'big', title: null, artifact: path.join(dataDir, 'x'), vectors }] });
    const q = vectors.slice(0, 384);
    let ticks = 0;
    let done = false;
    const tick = () => {
      ticks++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const t0 = performance.now();
    const hits = await store.search(q, 100); // exact scan of 60k × 384 floats
    done = true;
    const ms = performance.now() - t0;
    expect(hits[0].chunkNo).toBe(0);
    console.log(`flat search of ${n} vectors took ${ms.toFixed(1)} ms; ${ticks} event-loop turns ran meanwhile`);
    expect(ticks).toBeGreaterThan(1);
  });
});

describe('IVF nprobe', () => {
  it('is the configured value, or (0 = auto) 8 % of the index cells, at least 8', () => {
    expect(ivfNprobe('IVF4000,Flat', 0)).toBe(320);
    expect(ivfNprobe('IVF1265,Flat', 0)).toBe(102);
    expect(ivfNprobe('IVF40,Flat', 0)).toBe(8);
    expect(ivfNprobe('IVF4000,Flat', 16)).toBe(16);
    expect(ivfNprobe('HNSW32,Flat', 0)).toBe(8);
    expect(loadConfig({ env: {} }).index.nprobe).toBe(0);
  });
});
