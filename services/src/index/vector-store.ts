import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../artifacts/store';
import { PodbrainError, errorMessage } from '../core/errors';
import { type Logger, silentLogger } from '../core/logger';
import { metrics } from '../telemetry/metrics';
import { readVectors, scanIndexArtifacts } from './artifacts';
import { type EmbeddingSpace, sameSpace } from './embeddings/types';
import { acquireFileLock } from './file-lock';
import { type NativeIndex, faiss } from './native';

/**
 * The corpus-wide FAISS index in `$DATA_DIR/index/` (ARCHITECTURE §2, §7).
 *
 *   index/CURRENT            "gen-00000042" (replaced by rename)
 *   index/gen-00000042/      vectors.faiss + manifest.json, written whole under a temp
 *                            name and renamed into place before CURRENT moves
 *
 * Labels are insertion positions; the manifest maps label ranges to episodes (row i of an
 * episode's range = chunk i of its index artifact). Removing an episode tombstones its range;
 * past a dead share of 25% the next write rebuilds. Flat below `annThreshold` vectors, IVF
 * from there on (retrained when the corpus has grown 4×), HNSW on request. The vectors also live in each episode's index artifact, so a lost
 * or corrupt index file is rebuilt from the corpus with nothing lost.
 */

export const INDEX_FILE = 'vectors.faiss';
export const MANIFEST_FILE = 'manifest.json';
const CURRENT_FILE = 'CURRENT';
const MAX_DEAD_SHARE = 0.25;

export type IndexType = 'flat' | 'hnsw' | 'ivf';

export interface IndexedEpisode {
  feed_id: string;
  episode_key: string;
  title: string | null;
  /** The episode's index artifact, relative to DATA_DIR. */
  artifact: string;
  first_label: number;
  count: number;
  added_at: string;
}

export interface IndexManifest {
  schema_version: 1;
  generation: number;
  created_at: string;
  space: EmbeddingSpace;
  type: IndexType;
  factory: string;
  ntotal: number;
  /** Vectors in the index when it was built (IVF: what its cells were trained for). */
  trained_on?: number;
  file: { name: string; bytes: number; sha256: string };
  episodes: IndexedEpisode[];
  /** Tombstoned label ranges [first, count]. */
  dead: [number, number][];
}

export interface EpisodeVectors {
  feedId: string;
  episodeKey: string;
  title: string | null;
  /** Absolute artifact dir. */
  artifact: string;
  /** count × dim, row i = chunk i. */
  vectors: Float32Array;
}

export interface VectorIndexOptions {
  dataDir: string;
  space: EmbeddingSpace;
  type: 'auto' | IndexType;
  annThreshold: number;
  hnswM: number;
  efConstruction: number;
  efSearch: number;
  /** IVF cells probed per search; 0 = 8 % of the index's cells (`ivfNprobe`). */
  nprobe: number;
  /**
   * Searches in flight on libuv's pool at once (default: cores − 1, at least 1), so the event
   * loop keeps a core to itself however many requests search at the same time.
   */
  searchConcurrency?: number;
  /**
   * An index of another embedding space on disk: `rebuild` (writers, the CLI) rebuilds it from
   * this space's index artifacts; `ignore` (the api, a reader) leaves it alone and answers as if
   * there were none (foreignIndex says which space it holds), so vectors never mix.
   */
  onForeignSpace?: 'rebuild' | 'ignore';
  log?: Logger;
}

export interface VectorHit {
  episode: IndexedEpisode;
  chunkNo: number;
  /** Inner product of unit vectors = cosine similarity. */
  similarity: number;
}

export interface UpdateResult {
  generation: number;
  added: number;
  removed: number;
  rebuilt: boolean;
  ntotal: number;
}

export interface Loaded {
  manifest: IndexManifest;
  index: NativeIndex;
  firstLabels: number[];
  dead: Uint8Array;
  deadCount: number;
  pointer: string;
}

/**
 * IVF cells: ~4·√n. With 2·√n cells, 1M low-rank vectors needed 22 ms p95 for recall@10 0.96;
 * with 4·√n, 16 ms for 0.95, for a k-means training of about a minute (BENCHMARKS.md "Search").
 */
