import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export const DEFAULT_TENANT = 'default';

@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn('text') id: string;
  @Column('text') name: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('api_keys')
export class ApiKeyEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'tenant_id' }) tenantId: string;
  @Column('text') name: string;
  /** sha256 of the key; the key itself is never stored. */
  @Column('text', { name: 'key_hash' }) keyHash: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'last_used_at', nullable: true }) lastUsedAt: Date | null;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt: Date | null;
}

@Entity('subscriptions')
export class SubscriptionEntity {
  @PrimaryColumn('text', { name: 'tenant_id' }) tenantId: string;
  @PrimaryColumn('text', { name: 'feed_id' }) feedId: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('bookmarks')
export class BookmarkEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'tenant_id' }) tenantId: string;
  @Column('text', { name: 'episode_key' }) episodeKey: string;
  @Column('integer', { name: 'at_ms', nullable: true }) atMs: number | null;
  @Column('text', { nullable: true }) label: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('notes')
export class NoteEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text', { name: 'tenant_id' }) tenantId: string;
  @Column('text', { name: 'episode_key' }) episodeKey: string;
  @Column('text') body: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
