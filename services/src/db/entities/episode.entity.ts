import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Enclosure, ParsedEpisode, TranscriptRef } from '../../feeds/types';

export const EPISODE_STATES = ['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting', 'done', 'failed', 'skipped'] as const;
export type EpisodeStateName = (typeof EPISODE_STATES)[number];

@Entity('episodes')
export class EpisodeEntity {
  @PrimaryColumn('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text', { name: 'feed_id' }) feedId: string;
  @Column('text', { nullable: true }) guid: string | null;
  @Column('text') title: string;
  @Column('timestamptz', { name: 'published_at', nullable: true }) publishedAt: Date | null;
  @Column('integer', { name: 'duration_s', nullable: true }) durationS: number | null;
  @Column('jsonb', { nullable: true }) enclosure: Enclosure | null;
  @Column('jsonb') transcripts: TranscriptRef[];
  /** The whole parsed item, so a worker rebuilds the exact FeedEpisode the stages expect. */
  @Column('jsonb') source: ParsedEpisode;
  @Column({ type: 'enum', enum: EPISODE_STATES, enumName: 'episode_state' }) state: EpisodeStateName;
  @Column('text', { name: 'state_reason', nullable: true }) stateReason: string | null;
  @Column('text', { name: 'failed_stage', nullable: true }) failedStage: string | null;
  @Column('integer') attempts: number;
  @Column('text', { name: 'last_error', nullable: true }) lastError: string | null;
  @Column('text', { name: 'correlation_id', nullable: true }) correlationId: string | null;
  /** The deterministic id of the job a running state waits on (reconciler). */
  @Column('text', { name: 'job_id', nullable: true }) jobId: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
