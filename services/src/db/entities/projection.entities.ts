import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** Canonical projections of the artifacts (ARCHITECTURE §4), written only by the project stage. */

@Entity('transcript_segments')
export class TranscriptSegmentEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text') fingerprint: string;
  @Column('integer') idx: number;
  @Column('integer', { name: 'start_ms' }) startMs: number;
  @Column('integer', { name: 'end_ms' }) endMs: number;
  @Column('text', { nullable: true }) speaker: string | null;
  @Column('text') text: string;
}

@Entity('summaries')
export class SummaryEntity {
  @PrimaryColumn('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text') fingerprint: string;
  @Column('text', { nullable: true }) title: string | null;
  @Column('jsonb') bullets: unknown[];
  @Column('jsonb', { name: 'key_quotes' }) keyQuotes: unknown[];
  @Column('text') status: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('insights')
export class InsightEntity {
  @PrimaryColumn('text', { name: 'episode_key' }) episodeKey: string;
  @PrimaryColumn('text') id: string;
  @Column('text') fingerprint: string;
  @Column('text') text: string;
  @Column('text', { name: 'insight_type' }) insightType: string;
  @Column('real', { nullable: true }) confidence: number | null;
}

@Entity('quotes')
export class QuoteEntity {
  @PrimaryColumn('text', { name: 'episode_key' }) episodeKey: string;
  @PrimaryColumn('text') id: string;
  @Column('text') fingerprint: string;
  @Column('text') text: string;
  @Column('integer', { name: 'char_start', nullable: true }) charStart: number | null;
  @Column('integer', { name: 'char_end', nullable: true }) charEnd: number | null;
  @Column('integer', { name: 'start_ms', nullable: true }) startMs: number | null;
  @Column('integer', { name: 'end_ms', nullable: true }) endMs: number | null;
  @Column('text', { nullable: true }) speaker: string | null;
}

@Entity('insight_support')
export class InsightSupportEntity {
  @PrimaryColumn('text', { name: 'episode_key' }) episodeKey: string;
  @PrimaryColumn('text', { name: 'insight_id' }) insightId: string;
  @PrimaryColumn('text', { name: 'quote_id' }) quoteId: string;
}

@Entity('kg_nodes')
export class KgNodeEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') kind: string;
  @Column('text') label: string;
  @Column('jsonb') props: Record<string, unknown>;
}

@Entity('kg_edges')
export class KgEdgeEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text') fingerprint: string;
  @Column('text', { name: 'source_id' }) sourceId: string;
  @Column('text', { name: 'target_id' }) targetId: string;
  @Column('text') kind: string;
  @Column('jsonb') props: Record<string, unknown>;
}

@Entity('chunks')
export class ChunkEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text') fingerprint: string;
  @Column('integer') idx: number;
  @Column('text') text: string;
  @Column('integer', { name: 'start_ms' }) startMs: number;
  @Column('integer', { name: 'end_ms' }) endMs: number;
  @Column('bigint', { name: 'vector_id', nullable: true }) vectorId: string | null;
  // `tsv` is a generated column (to_tsvector('english', text)); query it with SQL, never write it.
}

@Entity('digests')
export class DigestEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('date', { name: 'period_start' }) periodStart: string;
  @Column('date', { name: 'period_end' }) periodEnd: string;
  @Column('text') kind: string;
  @Column('jsonb') body: unknown;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}
