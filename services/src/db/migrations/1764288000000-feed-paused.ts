import type { MigrationInterface, QueryRunner } from 'typeorm';

/** feeds.paused: an admin stopped polling the feed (control plane pause-feed); the scheduler skips it until resumed. */
export class FeedPaused1764288000000 implements MigrationInterface {
  name = 'FeedPaused1764288000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE feeds ADD COLUMN paused boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE feeds DROP COLUMN paused`);
  }
}