const ivfLists = (n: number) => Math.max(16, Math.min(65536, Math.round(4 * Math.sqrt(n))));
/** Share of the IVF cells probed when VECTOR_INDEX_IVF_NPROBE is 0 (auto): recall@10 ≥ 0.95 on hard data. */
const AUTO_NPROBE_SHARE = 0.08;

/** The nprobe for an index: the configured one, or (0 = auto) 8 % of its cells, at least 8. */
export function ivfNprobe(factory: string, configured: number): number {
  if (configured > 0) return configured;
  const lists = Number(/^IVF(\d+)/.exec(factory)?.[1] ?? 0);
  return Math.max(8, Math.ceil(lists * AUTO_NPROBE_SHARE));
}
/** k-means sample per cell (faiss warns below 39). */
const IVF_TRAIN_PER_LIST = 40;

const genName = (n: number) => `gen-${String(n).padStart(8, '0')}`;

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

class CorruptIndex extends Error {}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export class VectorIndexStore {
  private loaded: Loaded | null = null;
  private loading: Promise<Loaded | null> | null = null;
  private foreign: { pointer: string; space: EmbeddingSpace } | null = null;
  private writeChain: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private readonly slots: Semaphore;

  constructor(private readonly opts: VectorIndexOptions) {
    this.log = opts.log ?? silentLogger;
    this.slots = new Semaphore(opts.searchConcurrency ?? Math.max(1, os.availableParallelism() - 1));
  }

  get dir(): string {
    return path.join(this.opts.dataDir, 'index');
  }

  private get corpusDir(): string {
    return path.join(this.opts.dataDir, 'corpus');
  }

  // ---------- reading ----------

  private async readPointer(): Promise<string | null> {
    try {
      const name = (await fs.readFile(path.join(this.dir, CURRENT_FILE), 'utf8')).trim();
      return /^gen-\d{8}$/.test(name) ? name : null;
    } catch {
      return null;
    }
  }

  /** Reads and verifies one generation; throws CorruptIndex when its files don't match the manifest. */
  private async loadGeneration(pointer: string): Promise<Loaded> {
    const genDir = path.join(this.dir, pointer);
    let manifest: IndexManifest;
    try {
      manifest = JSON.parse(await fs.readFile(path.join(genDir, MANIFEST_FILE), 'utf8')) as IndexManifest;
    } catch (e) {
      throw new CorruptIndex(`${pointer}/${MANIFEST_FILE}: ${errorMessage(e)}`);
    }
    const file = path.join(genDir, manifest.file?.name ?? INDEX_FILE);
    const st = await fs.stat(file).catch(() => null);
    if (!st) throw new CorruptIndex(`${pointer}/${INDEX_FILE} is missing`);
    if (st.size !== manifest.file.bytes) throw new CorruptIndex(`${pointer}/${INDEX_FILE} is ${st.size} bytes, the manifest says ${manifest.file.bytes}`);
    if ((await sha256File(file)) !== manifest.file.sha256) throw new CorruptIndex(`${pointer}/${INDEX_FILE} does not match its checksum`);
    let index: NativeIndex;
    try {
      index = await faiss().readAsync(file);
    } catch (e) {
      throw new CorruptIndex(`${pointer}/${INDEX_FILE}: ${errorMessage(e)}`);
    }
    if (index.ntotal() !== manifest.ntotal || index.dim() !== manifest.space.dim) {
      throw new CorruptIndex(`${pointer}/${INDEX_FILE} holds ${index.ntotal()} × ${index.dim()}, the manifest says ${manifest.ntotal} × ${manifest.space.dim}`);
    }
    this.applySearchParams(index, manifest);
    const dead = new Uint8Array(manifest.ntotal);
    let deadCount = 0;
    for (const [first, count] of manifest.dead) {
      dead.fill(1, first, first + count);
      deadCount += count;
    }
    const episodes = [...manifest.episodes].sort((a, b) => a.first_label - b.first_label);
    manifest.episodes = episodes;
    return { manifest, index, firstLabels: episodes.map((e) => e.first_label), dead, deadCount, pointer };
  }

  private applySearchParams(index: NativeIndex, manifest: IndexManifest): void {
    index.setParam('efSearch', this.opts.efSearch);
    index.setParam('nprobe', ivfNprobe(manifest.factory, this.opts.nprobe));
  }

