import type { ApiDatabase } from '../database';

/** web/src/api/types.ts `Feed`. */
export interface FeedView {
  id: string;
  url: string;
  title: string | null;
  image: string | null;
  link: string | null;
  last_polled_at: string | null;
  last_error: string | null;
  error_count: number;
  episode_count: number;
}

interface FeedRow {
  id: string;
  url: string;
  title: string | null;
  image: string | null;
  link: string | null;
  last_polled_at: Date | null;
  last_error: string | null;
  error_count: number;
  episode_count: string | number;
}

const FEED_COLUMNS = `f.id, f.url, f.title, f.image, f.link, f.last_polled_at, f.last_error, f.error_count,
  (SELECT count(*) FROM episodes e WHERE e.feed_id = f.id) AS episode_count`;

const toView = (r: FeedRow): FeedView => ({
  id: r.id,
  url: r.url,
  title: r.title,
  image: r.image,
  link: r.link,
  last_polled_at: r.last_polled_at ? new Date(r.last_polled_at).toISOString() : null,
  last_error: r.last_error,
  error_count: Number(r.error_count),
  episode_count: Number(r.episode_count),
});

/** The tenant-scoped view of feeds: a tenant sees the feeds it subscribes to. */
export class ApiFeedsRepository {
  constructor(private readonly db: ApiDatabase) {}

  async listSubscribed(tenantId: string): Promise<FeedView[]> {
    const rows = await this.db.query<FeedRow>(
      `SELECT ${FEED_COLUMNS} FROM feeds f JOIN subscriptions s ON s.feed_id = f.id AND s.tenant_id = $1 ORDER BY lower(coalesce(f.title, f.url)), f.id`,
      [tenantId],
    );
    return rows.map(toView);
  }

  async getSubscribed(tenantId: string, feedId: string): Promise<FeedView | null> {
    const rows = await this.db.query<FeedRow>(
      `SELECT ${FEED_COLUMNS} FROM feeds f JOIN subscriptions s ON s.feed_id = f.id AND s.tenant_id = $1 WHERE f.id = $2`,
      [tenantId, feedId],
    );
    return rows[0] ? toView(rows[0]) : null;
  }

  async exists(feedId: string): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM feeds WHERE id = $1`, [feedId])).length > 0;
  }

  async isSubscribed(tenantId: string, feedId: string): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM subscriptions WHERE tenant_id = $1 AND feed_id = $2`, [tenantId, feedId])).length > 0;
  }

  async subscribe(tenantId: string, feedId: string): Promise<boolean> {
    const rows = await this.db.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING feed_id`, [tenantId, feedId]);
    return rows.length > 0;
  }

  /**
   * Ends the tenant's subscription. A feed nobody follows any more leaves the catalog with its
   * episodes (rows cascade); artifacts on disk stay for reuse if someone subscribes again.
   */
  async unsubscribe(tenantId: string, feedId: string): Promise<{ removed: boolean; feedDeleted: boolean }> {
    const removed = await this.db.query(`DELETE FROM subscriptions WHERE tenant_id = $1 AND feed_id = $2 RETURNING feed_id`, [tenantId, feedId]);
    if (!removed.length) return { removed: false, feedDeleted: false };
    const deleted = await this.db.query(
      `DELETE FROM feeds WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE feed_id = $1) RETURNING id`,
      [feedId],
    );
    return { removed: true, feedDeleted: deleted.length > 0 };
  }

  /**
   * Inserts the catalog row (or finds it) for a canonical feed URL. Due at once: the scheduler
   * polls it on its next tick even if the api's own poll job could not be enqueued.
   */
  async ensureFeed(p: { id: string; url: string; title: string | null; link: string | null; image: string | null; pollIntervalS: number }): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO feeds (id, url, title, link, image, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, $4, $5, $6::int, now())
       ON CONFLICT (id) DO UPDATE SET title = COALESCE(EXCLUDED.title, feeds.title), link = COALESCE(EXCLUDED.link, feeds.link),
         image = COALESCE(EXCLUDED.image, feeds.image), updated_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [p.id, p.url, p.title, p.link, p.image, p.pollIntervalS],
    );
    return Boolean((rows[0] as { inserted?: boolean } | undefined)?.inserted);
  }
}
