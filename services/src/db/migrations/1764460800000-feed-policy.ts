import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-feed policy (issue 15): feeds.policy (backfill, title include/exclude filters, duration
 * bounds; feeds/policy.ts reads it), feeds.backfill_horizon (the newest publication time the
 * feed held at its first poll: items after it are new episodes, the rest back catalogue; null
 * until the first poll) and episodes.priority_class (the class the episode's jobs run at, so
 * the reconciler re-enqueues at the same priority). Feeds that exist already keep processing
 * everything they find (backfill all), their horizon set from what they hold.
 */
export class FeedPolicy1764460800000 implements MigrationInterface {
  name = 'FeedPolicy1764460800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE feeds ADD COLUMN policy jsonb NOT NULL DEFAULT '{}'::jsonb`);
    await q.query(`ALTER TABLE feeds ADD COLUMN backfill_horizon timestamptz`);
    await q.query(`UPDATE feeds SET policy = '{"backfill":"all"}'::jsonb`);
    await q.query(
      `UPDATE feeds f SET backfill_horizon = COALESCE((SELECT max(e.published_at) FROM episodes e WHERE e.feed_id = f.id), now())
        WHERE EXISTS (SELECT 1 FROM episodes e WHERE e.feed_id = f.id)`,
    );
    await q.query(`ALTER TABLE episodes ADD COLUMN priority_class text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE episodes DROP COLUMN priority_class`);
    await q.query(`ALTER TABLE feeds DROP COLUMN backfill_horizon`);
    await q.query(`ALTER TABLE feeds DROP COLUMN policy`);
  }
}
