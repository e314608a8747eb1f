import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type StageRunStatus = 'running' | 'done' | 'reused' | 'failed' | 'skipped' | 'not_configured';

@Entity('stage_runs')
export class StageRunEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text') stage: string;
  @Column('text') fingerprint: string;
  @Column('text') status: StageRunStatus;
  @Column('integer') attempts: number;
  @Column('timestamptz', { name: 'started_at', nullable: true }) startedAt: Date | null;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt: Date | null;
  @Column('integer', { name: 'duration_ms', nullable: true }) durationMs: number | null;
  @Column('text', { nullable: true }) error: string | null;
  @Column('text', { name: 'artifact_path', nullable: true }) artifactPath: string | null;
}
