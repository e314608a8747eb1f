import path from 'node:path';
import type { Config } from '../config/config';
import { PodbrainError, errorMessage } from '../core/errors';
import { type Logger, silentLogger } from '../core/logger';
import { readChunks } from './artifacts';
import { Bm25Index } from './bm25';
import type { Chunk } from './chunking';
import { createEmbeddingProvider, embeddingsUnavailableReason } from './embeddings';
import { type EmbeddingProvider, spaceOf } from './embeddings/types';
import { reciprocalRankFusion } from './rrf';
import { makeSnippet } from './snippet';
import { type IndexedEpisode, type VectorIndexStore, vectorIndexFor } from './vector-store';

export interface SearchHit {
  episode_key: string;
  feed_id: string;
  title: string | null;
  chunk_no: number;
  start_ms: number;
  end_ms: number;
  /** The chunk around the query's words, matches marked «…». */
  snippet: string;
  /** Reciprocal rank fusion score. */
  score: number;
  /** 1-based ranks in the vector and keyword lists, null where the chunk was not in that list. */
  vector_rank: number | null;
  keyword_rank: number | null;
}

export interface SearchResponse {
  query: string;
  k: number;
  took_ms: number;
  hits: SearchHit[];
  index: { generation: number; type: string; vectors: number; episodes: number };
}

/** The keyword side of hybrid search: BM25 in atomic mode, Postgres full-text in stage mode. */
export interface KeywordSearcher {
  search(query: string, k: number, episodes: readonly IndexedEpisode[], generation: number): Promise<{ id: string }[]>;
}

export const MAX_QUERY_CHARS = 1000;
export const MAX_K = 100;
/** Vector neighbours below this cosine share no meaning with the query (e.g. a hash query of unknown words). */
const MIN_SIMILARITY = 0.05;
const RRF_K = 60;

export const chunkId = (feedId: string, episodeKey: string, chunkNo: number) => `${feedId}/${episodeKey}#${chunkNo}`;

/** Reads chunks.jsonl of indexed episodes, keeping the most recently used ones in memory. */
export class ChunkSource {
  private readonly cache = new Map<string, Promise<Chunk[]>>();

  constructor(
    private readonly dataDir: string,
    private readonly maxEpisodes = 2000,
  ) {}

  chunks(e: IndexedEpisode): Promise<Chunk[]> {
    let p = this.cache.get(e.artifact);
    if (p) {
      this.cache.delete(e.artifact);
    } else {
      p = readChunks(path.join(this.dataDir, e.artifact));
      p.catch(() => this.cache.delete(e.artifact));
    }
    this.cache.set(e.artifact, p);
    while (this.cache.size > this.maxEpisodes) this.cache.delete(this.cache.keys().next().value as string);
    return p;
  }
}

/** BM25 over every chunk of the indexed episodes, rebuilt when the index generation changes. */
export class Bm25KeywordSearcher implements KeywordSearcher {
  private built: { generation: number; bm25: Bm25Index } | null = null;
  private building: Promise<Bm25Index> | null = null;

  constructor(private readonly source: ChunkSource) {}

  async search(query: string, k: number, episodes: readonly IndexedEpisode[], generation: number): Promise<{ id: string }[]> {
    return (await this.index(episodes, generation)).search(query, k);
  }

  private async index(episodes: readonly IndexedEpisode[], generation: number): Promise<Bm25Index> {
    if (this.built?.generation === generation) return this.built.bm25;
    this.building ??= (async () => {
      const bm25 = new Bm25Index();
      for (const e of episodes) {
        // An artifact that vanished since it was indexed: its chunks drop out until the next sync.
        const chunks = await this.source.chunks(e).catch(() => []);
        for (const c of chunks) bm25.add(chunkId(e.feed_id, e.episode_key, c.chunk_no), c.text);
      }
      this.built = { generation, bm25 };
      return bm25;
    })().finally(() => {
      this.building = null;
    });
    return this.building;
  }
}

/**
 * Hybrid search (ARCHITECTURE §7): FAISS nearest chunks + keyword hits, merged by reciprocal
 * rank fusion. Used by `podbrain search` and, later, the API's `search?q=`.
 */
export class SearchService {
  constructor(
    private readonly deps: {
      dataDir: string;
      provider: EmbeddingProvider;
      vectors: VectorIndexStore;
      keywords: KeywordSearcher;
      chunks: ChunkSource;
      log?: Logger;
    },
  ) {}

  /** Adds episodes whose index artifacts exist but are missing from the index (see VectorIndexStore.sync). */
  sync() {
    return this.deps.vectors.sync();
  }

