import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { errorMessage } from '../../core/errors';
import { createEmbeddingProvider, embeddingsUnavailableReason, type EmbeddingProvider } from '../../index/embeddings';
import { reciprocalRankFusion } from '../../index/rrf';
import { vectorIndexFromConfig } from '../../index/search.service';
import { makeSnippet } from '../../index/snippet';
import type { VectorIndexStore } from '../../index/vector-store';
import { ApiContext } from '../context';

/** web/src/api/types.ts `SearchHit`. */
export interface ApiSearchHit {
  chunk_id: string;
  episode_key: string;
  episode_title: string | null;
  feed_id: string;
  feed_title: string | null;
  start_ms: number;
  end_ms: number;
  snippet: string;
  score: number;
}

interface ChunkRow {
  episode_key: string;
  idx: number;
  text: string;
  start_ms: number;
  end_ms: number;
  episode_title: string | null;
  feed_id: string;
  feed_title: string | null;
}

const RRF_K = 60;
/** Vector neighbours below this cosine share no meaning with the query (same cut as the CLI search). */
const MIN_SIMILARITY = 0.05;
const chunkIdOf = (r: { feed_id: string; episode_key: string; idx: number }) => `${r.feed_id}/${r.episode_key}#${r.idx}`;

/**
 * Stage-mode search (ARCHITECTURE §7): FAISS nearest chunks + Postgres full-text over
 * `chunks.tsv`, fused by reciprocal rank fusion, restricted to the caller's subscriptions.
 * Without a usable vector index (embeddings not configured, nothing indexed yet, index
 * unreadable) it answers from full-text alone.
 */
@Injectable()
export class ApiSearchService implements OnModuleDestroy {
  private vector: { provider: EmbeddingProvider; store: VectorIndexStore } | null | undefined;

  constructor(private readonly ctx: ApiContext) {}

  async search(tenantId: string, query: string, k: number): Promise<{ hits: ApiSearchHit[]; took_ms: number; vector: boolean }> {
    const t0 = performance.now();
    const q = query.trim().replace(/\s+/g, ' ');
    const candidates = Math.max(3 * k, 30);
    const subscribed = new Set((await this.ctx.db.query<{ feed_id: string }>(`SELECT feed_id FROM subscriptions WHERE tenant_id = $1`, [tenantId])).map((r) => r.feed_id));
    if (!subscribed.size) return { hits: [], took_ms: 0, vector: false };

    const [keywordRows, vectorRefs] = await Promise.all([this.fullText(tenantId, q, candidates), this.nearest(q, candidates, subscribed)]);
    const rows = new Map<string, ChunkRow>(keywordRows.map((r) => [chunkIdOf(r), r]));
    const missing = (vectorRefs ?? []).filter((v) => !rows.has(v.id));
    for (const r of await this.chunks(missing)) rows.set(chunkIdOf(r), r);

    const fused = reciprocalRankFusion([(vectorRefs ?? []).filter((v) => rows.has(v.id)), keywordRows.map((r) => ({ id: chunkIdOf(r) }))], RRF_K).slice(0, k);
    const hits: ApiSearchHit[] = [];
    for (const f of fused) {
      const r = rows.get(f.id);
      if (!r) continue;
      hits.push({
        chunk_id: f.id,
        episode_key: r.episode_key,
        episode_title: r.episode_title,
        feed_id: r.feed_id,
        feed_title: r.feed_title,
        start_ms: r.start_ms,
        end_ms: r.end_ms,
        snippet: makeSnippet(r.text, q),
        score: Number(f.score.toFixed(6)),
      });
    }
    return { hits, took_ms: Math.round((performance.now() - t0) * 10) / 10, vector: vectorRefs !== null };
  }

  private fullText(tenantId: string, q: string, limit: number): Promise<ChunkRow[]> {
    return this.ctx.db.query<ChunkRow>(
      `SELECT c.episode_key, c.idx, c.text, c.start_ms, c.end_ms, e.title AS episode_title, e.feed_id, f.title AS feed_title
       FROM chunks c JOIN episodes e ON e.episode_key = c.episode_key JOIN feeds f ON f.id = e.feed_id,
            websearch_to_tsquery('english', $2) query
       WHERE c.tsv @@ query AND e.feed_id IN (SELECT feed_id FROM subscriptions WHERE tenant_id = $1)
       ORDER BY ts_rank_cd(c.tsv, query) DESC, c.episode_key, c.idx LIMIT $3`,
      [tenantId, q, limit],
    );
  }

  /** Vector side: ids of the nearest subscribed chunks, or null when vector search is unavailable. */
  private async nearest(q: string, limit: number, subscribed: Set<string>): Promise<{ id: string; episode_key: string; idx: number }[] | null> {
    const v = this.vectorIndex();
    if (!v) return null;
    try {
      const loaded = await v.store.current();
      if (!loaded || loaded.manifest.ntotal === 0) return null;
      const [vec] = await v.provider.embed([q]);
      // Over-fetch: other tenants' chunks are dropped after the search.
      const hits = await v.store.search(vec, Math.min(limit * 4, loaded.manifest.ntotal));
      return hits
        .filter((h) => h.similarity >= MIN_SIMILARITY && subscribed.has(h.episode.feed_id))
        .slice(0, limit)
        .map((h) => ({ id: chunkIdOf({ feed_id: h.episode.feed_id, episode_key: h.episode.episode_key, idx: h.chunkNo }), episode_key: h.episode.episode_key, idx: h.chunkNo }));
    } catch (e) {
      this.ctx.log.warn({ err: errorMessage(e) }, 'vector search unavailable; answering from full-text only');
      return null;
    }
  }

  private vectorIndex(): { provider: EmbeddingProvider; store: VectorIndexStore } | null {
    if (this.vector !== undefined) return this.vector;
    const reason = embeddingsUnavailableReason(this.ctx.config);
    if (reason) {
      this.ctx.log.info({ reason }, 'vector search off');
      return (this.vector = null);
    }
    const provider = createEmbeddingProvider(this.ctx.config, this.ctx.log);
    return (this.vector = { provider, store: vectorIndexFromConfig(this.ctx.config, provider, this.ctx.log) });
  }

  /** Probe for /healthz: the index loads (or there is none yet). */
  async probeIndex(): Promise<void> {
    await this.vectorIndex()?.store.current();
  }

  private async chunks(refs: { episode_key: string; idx: number }[]): Promise<ChunkRow[]> {
    if (!refs.length) return [];
    return this.ctx.db.query<ChunkRow>(
      `SELECT c.episode_key, c.idx, c.text, c.start_ms, c.end_ms, e.title AS episode_title, e.feed_id, f.title AS feed_title
       FROM unnest($1::text[], $2::int[]) AS want(episode_key, idx)
       JOIN chunks c ON c.episode_key = want.episode_key AND c.idx = want.idx
       JOIN episodes e ON e.episode_key = c.episode_key JOIN feeds f ON f.id = e.feed_id`,
      [refs.map((r) => r.episode_key), refs.map((r) => r.idx)],
    );
  }

  onModuleDestroy(): void {
    this.vector = undefined;
  }
}