  /**
   * The current generation, reloaded when CURRENT moved (another process or our own writer
   * published a new one). A corrupt or foreign-space index is rebuilt from the corpus.
   */
  async current(): Promise<Loaded | null> {
    const pointer = await this.readPointer();
    if (this.loaded && this.loaded.pointer === pointer) return this.loaded;
    if (this.foreign && this.foreign.pointer === pointer) return null;
    this.foreign = null;
    if (!this.loading) {
      this.loading = this.reload(pointer).finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  private async reload(pointer: string | null): Promise<Loaded | null> {
    if (!pointer) {
      // Nothing published yet; if artifacts exist (index dir deleted), rebuild from them.
      const artifacts = await scanIndexArtifacts(this.corpusDir, this.opts.space);
      if (!artifacts.length) return (this.loaded = null);
      this.log.warn({ episodes: artifacts.length }, 'no vector index on disk; rebuilding from the index artifacts');
      await this.update({ rebuild: true });
      return this.loaded;
    }
    try {
      const loaded = await this.loadGeneration(pointer);
      if (!sameSpace(loaded.manifest.space, this.opts.space)) {
        if (this.opts.onForeignSpace === 'ignore') {
          this.log.warn({ index: loaded.manifest.space, config: this.opts.space }, 'vector index was built for another embedding space; not searched until it is rebuilt');
          this.foreign = { pointer, space: loaded.manifest.space };
          this.loaded = null;
          return null;
        }
        this.log.warn({ index: loaded.manifest.space, config: this.opts.space }, 'vector index was built for another embedding space; rebuilding');
        await this.update({ rebuild: true });
        return this.loaded;
      }
      this.loaded = loaded;
      metrics.vectorIndexSize.set(loaded.manifest.ntotal - loaded.deadCount);
      return loaded;
    } catch (e) {
      if (!(e instanceof CorruptIndex)) throw e;
      // A newer generation may have replaced it while we read: only rebuild if it is still current.
      if ((await this.readPointer()) !== pointer) return this.current();
      this.log.error({ err: e.message }, 'vector index is corrupt; rebuilding from the index artifacts');
      await this.update({ rebuild: true });
      return this.loaded;
    }
  }

  /** The space of the index on disk when it is not this store's (and so not searched), else null. */
  get foreignIndex(): EmbeddingSpace | null {
    return this.foreign?.space ?? null;
  }

  async stats(): Promise<{ generation: number; type: IndexType; vectors: number; episodes: number } | null> {
    const l = await this.current();
    return l ? { generation: l.manifest.generation, type: l.manifest.type, vectors: l.manifest.ntotal - l.deadCount, episodes: l.manifest.episodes.length } : null;
  }

  /** Nearest live chunks to a unit query vector; runs on libuv's pool, never on the event loop. */
  async search(query: Float32Array, k: number): Promise<VectorHit[]> {
    if (query.length !== this.opts.space.dim) {
      throw new PodbrainError('bad_query_vector', `query vector has dimension ${query.length}, the index ${this.opts.space.dim}`);
    }
    const l = await this.current();
    if (!l || l.manifest.ntotal === 0) return [];
    const live = l.manifest.ntotal - l.deadCount;
    let fetch = Math.min(l.manifest.ntotal, k + (l.deadCount ? Math.min(l.deadCount, 4 * k) : 0));
    for (;;) {
      const { labels, distances } = await this.slots.run(() => l.index.searchAsync(query, fetch));
      const hits: VectorHit[] = [];
      for (let i = 0; i < labels.length && hits.length < k; i++) {
        const label = labels[i];
        if (label < 0 || l.dead[label]) continue;
        const episode = this.owner(l, label);
        if (episode) hits.push({ episode, chunkNo: label - episode.first_label, similarity: distances[i] });
      }
      if (hits.length >= Math.min(k, live) || fetch >= l.manifest.ntotal) return hits;
      fetch = Math.min(l.manifest.ntotal, fetch * 4);
    }
  }

  private owner(l: Loaded, label: number): IndexedEpisode | null {
    let lo = 0;
    let hi = l.firstLabels.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (l.firstLabels[mid] <= label) lo = mid;
      else hi = mid - 1;
    }
    const e = l.manifest.episodes[lo];
    return e && label >= e.first_label && label < e.first_label + e.count ? e : null;
  }

  // ---------- writing ----------

  /**
   * Adds (or replaces) and removes episodes, publishing one new generation. Serialised in
   * this process by a promise chain and across processes by a lock file.
   */
  update(change: { add?: EpisodeVectors[]; remove?: { feedId: string; episodeKey: string }[]; rebuild?: boolean }): Promise<UpdateResult> {
    const run = this.writeChain.then(() => this.updateLocked(change));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private async updateLocked(change: { add?: EpisodeVectors[]; remove?: { feedId: string; episodeKey: string }[]; rebuild?: boolean }): Promise<UpdateResult> {
    await fs.mkdir(this.dir, { recursive: true });
    const release = await acquireFileLock(path.join(this.dir, '.write.lock'));
    try {
      const add = change.add ?? [];
      for (const a of add) {
        if (a.vectors.length % this.opts.space.dim !== 0) throw new Error(`vectors of ${a.episodeKey} are not a multiple of dimension ${this.opts.space.dim}`);
      }
      const keyOf = (x: { feedId: string; episodeKey: string }) => `${x.feedId}/${x.episodeKey}`;
      const touched = new Set([...add.map(keyOf), ...(change.remove ?? []).map(keyOf)]);

      let base: Loaded | null = null;
      const pointer = await this.readPointer();
      if (pointer && !change.rebuild) {
        try {
          base = this.loaded?.pointer === pointer ? this.loaded : await this.loadGeneration(pointer);
          if (!sameSpace(base.manifest.space, this.opts.space)) base = null;
        } catch (e) {
          if (!(e instanceof CorruptIndex)) throw e;
          this.log.error({ err: e.message }, 'vector index is corrupt; rebuilding from the index artifacts');
          base = null;
        }
      }

      const nextGen = base ? base.manifest.generation + 1 : await this.nextGenerationNumber();
      const kept = base ? base.manifest.episodes.filter((e) => !touched.has(`${e.feed_id}/${e.episode_key}`)) : [];
      const keptCount = kept.reduce((s, e) => s + e.count, 0);
      const addCount = add.reduce((s, a) => s + a.vectors.length / this.opts.space.dim, 0);
      const total = keptCount + addCount;
      const wantType = this.typeFor(total);
      const deadAfter = base ? base.manifest.ntotal - keptCount : 0;
      // IVF cells trained on a quarter of today's vectors are too coarse: retrain (rebuild).
      const outgrown = base !== null && base.manifest.type === 'ivf' && total > 4 * (base.manifest.trained_on ?? base.manifest.ntotal);
      const incremental =
        base !== null && !outgrown && base.manifest.type === wantType && deadAfter / Math.max(1, base.manifest.ntotal + addCount) <= MAX_DEAD_SHARE;

      if (incremental && base) return await this.publishIncremental(base, kept, add, nextGen, change.remove?.length ?? 0);
      return await this.publishRebuild(add, touched, change.remove ?? [], nextGen);
    } finally {
      await release();
    }
  }

  private typeFor(total: number): IndexType {
    // IVF needs enough points to train its centroids; below that, exact search is as fast.
    if (this.opts.type === 'ivf') return total < 10_000 ? 'flat' : 'ivf';
    if (this.opts.type !== 'auto') return this.opts.type;
    // IVF past the threshold: it builds ~50× faster than HNSW with Debian's (non-AVX) libfaiss
    // at equal recall and latency (BENCHMARKS.md "Search"); HNSW where IVF has too few points to train.
    if (total < this.opts.annThreshold) return 'flat';
    return total >= 10_000 ? 'ivf' : 'hnsw';
  }

  private factoryFor(type: IndexType, total: number): string {
    if (type === 'hnsw') return `HNSW${this.opts.hnswM},Flat`;
    if (type === 'ivf') return `IVF${ivfLists(total)},Flat`;
    return 'Flat';
  }

  private async nextGenerationNumber(): Promise<number> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const nums = names.map((n) => /^gen-(\d{8})$/.exec(n)?.[1]).filter(Boolean).map(Number);
    return nums.length ? Math.max(...nums) + 1 : 1;
  }

  private async publishIncremental(base: Loaded, kept: IndexedEpisode[], add: EpisodeVectors[], gen: number, removedCount: number): Promise<UpdateResult> {
    const m = base.manifest;
    // A private copy: the loaded one keeps serving searches until CURRENT moves.
    const index = await faiss().readAsync(path.join(this.dir, base.pointer, m.file.name));
    index.setParam('efConstruction', this.opts.efConstruction);
    const dead = [...m.dead];
    const keptKeys = new Set(kept.map((e) => `${e.feed_id}/${e.episode_key}`));
    for (const e of m.episodes) if (!keptKeys.has(`${e.feed_id}/${e.episode_key}`)) dead.push([e.first_label, e.count]);
    const episodes = [...kept];
    let next = m.ntotal;
    for (const a of add) {
      const count = a.vectors.length / this.opts.space.dim;
      if (count) await index.addAsync(a.vectors, 0);
      episodes.push(this.entry(a, next, count));
      next += count;
    }
    const manifest = await this.publish(index, { ...m, generation: gen, ntotal: next, episodes, dead, created_at: new Date().toISOString() });
    return { generation: gen, added: add.length, removed: removedCount, rebuilt: false, ntotal: manifest.ntotal };
  }

  private entry(a: EpisodeVectors, first: number, count: number): IndexedEpisode {
    return {
      feed_id: a.feedId,
      episode_key: a.episodeKey,
      title: a.title,
      artifact: path.relative(this.opts.dataDir, a.artifact),
      first_label: first,
      count,
      added_at: new Date().toISOString(),
    };
  }

  /** A fresh index from every index artifact in the corpus (plus `add`, which may not be committed yet). */
  private async publishRebuild(
    add: EpisodeVectors[],
    touched: Set<string>,
    remove: { feedId: string; episodeKey: string }[],
    gen: number,
  ): Promise<UpdateResult> {
    const dim = this.opts.space.dim;
    const removed = new Set(remove.map((r) => `${r.feedId}/${r.episodeKey}`));
    const sources: EpisodeVectors[] = [];
    for (const art of await scanIndexArtifacts(this.corpusDir, this.opts.space)) {
      const key = `${art.feedId}/${art.episodeKey}`;
      if (touched.has(key) || removed.has(key) || art.chunks === 0) continue;
      try {
        sources.push({ feedId: art.feedId, episodeKey: art.episodeKey, title: art.title, artifact: art.dir, vectors: await readVectors(art.dir, dim, art.chunks) });
      } catch (e) {
        this.log.warn({ artifact: art.dir, err: errorMessage(e) }, 'index artifact unreadable; episode left out of the vector index');
      }
    }
    sources.push(...add);
    const total = sources.reduce((s, a) => s + a.vectors.length / dim, 0);
    const type = this.typeFor(total);
    const factory = this.factoryFor(type, total);
    const index = faiss().create(dim, factory, 'ip');
    index.setParam('efConstruction', this.opts.efConstruction);
    const all = new Float32Array(total * dim);
    const episodes: IndexedEpisode[] = [];
    let next = 0;
    for (const s of sources) {
      const count = s.vectors.length / dim;
      all.set(s.vectors, next * dim);
      episodes.push(this.entry(s, next, count));
      next += count;
    }
    if (!index.isTrained()) await index.trainAsync(all.subarray(0, Math.min(total, IVF_TRAIN_PER_LIST * ivfLists(total)) * dim), 0);
    if (total) await index.addAsync(all, 0);
    const manifest = await this.publish(index, {
      schema_version: 1,
      generation: gen,
      created_at: new Date().toISOString(),
      space: this.opts.space,
      type,
      factory,
      ntotal: total,
      trained_on: total,
      file: { name: INDEX_FILE, bytes: 0, sha256: '' },
      episodes,
      dead: [],
    });
    this.log.info({ generation: gen, type, vectors: total, episodes: episodes.length }, 'vector index rebuilt');
    return { generation: gen, added: add.length, removed: remove.length, rebuilt: true, ntotal: manifest.ntotal };
  }

  /** Writes the generation under a temp name, renames it into place, then moves CURRENT. */
  private async publish(index: NativeIndex, manifest: IndexManifest): Promise<IndexManifest> {
    const final = path.join(this.dir, genName(manifest.generation));
    const tmp = path.join(this.dir, `.tmp-${genName(manifest.generation)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.mkdir(tmp, { recursive: true });
    try {
      const file = path.join(tmp, INDEX_FILE);
      await index.writeAsync(file);
      const [st, sha] = await Promise.all([fs.stat(file), sha256File(file)]);
      manifest.file = { name: INDEX_FILE, bytes: st.size, sha256: sha };
      await fs.writeFile(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest)}\n`);
      await fs.rm(final, { recursive: true, force: true }); // a leftover of a crashed writer
      await fs.rename(tmp, final);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    await writeFileAtomic(path.join(this.dir, CURRENT_FILE), `${genName(manifest.generation)}\n`);
    this.applySearchParams(index, manifest);
    const dead = new Uint8Array(manifest.ntotal);
    let deadCount = 0;
    for (const [first, count] of manifest.dead) {
      dead.fill(1, first, first + count);
      deadCount += count;
    }
    const episodes = [...manifest.episodes].sort((a, b) => a.first_label - b.first_label);
    this.loaded = { manifest: { ...manifest, episodes }, index, firstLabels: episodes.map((e) => e.first_label), dead, deadCount, pointer: genName(manifest.generation) };
    metrics.vectorIndexSize.set(manifest.ntotal - deadCount);
    await this.prune(manifest.generation);
    return manifest;
  }

  /** Keeps the current and the previous generation (a reader may still be loading it). */
  private async prune(current: number): Promise<void> {
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      const n = /^gen-(\d{8})$/.exec(name)?.[1];
      if (n && Number(n) < current - 1) await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    }
  }

