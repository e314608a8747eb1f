import type { DataSource } from 'typeorm';
import { feedIdOf } from '../core/identity';
import { DEFAULT_TENANT } from '../db/entities/tenant.entities';
import { FeedEntity } from '../db/entities/feed.entity';
import { normalizeFeedLocation, type FeedCacheValidators } from '../feeds/load';
import type { ParsedFeed } from '../feeds/types';

/** Feeds (global catalog) and who follows them (subscriptions, tenant-scoped). */
export class FeedRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Adds a feed (or finds the existing one: one row per canonical location) and subscribes
   * the tenant. A second tenant following a known feed only adds a subscription: it attaches
   * to the episodes and artifacts already there.
   */
  async addAndSubscribe(location: string, opts: { tenantId?: string; pollIntervalS: number }): Promise<{ feed: FeedEntity; created: boolean }> {
    const url = normalizeFeedLocation(location);
    const id = feedIdOf(url);
    const inserted = (await this.ds.query(
      `INSERT INTO feeds (id, url, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [id, url, opts.pollIntervalS],
    )) as unknown[];
    await this.subscribe(opts.tenantId ?? DEFAULT_TENANT, id);
    return { feed: await this.ds.getRepository(FeedEntity).findOneByOrFail({ id }), created: inserted.length > 0 };
  }

  async subscribe(tenantId: string, feedId: string): Promise<void> {
    await this.ds.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [tenantId, feedId]);
  }

  get(id: string): Promise<FeedEntity | null> {
    return this.ds.getRepository(FeedEntity).findOneBy({ id });
  }

  /**
   * Claims the feeds whose poll is due: pushes their next_poll_at a full interval ahead in
   * the same statement (the poll job sets the real next time), so a tick never claims twice.
   */
  async claimDue(limit: number): Promise<string[]> {
    const rows = (await this.ds.query(
      `UPDATE feeds SET next_poll_at = now() + make_interval(secs => poll_interval_s), updated_at = now()
       WHERE id IN (SELECT id FROM feeds WHERE next_poll_at <= now() ORDER BY next_poll_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [limit],
    )) as [{ id: string }[], number] | { id: string }[];
    const list = Array.isArray(rows[0]) ? (rows[0] as { id: string }[]) : (rows as { id: string }[]);
    return list.map((r) => r.id);
  }

  async markPolled(id: string, p: { validators: FeedCacheValidators; feed: Omit<ParsedFeed, 'episodes'> | null; nextPollAt: Date }): Promise<void> {
    await this.ds.query(
      `UPDATE feeds SET etag = $2, last_modified = $3, last_polled_at = now(), next_poll_at = $4, error_count = 0, last_error = NULL,
         title = COALESCE($5, title), link = COALESCE($6, link), image = COALESCE($7, image), updated_at = now()
       WHERE id = $1`,
      [id, p.validators.etag ?? null, p.validators.lastModified ?? null, p.nextPollAt, p.feed?.title ?? null, p.feed?.link ?? null, p.feed?.image ?? null],
    );
  }

  async markPollFailed(id: string, error: string, nextPollAt: Date): Promise<number> {
    const rows = (await this.ds.query(
      `UPDATE feeds SET error_count = error_count + 1, last_error = $2, last_polled_at = now(), next_poll_at = $3, updated_at = now()
       WHERE id = $1 RETURNING error_count`,
      [id, error, nextPollAt],
    )) as [{ error_count: number }[], number];
    return rows[0]?.[0]?.error_count ?? 0;
  }
}

/**
 * When to poll next: the feed's interval with ±10 % jitter (so feeds added together spread
 * out), doubled per consecutive error up to a day.
 */
export function nextPollDelayS(intervalS: number, errorCount: number, random = Math.random): number {
  const base = errorCount > 0 ? Math.min(intervalS * 2 ** Math.min(errorCount, 16), 24 * 3600) : intervalS;
  return Math.max(1, Math.round(base * (0.9 + 0.2 * random())));
}
