import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database } from '../db/database';
import type { TimedSegment } from '../index/hits';
import type { ChunkLookup, FoundChunk, KeywordSearcher, SearchScope, SegmentSource } from '../index/search.service';
import type { VectorHit } from '../index/vector-store';

/**
 * The projected chunks (`chunks`, written by the project stage) as the api's search reads them:
 * the keyword side of hybrid search (Postgres full text over `chunks.tsv`) and the text of the
 * vector side's hits.
 */
@Injectable()
export class ChunkRepository implements KeywordSearcher, ChunkLookup, SegmentSource {
  /** websearch_to_tsquery ANDs the terms: its hits are the keyword floor (search.service KeywordSearcher). */
  readonly selective = true;

  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  /** The chunk columns a hit shows, with its episode's and feed's titles. */
  private chunks() {
    return this.db
      .selectFrom('chunks as c')
      .innerJoin('episodes as e', 'e.episode_key', 'c.episode_key')
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .select(['c.episode_key', 'c.idx as chunk_no', 'c.text', 'c.start_ms', 'c.end_ms', 'e.title as episode_title', 'e.feed_id', 'f.title as feed_title']);
  }

  /**
   * Full-text matches (websearch syntax, english stemming), best `ts_rank_cd` first, of the
   * feeds in scope (null: all feeds), and of its episodes where the scope names them.
   */
  search(query: string, k: number, scope: SearchScope | null): Promise<FoundChunk[]> {
    const tsquery = sql<string>`websearch_to_tsquery('english', ${query})`.as('query');
    return this.chunks()
      .crossJoin(tsquery)
      .where(sql<boolean>`c.tsv @@ query`)
      .$if(scope !== null, (q) => q.where('e.feed_id', '=', (eb) => eb.fn.any(eb.val([...(scope?.feeds ?? [])]))))
      .$if(!!scope?.episodes, (q) => q.where('c.episode_key', '=', (eb) => eb.fn.any(eb.val([...(scope?.episodes ?? [])]))))
      .orderBy(sql`ts_rank_cd(c.tsv, query)`, 'desc')
      .orderBy('c.episode_key')
      .orderBy('c.idx')
      .limit(k)
      .execute();
  }

  /** The projected chunks of these vector hits; a hit whose episode is not projected (yet) is left out. */
  async find(hits: readonly VectorHit[]): Promise<FoundChunk[]> {
    if (!hits.length) return [];
    const wanted = sql<{ episode_key: string; idx: number }>`unnest(${hits.map((h) => h.episode.episode_key)}::text[], ${hits.map((h) => h.chunkNo)}::int[])`.as<'want'>(sql`want(episode_key, idx)`);
    return this.chunks()
      .innerJoin(wanted, (j) => j.onRef('want.episode_key', '=', 'c.episode_key').onRef('want.idx', '=', 'c.idx'))
      .execute();
  }

  /** The projected transcript segments within each chunk's time span (keyed `<feed_id>/<episode_key>#<chunk_no>`), in order: the times of a hit's sentence. */
  async segments(chunks: readonly FoundChunk[]): Promise<Map<string, TimedSegment[]>> {
    const out = new Map<string, TimedSegment[]>();
    if (!chunks.length) return out;
    const rows = await this.db
      .selectFrom('transcript_segments as s')
      .innerJoin(
        sql<{ episode_key: string; from_ms: number; to_ms: number; n: number }>`unnest(${chunks.map((c) => c.episode_key)}::text[], ${chunks.map((c) => c.start_ms)}::int[], ${chunks.map((c) => c.end_ms)}::int[], ${chunks.map((_, i) => i)}::int[])`.as<'want'>(
          sql`want(episode_key, from_ms, to_ms, n)`,
        ),
        (j) => j.onRef('want.episode_key', '=', 's.episode_key'),
      )
      .whereRef('s.end_ms', '>=', 'want.from_ms')
      .whereRef('s.start_ms', '<=', 'want.to_ms')
      .select(['want.n', 's.start_ms', 's.end_ms', 's.text'])
      .orderBy('want.n')
      .orderBy('s.idx')
      .execute();
    for (const r of rows) {
      const c = chunks[r.n];
      const id = `${c.feed_id}/${c.episode_key}#${c.chunk_no}`;
      let list = out.get(id);
      if (!list) out.set(id, (list = []));
      if (r.text.trim()) list.push({ start_ms: r.start_ms, end_ms: r.end_ms, text: r.text });
    }
    return out;
  }
}
