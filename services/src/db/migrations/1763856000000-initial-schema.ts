import type { MigrationInterface, QueryRunner } from 'typeorm';

/** ARCHITECTURE §4: global catalog + canonical projections + tenant-scoped tables. */
export class InitialSchema1763856000000 implements MigrationInterface {
  name = 'InitialSchema1763856000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE episode_state AS ENUM ('pending','downloading','transcribing','enriching','indexing','projecting','done','failed','skipped')`);
    await q.query(`CREATE TABLE feeds (
      id text PRIMARY KEY,
      url text NOT NULL UNIQUE,
      title text,
      link text,
      image text,
      etag text,
      last_modified text,
      last_polled_at timestamptz,
      next_poll_at timestamptz NOT NULL DEFAULT now(),
      poll_interval_s integer NOT NULL DEFAULT 3600,
      error_count integer NOT NULL DEFAULT 0,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX feeds_next_poll_idx ON feeds (next_poll_at)`);
    await q.query(`CREATE TABLE episodes (
      episode_key text PRIMARY KEY,
      feed_id text NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
      guid text,
      title text NOT NULL,
      published_at timestamptz,
      duration_s integer,
      enclosure jsonb,
      transcripts jsonb NOT NULL DEFAULT '[]',
      source jsonb NOT NULL DEFAULT '{}',
      state episode_state NOT NULL DEFAULT 'pending',
      state_reason text,
      failed_stage text,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      correlation_id text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX episodes_feed_published_idx ON episodes (feed_id, published_at DESC)`);
    await q.query(`CREATE INDEX episodes_state_idx ON episodes (state, updated_at)`);
    await q.query(`CREATE TABLE stage_runs (
      id bigserial PRIMARY KEY,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      stage text NOT NULL,
      fingerprint text NOT NULL,
      status text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      started_at timestamptz,
      finished_at timestamptz,
      duration_ms integer,
      error text,
      artifact_path text,
      UNIQUE (episode_key, stage, fingerprint))`);
    await q.query(`CREATE TABLE transcript_segments (
      id bigserial PRIMARY KEY,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      idx integer NOT NULL,
      start_ms integer NOT NULL,
      end_ms integer NOT NULL,
      speaker text,
      text text NOT NULL,
      UNIQUE (episode_key, idx))`);
    await q.query(`CREATE TABLE summaries (
      episode_key text PRIMARY KEY REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      title text,
      bullets jsonb NOT NULL DEFAULT '[]',
      key_quotes jsonb NOT NULL DEFAULT '[]',
      status text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE insights (
      id text NOT NULL,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      text text NOT NULL,
      insight_type text NOT NULL,
      confidence real,
      PRIMARY KEY (episode_key, id))`);
    await q.query(`CREATE TABLE quotes (
      id text NOT NULL,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      text text NOT NULL,
      char_start integer,
      char_end integer,
      start_ms integer,
      end_ms integer,
      speaker text,
      PRIMARY KEY (episode_key, id))`);
    await q.query(`CREATE TABLE insight_support (
      episode_key text NOT NULL,
      insight_id text NOT NULL,
      quote_id text NOT NULL,
      PRIMARY KEY (episode_key, insight_id, quote_id),
      FOREIGN KEY (episode_key, insight_id) REFERENCES insights(episode_key, id) ON DELETE CASCADE,
      FOREIGN KEY (episode_key, quote_id) REFERENCES quotes(episode_key, id) ON DELETE CASCADE)`);
    await q.query(`CREATE TABLE kg_nodes (
      id text PRIMARY KEY,
      kind text NOT NULL,
      label text NOT NULL,
      props jsonb NOT NULL DEFAULT '{}')`);
    await q.query(`CREATE TABLE kg_edges (
      id bigserial PRIMARY KEY,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      source_id text NOT NULL REFERENCES kg_nodes(id) ON DELETE CASCADE,
      target_id text NOT NULL REFERENCES kg_nodes(id) ON DELETE CASCADE,
      kind text NOT NULL,
      props jsonb NOT NULL DEFAULT '{}')`);
    await q.query(`CREATE INDEX kg_edges_episode_idx ON kg_edges (episode_key)`);
    await q.query(`CREATE INDEX kg_edges_source_idx ON kg_edges (source_id)`);
    await q.query(`CREATE INDEX kg_edges_target_idx ON kg_edges (target_id)`);
    await q.query(`CREATE TABLE chunks (
      id bigserial PRIMARY KEY,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      fingerprint text NOT NULL,
      idx integer NOT NULL,
      text text NOT NULL,
      start_ms integer NOT NULL,
      end_ms integer NOT NULL,
      vector_id bigint,
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
      UNIQUE (episode_key, idx))`);
    await q.query(`CREATE INDEX chunks_tsv_idx ON chunks USING GIN (tsv)`);
    await q.query(`CREATE INDEX chunks_vector_idx ON chunks (vector_id)`);
    await q.query(`CREATE TABLE digests (
      id bigserial PRIMARY KEY,
      period_start date NOT NULL,
      period_end date NOT NULL,
      kind text NOT NULL DEFAULT 'weekly',
      body jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (kind, period_start))`);

    await q.query(`CREATE TABLE tenants (
      id text PRIMARY KEY,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`INSERT INTO tenants (id, name) VALUES ('default', 'Default')`);
    await q.query(`CREATE TABLE api_keys (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      name text NOT NULL,
      key_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz)`);
    await q.query(`CREATE TABLE subscriptions (
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      feed_id text NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, feed_id))`);
    await q.query(`CREATE INDEX subscriptions_feed_idx ON subscriptions (feed_id)`);
    await q.query(`CREATE TABLE bookmarks (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      at_ms integer,
      label text,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX bookmarks_tenant_idx ON bookmarks (tenant_id, episode_key)`);
    await q.query(`CREATE TABLE notes (
      id bigserial PRIMARY KEY,
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      body text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX notes_tenant_idx ON notes (tenant_id, episode_key)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      'notes',
      'bookmarks',
      'subscriptions',
      'api_keys',
      'tenants',
      'digests',
      'chunks',
      'kg_edges',
      'kg_nodes',
      'insight_support',
      'quotes',
      'insights',
      'summaries',
      'transcript_segments',
      'stage_runs',
      'episodes',
      'feeds',
    ]) {
      await q.query(`DROP TABLE ${t}`);
    }
    await q.query(`DROP TYPE episode_state`);
  }
}
