/* eslint-disable @typescript-eslint/no-explicit-any -- test queries read rows of many shapes */
/**
 * Postgres helpers of the tests: raw SQL on a role's Database (the roles themselves only query
 * through repositories/), and adding a feed the way POST /api/feeds does once the feed is
 * checked (catalog row + subscription), without the HTTP round trip.
 */
import type { DataSource } from 'typeorm';
import { feedIdOf } from '../../src/core/identity';
import { Database } from '../../src/db/database';
import { DEFAULT_TENANT } from '../../src/db/schema';
import { normalizeFeedLocation } from '../../src/feeds/load';

/** Either a role's Database or a migration DataSource (test/support/stack.ts `stack.db`). */
export type TestDb = Database | DataSource;

/** Rows of a raw SQL statement (RETURNING rows for writes). */
export async function sqlRows(db: TestDb, text: string, params: unknown[] = []): Promise<any[]> {
  if (db instanceof Database) return (await db.pool.query(text, params)).rows;
  const r = (await db.query(text, params)) as unknown;
  // TypeORM answers UPDATE/DELETE … RETURNING as [rows, affectedCount].
  return Array.isArray(r) && r.length === 2 && Array.isArray(r[0]) && typeof r[1] === 'number' ? r[0] : (r as any[]);
}

/**
 * Adds a feed to the catalog (or finds it: one row per canonical location), due for a poll at
 * once, and subscribes the tenant (default: the default tenant). `created`: the feed was new.
 */
export async function addFeed(db: TestDb, location: string, opts: { tenantId?: string; pollIntervalS: number }): Promise<{ feed: { id: string; url: string }; created: boolean }> {
  const url = normalizeFeedLocation(location);
  const id = feedIdOf(url);
  const inserted = await sqlRows(db, `INSERT INTO feeds (id, url, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, now()) ON CONFLICT (id) DO NOTHING RETURNING id`, [id, url, opts.pollIntervalS]);
  await sqlRows(db, `INSERT INTO subscriptions (tenant_id, feed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [opts.tenantId ?? DEFAULT_TENANT, id]);
  return { feed: { id, url }, created: inserted.length > 0 };
}