  async search(rawQuery: string, opts: { k?: number; signal?: AbortSignal } = {}): Promise<SearchResponse> {
    const t0 = performance.now();
    const query = rawQuery.trim().replace(/\s+/g, ' ');
    if (!query) throw new PodbrainError('empty_query', 'the search query is empty: give some words to search for');
    if (query.length > MAX_QUERY_CHARS) throw new PodbrainError('query_too_long', `the search query is ${query.length} characters; at most ${MAX_QUERY_CHARS}`);
    const k = opts.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new PodbrainError('bad_k', `k must be a whole number from 1 to ${MAX_K}, got ${k}`);

    const { vectors, keywords, provider, chunks } = this.deps;
    const loaded = await vectors.current();
    if (!loaded || loaded.manifest.episodes.length === 0) {
      throw new PodbrainError(
        'empty_corpus',
        `nothing is indexed in ${this.deps.dataDir} yet: run \`podbrain run --feed <url|file> --out ${this.deps.dataDir}\` first`,
      );
    }
    const m = loaded.manifest;
    const candidates = Math.max(3 * k, 30);
    const [queryVector] = await provider.embed([query], { signal: opts.signal });
    const [vectorHits, keywordHits] = await Promise.all([
      vectors.search(queryVector, candidates),
      keywords.search(query, candidates, m.episodes, m.generation),
    ]);
    const byId = new Map<string, { episode: IndexedEpisode; chunkNo: number }>();
    const vectorList = vectorHits
      .filter((h) => h.similarity >= MIN_SIMILARITY)
      .map((h) => {
        const id = chunkId(h.episode.feed_id, h.episode.episode_key, h.chunkNo);
        byId.set(id, { episode: h.episode, chunkNo: h.chunkNo });
        return { id };
      });
    const episodeByKey = new Map(m.episodes.map((e) => [`${e.feed_id}/${e.episode_key}`, e]));
    for (const h of keywordHits) {
      if (byId.has(h.id)) continue;
      const hash = h.id.lastIndexOf('#');
      const episode = episodeByKey.get(h.id.slice(0, hash));
      if (episode) byId.set(h.id, { episode, chunkNo: Number(h.id.slice(hash + 1)) });
    }

    const fused = reciprocalRankFusion([vectorList, keywordHits], RRF_K).slice(0, k);
    const hits: SearchHit[] = [];
    for (const f of fused) {
      const ref = byId.get(f.id);
      if (!ref) continue;
      let chunk: Chunk | undefined;
      try {
        chunk = (await chunks.chunks(ref.episode))[ref.chunkNo];
      } catch (e) {
        this.deps.log?.warn({ artifact: ref.episode.artifact, err: errorMessage(e) }, 'indexed chunks unreadable; hit skipped');
      }
      if (!chunk) continue;
      hits.push({
        episode_key: ref.episode.episode_key,
        feed_id: ref.episode.feed_id,
        title: ref.episode.title,
        chunk_no: ref.chunkNo,
        start_ms: chunk.start_ms,
        end_ms: chunk.end_ms,
        snippet: makeSnippet(chunk.text, query),
        score: Number(f.score.toFixed(6)),
        vector_rank: f.ranks[0],
        keyword_rank: f.ranks[1],
      });
    }
    const live = m.ntotal - loaded.deadCount;
    return {
      query,
      k,
      took_ms: Math.round((performance.now() - t0) * 10) / 10,
      hits,
      index: { generation: m.generation, type: m.type, vectors: live, episodes: m.episodes.length },
    };
  }
}

/** The vector index of this config's DATA_DIR and embedding space. */
export function vectorIndexFromConfig(config: Config, provider: Pick<EmbeddingProvider, 'name' | 'model' | 'dim'>, log?: Logger): VectorIndexStore {
  const i = config.index;
  return vectorIndexFor({
    dataDir: config.dataDir,
    space: spaceOf(provider),
    type: i.type,
    annThreshold: i.annThreshold,
    hnswM: i.hnswM,
    efConstruction: i.efConstruction,
    efSearch: i.efSearch,
    nprobe: i.nprobe,
    log,
  });
}

/** Atomic-mode search over `config.dataDir` (BM25 keyword side). */
export function createSearchService(config: Config, log: Logger = silentLogger): SearchService {
  const reason = embeddingsUnavailableReason(config);
  if (reason) throw new PodbrainError('embeddings_not_configured', reason);
  const provider = createEmbeddingProvider(config, log);
  const chunks = new ChunkSource(config.dataDir);
  return new SearchService({
    dataDir: config.dataDir,
    provider,
    vectors: vectorIndexFromConfig(config, provider, log),
    keywords: new Bm25KeywordSearcher(chunks),
    chunks,
    log,
  });
}

/**
 * Brings `$DATA_DIR/index` in line with the index artifacts on disk. `podbrain run` reuses
 * committed artifacts without running the index stage, so callers that finish a run (or
 * start serving search) call this once; it writes nothing when the index is already complete.
 */
export async function syncVectorIndex(config: Config, log: Logger = silentLogger): Promise<{ added: number; removed: number } | null> {
  if (embeddingsUnavailableReason(config)) return null;
  const r = await vectorIndexFromConfig(config, createEmbeddingProvider(config, log), log).sync();
  return r && { added: r.added, removed: r.removed };
}
