import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { createEmbeddingProvider, resolveEmbeddings } from '../../index/embeddings';
import { SearchService, vectorIndexFromConfig } from '../../index/search.service';
import { ChunkRepository } from '../../repositories/chunks.repository';
import { TenantRepository } from '../../repositories/tenants.repository';
import { ApiContext } from '../context';
import type { SearchHitView } from '../contract';

/**
 * The api's driver of the search core (index/search.service.ts, ARCHITECTURE §7): FAISS nearest
 * chunks + Postgres full text over `chunks.tsv` (ChunkRepository), fused by reciprocal rank
 * fusion, restricted to the caller's subscriptions. Without a usable vector index (embeddings
 * not configured, nothing indexed yet, index unreadable) it answers from full text alone.
 */
@Injectable()
export class ApiSearchService implements OnModuleDestroy {
  private core: SearchService | undefined;

  constructor(
    private readonly ctx: ApiContext,
    private readonly chunks: ChunkRepository,
    private readonly tenants: TenantRepository,
  ) {}

  async search(tenantId: string, query: string, k: number): Promise<{ hits: SearchHitView[]; took_ms: number; vector: boolean; note: string | null }> {
    const t0 = performance.now();
    const feeds = new Set(await this.tenants.subscribedFeedIds(tenantId));
    if (!feeds.size) return { hits: [], took_ms: 0, vector: false, note: null };
    const r = await this.service().find(query, { k, scope: { feeds } });
    const hits = r.hits.map((h) => ({
      chunk_id: h.id,
      episode_key: h.chunk.episode_key,
      episode_title: h.chunk.episode_title,
      feed_id: h.chunk.feed_id,
      feed_title: h.chunk.feed_title,
      start_ms: h.start_ms,
      end_ms: h.end_ms,
      snippet: h.excerpt.text,
      highlights: h.excerpt.highlights,
      matched_terms: h.matched_terms,
      why: h.why,
      relevance: h.relevance,
    }));
    return { hits, took_ms: Math.round((performance.now() - t0) * 10) / 10, vector: r.vector, note: r.note ?? this.embeddingsNote };
  }

  /** Probe for /healthz: the index loads (or there is none yet). */
  async probeIndex(): Promise<void> {
    await this.service().probeIndex();
  }

  /** Why search is not semantic here (EMBEDDINGS_PROVIDER=auto without its model, or embeddings off), else null. */
  private embeddingsNote: string | null = null;

  /**
   * The search core, built on first use; its vector side only where embeddings are configured.
   * It never rebuilds an index of another embedding space (the workers do as they re-index): it
   * answers from full text with a note instead.
   */
  private service(): SearchService {
    if (this.core) return this.core;
    const { config, log } = this.ctx;
    const resolved = resolveEmbeddings(config);
    if (resolved.unavailable) log.info({ reason: resolved.unavailable }, 'vector search off');
    this.embeddingsNote = resolved.unavailable ?? resolved.note;
    const provider = resolved.unavailable ? null : createEmbeddingProvider(config, log);
    return (this.core = new SearchService({
      dataDir: config.dataDir,
      vectors: provider && { provider, store: vectorIndexFromConfig(config, provider, log, { onForeignSpace: 'ignore' }) },
      keywords: this.chunks,
      chunks: this.chunks,
      timeline: this.chunks,
      requireVectors: false,
      log,
    }));
  }

  onModuleDestroy(): void {
    this.core = undefined;
  }
}
