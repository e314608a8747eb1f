import { Injectable } from '@nestjs/common';
import { sql, type Selectable } from 'kysely';
import { Database } from '../db/database';
import type { SavedSearchesTable } from '../db/schema';

export type SavedSearchRow = Selectable<SavedSearchesTable>;

/** A saved search with what the list shows of its hits. */
export interface SavedSearchWithCounts extends SavedSearchRow {
  hits: number;
  pending: number;
  last_hit_at: Date | null;
}

/** A stored hit with its episode's and feed's titles. */
export interface SavedSearchHitRow {
  id: string;
  saved_search_id: string;
  episode_key: string;
  episode_title: string | null;
  feed_id: string;
  feed_title: string | null;
  text: string;
  start_ms: number;
  score: number;
  found_at: Date;
  notified_at: Date | null;
}

export interface NewSavedSearch {
  name: string;
  query: string;
  threshold: number;
  notify: boolean;
  min_interval_s: number;
}

export interface NewSavedSearchHit {
  savedSearchId: string;
  episodeKey: string;
  chunkNo: number | null;
  score: number;
  text: string;
  startMs: number;
}

/** saved_searches and saved_search_hits (saved-searches/): every read and write is scoped to a tenant where a caller names one. */
@Injectable()
export class SavedSearchRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  private withCounts() {
    return this.db
      .selectFrom('saved_searches as s')
      .selectAll('s')
      .select((eb) => [
        eb.selectFrom('saved_search_hits as h').whereRef('h.saved_search_id', '=', 's.id').select(sql<number>`count(*)::int`.as('n')).as('hits'),
        eb.selectFrom('saved_search_hits as h').whereRef('h.saved_search_id', '=', 's.id').where('h.notified_at', 'is', null).select(sql<number>`count(*)::int`.as('n')).as('pending'),
        eb.selectFrom('saved_search_hits as h').whereRef('h.saved_search_id', '=', 's.id').select((e) => e.fn.max('h.found_at').as('m')).as('last_hit_at'),
      ]);
  }

  async list(tenantId: string): Promise<SavedSearchWithCounts[]> {
    const rows = await this.withCounts().where('s.tenant_id', '=', tenantId).orderBy('s.created_at', 'desc').orderBy('s.id', 'desc').execute();
    return rows.map((r) => ({ ...r, hits: r.hits ?? 0, pending: r.pending ?? 0, last_hit_at: r.last_hit_at ?? null }));
  }

  async get(tenantId: string, id: string): Promise<SavedSearchWithCounts | null> {
    const r = await this.withCounts().where('s.tenant_id', '=', tenantId).where('s.id', '=', id).executeTakeFirst();
    return r ? { ...r, hits: r.hits ?? 0, pending: r.pending ?? 0, last_hit_at: r.last_hit_at ?? null } : null;
  }

  async count(tenantId: string): Promise<number> {
    const r = await this.db.selectFrom('saved_searches').select(sql<number>`count(*)::int`.as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
    return r.n;
  }

  /**
   * Creates the search unless the tenant already has `max`: the count and the insert are one
   * statement under a per-tenant advisory lock, so two concurrent creates cannot both pass. null: over the limit.
   */
  async create(tenantId: string, s: NewSavedSearch, max: number): Promise<string | null> {
    return this.database.transaction(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`saved_searches:${tenantId}`}))`.execute(trx);
      const { n } = await trx.selectFrom('saved_searches').select(sql<number>`count(*)::int`.as('n')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
      if (n >= max) return null;
      const r = await trx.insertInto('saved_searches').values({ tenant_id: tenantId, ...s }).returning('id').executeTakeFirstOrThrow();
      return r.id;
    });
  }

  /** Changes the fields given; false when the tenant has no such search. */
  async update(tenantId: string, id: string, change: Partial<NewSavedSearch>): Promise<boolean> {
    const r = await this.db
      .updateTable('saved_searches')
      .set({ ...change, updated_at: sql`now()` })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async remove(tenantId: string, id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('saved_searches').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The search's hits, newest first. */
  hits(savedSearchId: string, limit: number): Promise<SavedSearchHitRow[]> {
    return this.hitRows().where('h.saved_search_id', '=', savedSearchId).orderBy('h.found_at', 'desc').orderBy('h.id', 'desc').limit(limit).execute();
  }

  /** The newest hit of each of these searches (one query for a whole list). */
  async lastHits(savedSearchIds: readonly string[]): Promise<Map<string, SavedSearchHitRow>> {
    if (!savedSearchIds.length) return new Map();
    const rows = await this.hitRows()
      .distinctOn('h.saved_search_id')
      .where('h.saved_search_id', 'in', [...savedSearchIds])
      .orderBy('h.saved_search_id')
      .orderBy('h.found_at', 'desc')
      .orderBy('h.id', 'desc')
      .execute();
    return new Map(rows.map((r) => [r.saved_search_id, r]));
  }

  private hitRows() {
    return this.db
      .selectFrom('saved_search_hits as h')
      .innerJoin('episodes as e', 'e.episode_key', 'h.episode_key')
      .leftJoin('feeds as f', 'f.id', 'e.feed_id')
      .select(['h.id', 'h.saved_search_id', 'h.episode_key', 'e.title as episode_title', 'e.feed_id', 'f.title as feed_title', 'h.text', 'h.start_ms', 'h.score', 'h.found_at', 'h.notified_at']);
  }

  // ---------- matching and notifying (saved-searches/) ----------

  /**
   * The saved searches of every tenant subscribed to the feed, in pages by id (`after`: the last
   * id of the previous page), so a feed followed by many tenants with many searches is bounded work.
   */
  searchesForFeed(feedId: string, after: string | null, limit: number): Promise<SavedSearchRow[]> {
    return this.db
      .selectFrom('saved_searches as s')
      .innerJoin('subscriptions as sub', 'sub.tenant_id', 's.tenant_id')
      .selectAll('s')
      .where('sub.feed_id', '=', feedId)
      .$if(after !== null, (q) => q.where('s.id', '>', after as string))
      .orderBy('s.id')
      .limit(limit)
      .execute();
  }

  /** Stores the hit unless the search already has one for the episode (a re-projection); true when it was new. */
  async addHit(h: NewSavedSearchHit): Promise<boolean> {
    const r = await this.db
      .insertInto('saved_search_hits')
      .values((eb) => ({
        saved_search_id: h.savedSearchId,
        episode_key: h.episodeKey,
        chunk_id:
          h.chunkNo === null
            ? null
            : eb.selectFrom('chunks').select('id').where('episode_key', '=', h.episodeKey).where('idx', '=', h.chunkNo).orderBy('id', 'desc').limit(1),
        score: h.score,
        text: h.text,
        start_ms: h.startMs,
      }))
      .onConflict((oc) => oc.columns(['saved_search_id', 'episode_key']).doNothing())
      .returning('id')
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Searches that notify, have hits not yet told and whose interval has passed (or `ids` of them only). */
  async due(limit: number, ids?: readonly string[]): Promise<string[]> {
    if (ids && !ids.length) return [];
    const rows = await this.db
      .selectFrom('saved_searches as s')
      .select('s.id')
      .where('s.notify', '=', true)
      .where((eb) => eb.or([eb('s.last_notified_at', 'is', null), eb('s.last_notified_at', '<=', sql<Date>`now() - make_interval(secs => s.min_interval_s)`)]))
      .where(({ exists, selectFrom }) => exists(selectFrom('saved_search_hits as h').select('h.id').whereRef('h.saved_search_id', '=', 's.id').where('h.notified_at', 'is', null)))
      .$if(ids !== undefined, (q) => q.where('s.id', 'in', ids as string[]))
      .orderBy('s.id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * Claims the search's notification slot: last_notified_at moves to now only when its interval
   * has passed, in one statement, so two processes never both notify. Answers the search and the
   * previous last_notified_at (to give the slot back when nothing could be sent), or null.
   */
  async claim(id: string): Promise<{ search: SavedSearchRow; previous: Date | null } | null> {
    const r = await sql<SavedSearchRow & { previous: Date | null }>`
      UPDATE saved_searches s SET last_notified_at = now()
      FROM (SELECT id, last_notified_at AS previous FROM saved_searches WHERE id = ${id} FOR UPDATE) p
      WHERE s.id = p.id AND s.notify AND (p.previous IS NULL OR p.previous <= now() - make_interval(secs => s.min_interval_s))
      RETURNING s.*, p.previous`.execute(this.db);
    const row = r.rows[0];
    if (!row) return null;
    const { previous, ...search } = row;
    return { search, previous };
  }

  /** Gives a claimed slot back (nothing was sent): the pending hits stay pending. */
  async release(id: string, previous: Date | null): Promise<void> {
    await this.db.updateTable('saved_searches').set({ last_notified_at: previous }).where('id', '=', id).execute();
  }

  /** The hits not yet told, best first. */
  pendingHits(savedSearchId: string, limit: number): Promise<SavedSearchHitRow[]> {
    return this.hitRows().where('h.saved_search_id', '=', savedSearchId).where('h.notified_at', 'is', null).orderBy('h.score', 'desc').orderBy('h.id').limit(limit).execute();
  }

  /** How many hits are pending and the newest one's id: what one notification covers. */
  async pendingSummary(savedSearchId: string): Promise<{ count: number; maxId: string | null }> {
    const r = await this.db
      .selectFrom('saved_search_hits')
      .select([sql<number>`count(*)::int`.as('count'), sql<string | null>`max(id)::text`.as('maxId')])
      .where('saved_search_id', '=', savedSearchId)
      .where('notified_at', 'is', null)
      .executeTakeFirstOrThrow();
    return r;
  }

  /** Marks the search's pending hits up to hit `maxId` as told (one found meanwhile waits for the next notification). */
  async markNotified(savedSearchId: string, maxId: string): Promise<number> {
    const r = await this.db
      .updateTable('saved_search_hits')
      .set({ notified_at: sql`now()` })
      .where('saved_search_id', '=', savedSearchId)
      .where('notified_at', 'is', null)
      .where('id', '<=', maxId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
