import type { MigrationInterface, QueryRunner } from 'typeorm';

/** feeds.description: the channel's description (plain text), shown on the feed's page (issue 18). */
export class FeedDescription1764892800010 implements MigrationInterface {
  name = 'FeedDescription1764892800010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE feeds ADD COLUMN description text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE feeds DROP COLUMN description`);
  }
}
