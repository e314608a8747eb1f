import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * "Many podcasts, one brain" (issue 17):
 * - digests: per tenant, any window (timestamptz bounds, no longer one per week), how it was
 *   triggered (scheduled | manual) and how long it took;
 * - chapters: an episode's chapters as projected (publisher `podcast:chapters`, else generated from
 *   topic shifts), replaced as a whole by each projection;
 * - saved_searches (+ saved_search_hits): standing searches that notify when a new episode matches;
 * - refeed_tokens: secret-token URLs of the private re-feeds (feed_id NULL: the combined feed).
 */
export class Brain1764806400000 implements MigrationInterface {
  name = 'Brain1764806400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE digests DROP CONSTRAINT IF EXISTS digests_kind_period_start_key`);
    await q.query(`ALTER TABLE digests
      ALTER COLUMN period_start TYPE timestamptz USING period_start::timestamptz,
      ALTER COLUMN period_end TYPE timestamptz USING period_end::timestamptz,
      ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants(id) ON DELETE CASCADE,
      ADD COLUMN trigger text NOT NULL DEFAULT 'manual',
      ADD COLUMN duration_ms integer`);
    await q.query(`CREATE INDEX digests_tenant_created_idx ON digests (tenant_id, created_at DESC)`);

    await q.query(`CREATE TABLE chapters (
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      idx integer NOT NULL,
      start_ms integer NOT NULL,
      end_ms integer,
      title text NOT NULL,
      source text NOT NULL,
      url text,
      image text,
      PRIMARY KEY (episode_key, idx))`);

    await q.query(`CREATE TABLE saved_searches (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      name text NOT NULL,
      query text NOT NULL,
      threshold real NOT NULL DEFAULT 0.5,
      notify boolean NOT NULL DEFAULT true,
      min_interval_s integer NOT NULL DEFAULT 3600,
      last_notified_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX saved_searches_tenant_idx ON saved_searches (tenant_id)`);
    await q.query(`CREATE TABLE saved_search_hits (
      id bigserial PRIMARY KEY,
      saved_search_id bigint NOT NULL REFERENCES saved_searches(id) ON DELETE CASCADE,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      chunk_id bigint,
      score real NOT NULL,
      text text NOT NULL,
      start_ms integer NOT NULL,
      found_at timestamptz NOT NULL DEFAULT now(),
      notified_at timestamptz,
      UNIQUE (saved_search_id, episode_key))`);

    await q.query(`CREATE TABLE refeed_tokens (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      feed_id text REFERENCES feeds(id) ON DELETE CASCADE,
      token text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz)`);
    // One live token per (tenant, feed); the combined feed (feed_id NULL) likewise.
    await q.query(`CREATE UNIQUE INDEX refeed_tokens_live_idx ON refeed_tokens (tenant_id, coalesce(feed_id, '')) WHERE revoked_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE refeed_tokens`);
    await q.query(`DROP TABLE saved_search_hits`);
    await q.query(`DROP TABLE saved_searches`);
    await q.query(`DROP TABLE chapters`);
    await q.query(`DROP INDEX digests_tenant_created_idx`);
    // Back to one digest per (kind, first day): the newest of each day stays.
    await q.query(`DELETE FROM digests a USING digests b WHERE a.kind = b.kind AND a.period_start::date = b.period_start::date AND a.id < b.id`);
    await q.query(`ALTER TABLE digests
      DROP COLUMN duration_ms,
      DROP COLUMN trigger,
      DROP COLUMN tenant_id,
      ALTER COLUMN period_start TYPE date USING period_start::date,
      ALTER COLUMN period_end TYPE date USING period_end::date`);
    await q.query(`ALTER TABLE digests ADD CONSTRAINT digests_kind_period_start_key UNIQUE (kind, period_start)`);
  }
}
