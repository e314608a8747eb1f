import { Injectable } from '@nestjs/common';
import type { Insertable } from 'kysely';
import type { Executor } from '../db/database';
import type { ChaptersTable, ChunksTable, InsightSupportTable, InsightsTable, KgEdgesTable, KgNodesTable, QuotesTable, SummariesTable, TranscriptSegmentsTable } from '../db/schema';

/** Everything projected of one episode (projection/project.ts maps the artifacts to these rows). */
export interface EpisodeProjection {
  episodeKey: string;
  segments: Insertable<TranscriptSegmentsTable>[];
  summary: Insertable<SummariesTable> | null;
  insights: Insertable<InsightsTable>[];
  quotes: Insertable<QuotesTable>[];
  support: Insertable<InsightSupportTable>[];
  /** Global (ids are stable across episodes, e.g. `person:<slug>`): upserted, never deleted. */
  kgNodes: Insertable<KgNodesTable>[];
  kgEdges: Insertable<KgEdgesTable>[];
  chunks: Insertable<ChunksTable>[];
  /** From the enrich stage's chapters.json; [] when it has none (or was enriched before chapters). */
  chapters: Insertable<ChaptersTable>[];
}

/** Multi-row INSERTs in batches that stay under Postgres's 65535 bind parameters. */
function batches<T extends object>(rows: readonly T[]): T[][] {
  if (!rows.length) return [];
  const perBatch = Math.max(1, Math.floor(60_000 / Object.keys(rows[0]).length));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += perBatch) out.push(rows.slice(i, i + perBatch));
  return out;
}

/**
 * The canonical Postgres rows of an episode's artifacts (ARCHITECTURE §4): transcript segments,
 * summary, insights and their quotes, KG nodes and edges, search chunks. Writes go through the
 * executor the caller gives: the project stage replaces an episode's projections in the same
 * transaction that sets the episode's final state.
 */
@Injectable()
export class ProjectionRepository {
  /** Replaces the episode's rows as a whole (idempotent); KG nodes are upserted (label replaced, props merged). */
  async replace(trx: Executor, p: EpisodeProjection): Promise<void> {
    const key = p.episodeKey;
    await trx.deleteFrom('insight_support').where('episode_key', '=', key).execute();
    await trx.deleteFrom('insights').where('episode_key', '=', key).execute();
    await trx.deleteFrom('quotes').where('episode_key', '=', key).execute();
    await trx.deleteFrom('kg_edges').where('episode_key', '=', key).execute();
    await trx.deleteFrom('chunks').where('episode_key', '=', key).execute();
    await trx.deleteFrom('transcript_segments').where('episode_key', '=', key).execute();
    await trx.deleteFrom('summaries').where('episode_key', '=', key).execute();
    await trx.deleteFrom('chapters').where('episode_key', '=', key).execute();

    for (const b of batches(p.segments)) await trx.insertInto('transcript_segments').values(b).execute();
    if (p.summary) await trx.insertInto('summaries').values(p.summary).execute();
    for (const b of batches(p.insights)) await trx.insertInto('insights').values(b).execute();
    for (const b of batches(p.quotes)) await trx.insertInto('quotes').values(b).execute();
    for (const b of batches(p.support)) await trx.insertInto('insight_support').values(b).execute();
    // One statement per node: a node listed twice merges as it would across episodes.
    for (const n of p.kgNodes) {
      await trx
        .insertInto('kg_nodes')
        .values(n)
        .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ label: eb.ref('excluded.label'), props: eb('kg_nodes.props', '||', eb.ref('excluded.props')) })))
        .execute();
    }
    for (const b of batches(p.kgEdges)) await trx.insertInto('kg_edges').values(b).execute();
    for (const b of batches(p.chunks)) await trx.insertInto('chunks').values(b).execute();
    for (const b of batches(p.chapters)) await trx.insertInto('chapters').values(b).execute();
  }
}
