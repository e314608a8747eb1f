import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Playback state per tenant (issue 18): where each listener left an episode (resume) and whether
 * it is played. One row per (tenant, episode), written by one upsert every few seconds while the
 * player runs; gone with its tenant or its episode. The partial index serves "continue listening"
 * (in progress, most recent first).
 */
export class Playback1764892800005 implements MigrationInterface {
  name = 'Playback1764892800005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE playback (
      tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      episode_key text NOT NULL REFERENCES episodes(episode_key) ON DELETE CASCADE,
      position_ms integer NOT NULL DEFAULT 0 CHECK (position_ms >= 0),
      duration_ms integer CHECK (duration_ms IS NULL OR duration_ms > 0),
      played boolean NOT NULL DEFAULT false,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, episode_key))`);
    await q.query(`CREATE INDEX playback_in_progress_idx ON playback (tenant_id, updated_at DESC) WHERE NOT played AND position_ms > 0`);
    // The cascade from episodes looks rows up by episode_key alone.
    await q.query(`CREATE INDEX playback_episode_idx ON playback (episode_key)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE playback`);
  }
}