  // ---------- reconciling with the corpus ----------

  /**
   * Makes the index match the index artifacts on disk: adds episodes whose artifacts exist
   * but are missing (the runner reuses artifacts without running the stage), replaces ones
   * re-indexed since, and drops ones whose artifacts are gone. No write when nothing changed.
   */
  async sync(opts: { graceMs?: number } = {}): Promise<UpdateResult | null> {
    const graceMs = opts.graceMs ?? 10 * 60_000;
    const l = await this.current();
    const artifacts = await scanIndexArtifacts(this.corpusDir, this.opts.space);
    const indexed = new Map((l?.manifest.episodes ?? []).map((e) => [`${e.feed_id}/${e.episode_key}`, e]));
    const add: EpisodeVectors[] = [];
    const seen = new Set<string>();
    for (const art of artifacts) {
      const key = `${art.feedId}/${art.episodeKey}`;
      seen.add(key);
      const have = indexed.get(key);
      const rel = path.relative(this.opts.dataDir, art.dir);
      if (have && have.artifact === rel) continue;
      if (!have && art.chunks === 0) continue;
      try {
        add.push({ feedId: art.feedId, episodeKey: art.episodeKey, title: art.title, artifact: art.dir, vectors: await readVectors(art.dir, this.opts.space.dim, art.chunks) });
      } catch (e) {
        this.log.warn({ artifact: art.dir, err: errorMessage(e) }, 'index artifact unreadable; skipped');
      }
    }
    const now = Date.now();
    const remove = [...indexed.values()]
      .filter((e) => !seen.has(`${e.feed_id}/${e.episode_key}`) && now - Date.parse(e.added_at) > graceMs)
      .map((e) => ({ feedId: e.feed_id, episodeKey: e.episode_key }));
    if (!add.length && !remove.length) return null;
    this.log.info({ add: add.length, remove: remove.length }, 'reconciling the vector index with the corpus');
    return this.update({ add, remove });
  }
}

const stores = new Map<string, VectorIndexStore>();

/** One store per (data dir, space) in a process, so readers share the loaded index. */
export function vectorIndexFor(opts: VectorIndexOptions): VectorIndexStore {
  const key = JSON.stringify([path.resolve(opts.dataDir), opts.space, opts.type, opts.annThreshold, opts.hnswM, opts.efSearch, opts.nprobe, opts.onForeignSpace ?? 'rebuild']);
  let s = stores.get(key);
  if (!s) stores.set(key, (s = new VectorIndexStore(opts)));
  return s;
}
