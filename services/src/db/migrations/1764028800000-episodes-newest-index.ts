import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * episodes (published_at DESC, episode_key DESC): the Library's newest-first page for a tenant
 * subscribed to most feeds reads limit+1 index entries instead of a top-N per subscribed feed.
 */
export class EpisodesNewestIndex1764028800000 implements MigrationInterface {
  name = 'EpisodesNewestIndex1764028800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX episodes_newest_idx ON episodes (published_at DESC, episode_key DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX episodes_newest_idx`);
  }
}
