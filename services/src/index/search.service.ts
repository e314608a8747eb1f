import fs from 'node:fs/promises';
import path from 'node:path';
import { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { PodbrainError, errorMessage } from '../core/errors';
import { type Logger, silentLogger } from '../core/logger';
import { readChunks, readVectors } from './artifacts';
import { Bm25Index } from './bm25';
import type { Chunk } from './chunking';
import { createEmbeddingProvider, embeddingsUnavailableReason } from './embeddings';
import { type EmbeddingProvider, spaceOf } from './embeddings/types';
import { BASELINE_MARGIN, GIBBERISH_PROBES, MIN_COSINE, type Snippet, type TimedSegment, bestSentence, centredSnippet, judge, markedSnippet, matchesIn, mergeOverlapping, queryTerms, queryWords, termCoverage, timeAtOffset } from './hits';
import { reciprocalRankFusion } from './rrf';
import { type IndexedEpisode, type Loaded, type UpdateResult, type VectorHit, type VectorIndexStore, vectorIndexFor } from './vector-store';

/** A hit as `podbrain search` prints it (`--json`). */
export interface SearchHit {
  episode_key: string;
  feed_id: string;
  title: string | null;
  chunk_no: number;
  /** Where the best-matching sentence starts. */
  start_ms: number;
  /** The end of the hit's span (overlapping chunks of the episode merged). */
  end_ms: number;
  /** Text centred on that sentence, the query's words marked «…». */
  snippet: string;
  /** Query terms (stemmed) found in the hit. */
  matched_terms: string[];
  /** "matched: fruit, fly" or "similar meaning". */
  why: string;
  /** 0–1: the share of query terms matched, or the cosine where only the meaning matched. */
  relevance: number;
  /** Reciprocal rank fusion score (ordering only; not comparable across queries). */
  score: number;
  /** 1-based ranks in the vector and keyword lists, null where the chunk was not in that list. */
  vector_rank: number | null;
  keyword_rank: number | null;
}

export interface IndexStats {
  generation: number;
  type: string;
  /** Live vectors (deleted ones not counted). */
  vectors: number;
  episodes: number;
}

/** `podbrain search`'s answer. */
export interface SearchResponse {
  query: string;
  k: number;
  took_ms: number;
  hits: SearchHit[];
  index: IndexStats;
}

/** Where a chunk is: chunk `chunk_no` of an episode's index artifact (chunks.jsonl line, `chunks.idx`). */
export interface ChunkRef {
  feed_id: string;
  episode_key: string;
  chunk_no: number;
}

/** A chunk with what a hit shows of it. */
export interface FoundChunk extends ChunkRef {
  text: string;
  start_ms: number;
  end_ms: number;
  episode_title: string | null;
  /** null where the source does not know feed titles (the CLI's corpus). */
  feed_title: string | null;
}

/** Which chunks a search may return: those of these feeds (a tenant's subscriptions), and of these episodes where given (a saved search matched against a new episode). */
export interface SearchScope {
  feeds: ReadonlySet<string>;
  /** Episode keys; absent: every episode of the feeds. */
  episodes?: ReadonlySet<string>;
}

/** Whether a chunk of this feed and episode is within `scope` (null: everything is). */
export function inScope(scope: SearchScope | null, feedId: string, episodeKey: string): boolean {
  return !scope || (scope.feeds.has(feedId) && (!scope.episodes || scope.episodes.has(episodeKey)));
}

/**
 * The keyword side of hybrid search: BM25 over the chunk files (`podbrain search`,
 * Bm25KeywordSearcher) or Postgres full text over `chunks.tsv` (the api, ChunkRepository).
 */
export interface KeywordSearcher {
  /** The best `k` keyword matches, best first, within `scope` (null: all chunks). */
  search(query: string, k: number, scope: SearchScope | null): Promise<FoundChunk[]>;
  /**
   * true: every hit already meets the keyword floor by the searcher's own rules (Postgres
   * websearch: all terms, english stemming), so it is not judged by term coverage again.
   * Otherwise (BM25: any term) a hit must hold enough of the query's terms (hits.ts).
   */
  readonly selective?: boolean;
  /** idf of these (stemmed) terms in the corpus last searched, where the searcher knows it (BM25). */
  termWeights?(terms: readonly string[]): Map<string, number> | null;
}

/** Where the vector side's hits get their text: the chunk files (ChunkFileLookup) or Postgres (ChunkRepository). */
export interface ChunkLookup {
  /** The chunks of these vector hits that exist, in any order; the others are left out. */
  find(hits: readonly VectorHit[]): Promise<FoundChunk[]>;
}

/** One hit of the search core, before a driver shapes it (SearchHit for the CLI, the api's view). */
export interface FusedHit {
  /** `<feed_id>/<episode_key>#<chunk_no>` (chunkId). */
  id: string;
  chunk: FoundChunk;
  /** Where the best-matching sentence of the chunk starts. */
  start_ms: number;
  /** The end of the hit's span: overlapping hits of one episode are merged into the best-ranked one. */
  end_ms: number;
  /** Text centred on the best-matching sentence with the query's words as highlight ranges. */
  excerpt: Snippet;
  /** `excerpt` with the highlights marked «…» (terminals). */
  snippet: string;
  /** Query terms (stemmed) found in the hit. */
  matched_terms: string[];
  /** Why this is a hit: "matched: fruit, fly" or "similar meaning". */
  why: string;
  /** 0–1: the share of query terms matched, or the cosine where only the meaning matched. */
  relevance: number;
  /** Reciprocal rank fusion score, 6 decimals. */
  score: number;
  vector_rank: number | null;
  keyword_rank: number | null;
}

export interface FusedResponse {
  /** The query as searched (trimmed, inner whitespace collapsed). */
  query: string;
  k: number;
  took_ms: number;
  hits: FusedHit[];
  /** Whether the vector side answered (false: keywords alone). */
  vector: boolean;
  /** The vector index searched; null where there was none. */
  index: IndexStats | null;
  /** Why the vector side did not answer, where there is something to say (another embedding model's index, a failure). */
  note: string | null;
}

const MAX_QUERY_CHARS = 1000;
export const MAX_K = 100;
/** Vector neighbours below this cosine are not even candidates (e.g. a hash query of unknown words). */
const MIN_SIMILARITY = 0.05;
const RRF_K = 60;

const chunkId = (feedId: string, episodeKey: string, chunkNo: number) => `${feedId}/${episodeKey}#${chunkNo}`;
const idOf = (c: ChunkRef) => chunkId(c.feed_id, c.episode_key, c.chunk_no);
const idOfHit = (h: VectorHit) => chunkId(h.episode.feed_id, h.episode.episode_key, h.chunkNo);

/** Reads chunks.jsonl of indexed episodes, keeping the most recently used ones in memory. */
class ChunkSource {
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

  /** Chunk `chunkNo` of an indexed episode, or null where its artifact vanished or is unreadable (logged). */
  async chunk(e: IndexedEpisode, chunkNo: number, log?: Logger): Promise<FoundChunk | null> {
    let c: Chunk | undefined;
    try {
      c = (await this.chunks(e))[chunkNo];
    } catch (err) {
      log?.warn({ artifact: e.artifact, err: errorMessage(err) }, 'indexed chunks unreadable; hit skipped');
    }
    return c ? { feed_id: e.feed_id, episode_key: e.episode_key, chunk_no: chunkNo, text: c.text, start_ms: c.start_ms, end_ms: c.end_ms, episode_title: e.title, feed_title: null } : null;
  }
}

/** The vector side's chunks read from the index artifacts (`podbrain search`). */
class ChunkFileLookup implements ChunkLookup {
  constructor(
    private readonly source: ChunkSource,
    private readonly log?: Logger,
  ) {}

  async find(hits: readonly VectorHit[]): Promise<FoundChunk[]> {
    const found = await Promise.all(hits.map((h) => this.source.chunk(h.episode, h.chunkNo, this.log)));
    return found.filter((c) => c !== null);
  }
}

/**
 * Segments of the chunks' transcripts read from the episodes' transcribe artifacts (`podbrain
 * search`): the newest transcript whose text holds the chunk (hits.ts timeAtOffset checks the fit).
 */
class TranscriptFileSegments implements SegmentSource {
  private readonly cache = new Map<string, Promise<TimedSegment[][]>>();

  constructor(
    private readonly store: ArtifactStore,
    private readonly log?: Logger,
  ) {}

  async segments(chunks: readonly FoundChunk[]): Promise<Map<string, TimedSegment[]>> {
    const out = new Map<string, TimedSegment[]>();
    for (const c of chunks) {
      const transcripts = await this.transcripts(c.feed_id, c.episode_key);
      const head = c.text.slice(0, 80);
      for (const segs of transcripts) {
        const around = segs.filter((s) => s.end_ms >= c.start_ms && s.start_ms <= c.end_ms);
        if (around.some((s) => head.startsWith(s.text.trim().slice(0, 20)) || s.text.includes(head.slice(0, 20)))) {
          out.set(idOf(c), around);
          break;
        }
      }
    }
    return out;
  }

  private transcripts(feedId: string, episodeKey: string): Promise<TimedSegment[][]> {
    const key = `${feedId}/${episodeKey}`;
    let p = this.cache.get(key);
    if (!p) {
      p = (async () => {
        const refs = await this.store.list(feedId, episodeKey, 'transcribe');
        const out: TimedSegment[][] = [];
        for (const r of refs) {
          try {
            const t = JSON.parse(await fs.readFile(path.join(r.dir, 'transcript.json'), 'utf8')) as { segments?: TimedSegment[] };
            if (Array.isArray(t.segments)) out.push(t.segments.filter((s) => typeof s.text === 'string' && s.text.trim() !== ''));
          } catch (err) {
            this.log?.debug({ dir: r.dir, err: errorMessage(err) }, 'transcript unreadable; hit times shared out over the chunk');
          }
        }
        return out;
      })();
      this.cache.set(key, p);
      while (this.cache.size > 200) this.cache.delete(this.cache.keys().next().value as string);
    }
    return p;
  }
}

interface Bm25Build {
  generation: number;
  bm25: Bm25Index;
  /** chunkId → where the chunk is. */
  refs: Map<string, { episode: IndexedEpisode; chunkNo: number }>;
}

/** BM25 over every chunk of the indexed episodes, rebuilt when the index generation changes. */
class Bm25KeywordSearcher implements KeywordSearcher {
  private built: Bm25Build | null = null;
  private building: Promise<Bm25Build> | null = null;

  constructor(
    private readonly source: ChunkSource,
    private readonly vectors: VectorIndexStore,
    private readonly log?: Logger,
  ) {}

  async search(query: string, k: number, scope: SearchScope | null): Promise<FoundChunk[]> {
    const loaded = await this.vectors.current();
    if (!loaded) return [];
    const { bm25, refs } = await this.index(loaded.manifest.episodes, loaded.manifest.generation);
    const found = await Promise.all(
      bm25.search(query, k).map((h) => {
        const ref = refs.get(h.id);
        return ref && inScope(scope, ref.episode.feed_id, ref.episode.episode_key) ? this.source.chunk(ref.episode, ref.chunkNo, this.log) : null;
      }),
    );
    return found.filter((c) => c !== null);
  }

  termWeights(terms: readonly string[]): Map<string, number> | null {
    const bm25 = this.built?.bm25;
    return bm25 ? new Map(terms.map((t) => [t, bm25.idf(t)])) : null;
  }

  private async index(episodes: readonly IndexedEpisode[], generation: number): Promise<Bm25Build> {
    if (this.built?.generation === generation) return this.built;
    this.building ??= (async () => {
      const bm25 = new Bm25Index();
      const refs = new Map<string, { episode: IndexedEpisode; chunkNo: number }>();
      for (const e of episodes) {
        // An artifact that vanished since it was indexed: its chunks drop out until the next sync.
        const chunks = await this.source.chunks(e).catch(() => []);
        for (const c of chunks) {
          const id = chunkId(e.feed_id, e.episode_key, c.chunk_no);
          bm25.add(id, c.text);
          refs.set(id, { episode: e, chunkNo: c.chunk_no });
        }
      }
      this.built = { generation, bm25, refs };
      return this.built;
    })().finally(() => {
      this.building = null;
    });
    return this.building;
  }
}

/** Transcript segments around chunks, for sentence times. */
export interface SegmentSource {
  segments(chunks: readonly FoundChunk[]): Promise<Map<string, TimedSegment[]>>;
}

export interface SearchServiceDeps {
  dataDir: string;
  /** The vector side; null where embeddings are not configured. */
  vectors: { provider: EmbeddingProvider; store: VectorIndexStore } | null;
  keywords: KeywordSearcher;
  chunks: ChunkLookup;
  /** The transcript segments of hit chunks (keyed by chunk id), for the time of the sentence that matched; absent: times shared out over the chunk. */
  timeline?: SegmentSource;
  /**
   * true (`podbrain search`): the vector index is the corpus: nothing indexed is an error, and so
   * is a failing vector side. false (the api): without a usable vector index (embeddings off,
   * nothing indexed yet, index unreadable) the keyword side answers alone.
   */
  requireVectors: boolean;
  log?: Logger;
}

/**
 * Hybrid search (ARCHITECTURE §7), the one search core of the CLI and the api: FAISS nearest
 * chunks (searched on libuv's pool, never on the event loop) + keyword hits (KeywordSearcher),
 * merged by reciprocal rank fusion. Only chunks that can be shown take part in the fusion.
 */
export class SearchService {
  constructor(private readonly deps: SearchServiceDeps) {}

  /** Adds episodes whose index artifacts exist but are missing from the index (see VectorIndexStore.sync). */
  async sync(): Promise<UpdateResult | null> {
    return (await this.deps.vectors?.store.sync()) ?? null;
  }

  /** Probe for /healthz: the vector index loads (or there is none yet). */
  async probeIndex(): Promise<void> {
    await this.deps.vectors?.store.current();
  }

  /** `podbrain search`: the fused hits as the CLI prints them. */
  async search(rawQuery: string, opts: { k?: number; signal?: AbortSignal } = {}): Promise<SearchResponse> {
    const r = await this.find(rawQuery, opts);
    return {
      query: r.query,
      k: r.k,
      took_ms: r.took_ms,
      hits: r.hits.map((h) => ({
        episode_key: h.chunk.episode_key,
        feed_id: h.chunk.feed_id,
        title: h.chunk.episode_title,
        chunk_no: h.chunk.chunk_no,
        start_ms: h.start_ms,
        end_ms: h.end_ms,
        snippet: h.snippet,
        matched_terms: h.matched_terms,
        why: h.why,
        relevance: h.relevance,
        score: h.score,
        vector_rank: h.vector_rank,
        keyword_rank: h.keyword_rank,
      })),
      // find() answers only with an index when vectors are required (createSearchService).
      index: r.index ?? { generation: 0, type: 'none', vectors: 0, episodes: 0 },
    };
  }

  /** The search: the best `k` chunks for the query, within `scope` (null: every chunk). */
  async find(rawQuery: string, opts: { k?: number; signal?: AbortSignal; scope?: SearchScope | null } = {}): Promise<FusedResponse> {
    const t0 = performance.now();
    const query = rawQuery.trim().replace(/\s+/g, ' ');
    if (!query) throw new PodbrainError('empty_query', 'the search query is empty: give some words to search for');
    if (query.length > MAX_QUERY_CHARS) throw new PodbrainError('query_too_long', `the search query is ${query.length} characters; at most ${MAX_QUERY_CHARS}`);
    const k = opts.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new PodbrainError('bad_k', `k must be a whole number from 1 to ${MAX_K}, got ${k}`);
    const scope = opts.scope ?? null;
    const candidates = Math.max(3 * k, 30);

    let vectorSide: Promise<{ hits: VectorHit[]; loaded: Loaded } | { note: string } | null>;
    if (this.deps.requireVectors) {
      const loaded = this.deps.vectors && (await this.deps.vectors.store.current());
      if (!loaded || loaded.manifest.episodes.length === 0) {
        throw new PodbrainError(
          'empty_corpus',
          `nothing is indexed in ${this.deps.dataDir} yet: run \`podbrain run --feed <url|file> --out ${this.deps.dataDir}\` first`,
        );
      }
      vectorSide = this.nearest(loaded, query, candidates, scope, opts.signal).then((hits) => ({ hits, loaded }));
    } else {
      vectorSide = this.nearestIfAvailable(query, candidates, scope, opts.signal);
    }
    const [vector, keywordHits] = await Promise.all([vectorSide, this.deps.keywords.search(query, candidates, scope)]);
    const vectorHits = vector && 'hits' in vector ? vector.hits : [];

    const found = new Map(keywordHits.map((c) => [idOf(c), c]));
    const missing = vectorHits.filter((h) => !found.has(idOfHit(h)));
    if (missing.length) for (const c of await this.deps.chunks.find(missing)) found.set(idOf(c), c);
    const vectorList = vectorHits.map((h) => ({ id: idOfHit(h) })).filter((v) => found.has(v.id));
    const fused = reciprocalRankFusion([vectorList, keywordHits.map((c) => ({ id: idOf(c) }))], RRF_K);

    const answered = vector && 'hits' in vector ? vector : null;
    const similarity = new Map(vectorHits.map((h) => [idOfHit(h), h.similarity]));
    const floor = answered ? await this.vectorFloor(answered.loaded) : Number.POSITIVE_INFINITY;
    const q = queryTerms(query);
    const byKeywords = this.deps.keywords.selective ? new Set(keywordHits.map(idOf)) : null;
    const weights = this.deps.keywords.termWeights?.(q.terms) ?? null;
    // The relevance floor (hits.ts judge): fused ranks always exist, so each chunk must earn its place.
    const kept = [];
    for (const f of fused) {
      const chunk = found.get(f.id);
      if (!chunk) continue;
      const m = matchesIn(chunk.text, q);
      const keywordMatched = byKeywords?.has(f.id) ?? false;
      // A searcher with its own stemming may match words ours does not see: then name the query's words.
      const [terms, matched] = keywordMatched && !m.matched.length ? [queryWords(query), queryWords(query)] : [m.matched, m.words];
      const verdict = judge({ matched: m.matched, coverage: termCoverage(m.matched, q, weights), similarity: similarity.get(f.id) ?? null, keywordMatched }, q, floor);
      if (verdict.keep) kept.push({ f, chunk, verdict, terms, matched, episodeKey: `${chunk.feed_id}/${chunk.episode_key}`, spanStart: chunk.start_ms, spanEnd: chunk.end_ms });
    }
    const merged = mergeOverlapping(kept).slice(0, k);
    const timeline = merged.length && this.deps.timeline ? await this.deps.timeline.segments(merged.map((m) => m.chunk)) : null;

    const hits: FusedHit[] = merged.map(({ f, chunk, verdict, matched, spanEnd }) => {
      const sentence = bestSentence(chunk.text, q);
      const excerpt = centredSnippet(chunk.text, sentence, q);
      const byWords = verdict.why !== 'similar meaning';
      return {
        id: f.id,
        chunk,
        start_ms: timeAtOffset(chunk, sentence.start, timeline?.get(f.id) ?? null),
        end_ms: spanEnd,
        excerpt,
        snippet: markedSnippet(excerpt),
        matched_terms: matched,
        why: byWords ? `matched: ${matched.join(', ')}` : verdict.why,
        relevance: verdict.relevance,
        score: Number(f.score.toFixed(6)),
        vector_rank: f.ranks[0],
        keyword_rank: f.ranks[1],
      };
    });
    return {
      query,
      k,
      took_ms: Math.round((performance.now() - t0) * 10) / 10,
      hits,
      vector: answered !== null,
      index: answered && statsOf(answered.loaded),
      note: vector && 'note' in vector ? vector.note : null,
    };
  }

  private baseline: { index: Loaded; floor: Promise<number> } | null = null;

  /**
   * The least cosine that makes a vector-only hit: the provider's minimum, and a margin above the
   * best cosine gibberish gets against this index (cached per loaded index).
   */
  private vectorFloor(loaded: Loaded): Promise<number> {
    if (!this.deps.vectors) return Promise.resolve(Number.POSITIVE_INFINITY);
    const { provider, store } = this.deps.vectors;
    const min = MIN_COSINE[provider.name] ?? 0.3;
    if (!Number.isFinite(min)) return Promise.resolve(min);
    if (this.baseline?.index !== loaded) {
      const floor = (async () => {
        const probes = await provider.embed(GIBBERISH_PROBES);
        let best = -1;
        for (const v of probes) for (const h of await store.search(v, 1)) best = Math.max(best, h.similarity);
        return Math.max(min, best + BASELINE_MARGIN);
      })();
      floor.catch(() => {
        if (this.baseline?.floor === floor) this.baseline = null;
      });
      this.baseline = { index: loaded, floor };
    }
    return this.baseline.floor;
  }

  /** Nearest chunks to the query, similar enough and within scope (over-fetched: out-of-scope ones are dropped after the search). */
  private async nearest(loaded: Loaded, query: string, candidates: number, scope: SearchScope | null, signal?: AbortSignal): Promise<VectorHit[]> {
    if (!this.deps.vectors) return [];
    const { provider, store } = this.deps.vectors;
    const [queryVector] = await provider.embed([query], { signal });
    if (scope?.episodes) return (await this.nearestWithin(loaded, queryVector, scope)).filter((h) => h.similarity >= MIN_SIMILARITY).slice(0, candidates);
    const hits = await store.search(queryVector, scope ? Math.min(candidates * 4, loaded.manifest.ntotal) : candidates);
    return hits.filter((h) => h.similarity >= MIN_SIMILARITY && inScope(scope, h.episode.feed_id, h.episode.episode_key)).slice(0, candidates);
  }

  private readonly episodeVectors = new Map<string, Promise<Float32Array>>();

  /**
   * An episode scope (a few episodes): every chunk of those episodes scored exactly against their
   * vectors (the index artifact's vectors.f32, the rows the index holds), best first. The index's
   * nearest neighbours would miss them in a large corpus, and a few hundred dot products are cheaper
   * than a search of the whole index.
   */
  private async nearestWithin(loaded: Loaded, query: Float32Array, scope: SearchScope): Promise<VectorHit[]> {
    const dim = query.length;
    const hits: VectorHit[] = [];
    for (const e of loaded.manifest.episodes) {
      if (!inScope(scope, e.feed_id, e.episode_key)) continue;
      let rows = this.episodeVectors.get(e.artifact);
      if (!rows) {
        rows = readVectors(path.join(this.deps.dataDir, e.artifact), dim, e.count);
        this.episodeVectors.set(e.artifact, rows);
        rows.catch(() => this.episodeVectors.delete(e.artifact));
        while (this.episodeVectors.size > 32) this.episodeVectors.delete(this.episodeVectors.keys().next().value as string);
      }
      let vectors: Float32Array;
      try {
        vectors = await rows;
      } catch (err) {
        this.deps.log?.warn({ artifact: e.artifact, err: errorMessage(err) }, 'indexed vectors unreadable; episode searched by keywords only');
        continue;
      }
      for (let i = 0; i < e.count; i++) {
        let dot = 0;
        for (let d = 0, o = i * dim; d < dim; d++) dot += vectors[o + d] * query[d];
        hits.push({ episode: e, chunkNo: i, similarity: dot });
      }
    }
    return hits.sort((a, b) => b.similarity - a.similarity);
  }

  /**
   * The vector side where it is optional: null while it is off or empty, a note (keywords answer
   * alone) when the index on disk holds another embedding space or the search fails (logged).
   */
  private async nearestIfAvailable(
    query: string,
    candidates: number,
    scope: SearchScope | null,
    signal?: AbortSignal,
  ): Promise<{ hits: VectorHit[]; loaded: Loaded } | { note: string } | null> {
    if (!this.deps.vectors) return null;
    const { store, provider } = this.deps.vectors;
    try {
      const loaded = await store.current();
      const foreign = store.foreignIndex;
      if (!loaded && foreign) {
        return {
          note: `keyword search only: the vector index was built with ${foreign.provider} ${foreign.model} (${foreign.dim} dimensions), this server embeds with ${provider.name} ${provider.model} (${provider.dim}); it is rebuilt as episodes are reprocessed (podbrain reprocess stale)`,
        };
      }
      if (!loaded || loaded.manifest.ntotal === 0) return null;
      return { hits: await this.nearest(loaded, query, candidates, scope, signal), loaded };
    } catch (e) {
      this.deps.log?.warn({ err: errorMessage(e) }, 'vector search unavailable; answering from full-text only');
      return { note: `keyword search only: the vector search failed (${errorMessage(e)})` };
    }
  }
}

function statsOf(l: Loaded): IndexStats {
  const m = l.manifest;
  return { generation: m.generation, type: m.type, vectors: m.ntotal - l.deadCount, episodes: m.episodes.length };
}

/** The vector index of this config's DATA_DIR and embedding space. */
export function vectorIndexFromConfig(
  config: Config,
  provider: Pick<EmbeddingProvider, 'name' | 'model' | 'dim'>,
  log?: Logger,
  opts: { onForeignSpace?: 'rebuild' | 'ignore' } = {},
): VectorIndexStore {
  const i = config.index;
  return vectorIndexFor({
    onForeignSpace: opts.onForeignSpace,
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

/** `podbrain search` over `config.dataDir`: BM25 over the chunk files as the keyword side. */
export function createSearchService(config: Config, log: Logger = silentLogger): SearchService {
  const reason = embeddingsUnavailableReason(config);
  if (reason) throw new PodbrainError('embeddings_not_configured', reason);
  const provider = createEmbeddingProvider(config, log);
  const chunks = new ChunkSource(config.dataDir);
  const store = vectorIndexFromConfig(config, provider, log);
  return new SearchService({
    dataDir: config.dataDir,
    vectors: { provider, store },
    keywords: new Bm25KeywordSearcher(chunks, store, log),
    chunks: new ChunkFileLookup(chunks, log),
    timeline: new TranscriptFileSegments(new ArtifactStore(config.dataDir), log),
    requireVectors: true,
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
