import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('feeds')
export class FeedEntity {
  /** `feedIdOf(url)` from core/identity. */
  @PrimaryColumn('text') id: string;
  @Column('text', { unique: true }) url: string;
  @Column('text', { nullable: true }) title: string | null;
  @Column('text', { nullable: true }) link: string | null;
  @Column('text', { nullable: true }) image: string | null;
  @Column('text', { nullable: true }) etag: string | null;
  @Column('text', { name: 'last_modified', nullable: true }) lastModified: string | null;
  @Column('timestamptz', { name: 'last_polled_at', nullable: true }) lastPolledAt: Date | null;
  @Column('timestamptz', { name: 'next_poll_at' }) nextPollAt: Date;
  @Column('integer', { name: 'poll_interval_s' }) pollIntervalS: number;
  @Column('integer', { name: 'error_count' }) errorCount: number;
  @Column('text', { name: 'last_error', nullable: true }) lastError: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
