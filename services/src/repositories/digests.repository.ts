import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database } from '../db/database';
import type { DigestBody, StoredDigest } from '../digest/types';

/** An episode of a tenant's followed feeds in a window, with its summary (null until processed). */
export interface WindowEpisodeRow {
  episode_key: string;
  title: string;
  feed_id: string;
  feed_title: string | null;
  at: Date;
  state: string;
  summary_title: string | null;
  bullets: unknown[] | null;
}

export interface InsightRow {
  episode_key: string;
  id: string;
  text: string;
  confidence: number | null;
}

export interface QuoteRow {
  episode_key: string;
  id: string;
  text: string;
  start_ms: number;
  /** The insight it supports, or null for a quote read for a chunk. */
  insight_id: string | null;
}

export interface ChunkRow {
  episode_key: string;
  idx: number;
  text: string;
  start_ms: number;
  end_ms: number;
}

export interface EntityRow {
  episode_key: string;
  id: string;
  kind: string;
  label: string;
  weight: number;
}

export interface TrendCountRow {
  id: string;
  kind: string;
  label: string;
  /** 0: the window itself, 1: the window before it, … */
  bucket: number;
  episodes: number;
}

/** The graph node kinds a digest reads (kg.json's Topic / Person / Organization). */
export const ENTITY_KINDS = ['Topic', 'Person', 'Organization'];

/** Upper bounds that keep one digest's reads bounded however big the corpus is. */
export const DIGEST_READ_LIMITS = { episodes: 2000, chunksPerEpisode: 40 };

export interface DigestListItem {
  id: string;
  from: string;
  to: string;
  kind: string;
  trigger: string;
  created_at: string;
  duration_ms: number | null;
  counts: { episodes: number; clusters: number; trends: number; shows: number };
}

const iso = (d: Date) => d.toISOString();

/** digests: the stored digests of each tenant (digest/), and the corpus reads a digest is made of. */
@Injectable()
export class DigestRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  // --- what a digest is made of -------------------------------------------------------------

  /** The tenant's followed feeds' episodes dated in [from, to) (publication time, else first seen), skipped ones left out; newest first. */
  async windowEpisodes(tenantId: string, from: Date, to: Date): Promise<WindowEpisodeRow[]> {
    const at = sql<Date>`coalesce(e.published_at, e.created_at)`;
    const rows = await this.db
      .selectFrom('episodes as e')
      .innerJoin('subscriptions as s', (j) => j.onRef('s.feed_id', '=', 'e.feed_id').on('s.tenant_id', '=', tenantId))
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .leftJoin('summaries as m', 'm.episode_key', 'e.episode_key')
      .select(['e.episode_key', 'e.title', 'e.feed_id', 'f.title as feed_title', 'e.state', 'm.title as summary_title', 'm.bullets'])
      .select(at.as('at'))
      .where(at, '>=', from)
      .where(at, '<', to)
      .where('e.state', '!=', 'skipped')
      .orderBy(at, 'desc')
      .orderBy('e.episode_key')
      .limit(DIGEST_READ_LIMITS.episodes)
      .execute();
    return rows.map((r) => ({ ...r, state: String(r.state), bullets: Array.isArray(r.bullets) ? r.bullets : null }));
  }

  async insights(keys: readonly string[]): Promise<InsightRow[]> {
    if (!keys.length) return [];
    return this.db
      .selectFrom('insights')
      .select(['episode_key', 'id', 'text', 'confidence'])
      .where('episode_key', '=', sql<string>`any(${sql.val([...keys])}::text[])`)
      .orderBy('episode_key')
      .orderBy(sql`confidence DESC NULLS LAST`)
      .orderBy('id')
      .execute();
  }

  /** The episodes' timed quotes, each with the insight it supports (a quote supporting none: insight_id null). */
  async quotes(keys: readonly string[]): Promise<QuoteRow[]> {
    if (!keys.length) return [];
    const rows = await this.db
      .selectFrom('quotes as q')
      .leftJoin('insight_support as s', (j) => j.onRef('s.episode_key', '=', 'q.episode_key').onRef('s.quote_id', '=', 'q.id'))
      .select(['q.episode_key', 'q.id', 'q.text', 'q.start_ms', 's.insight_id'])
      .where('q.episode_key', '=', sql<string>`any(${sql.val([...keys])}::text[])`)
      .where('q.start_ms', 'is not', null)
      .orderBy('q.episode_key')
      .orderBy('q.start_ms')
      .execute();
    return rows.map((r) => ({ ...r, start_ms: r.start_ms ?? 0 }));
  }

  /** The first DIGEST_READ_LIMITS.chunksPerEpisode chunks of each episode. */
  async chunks(keys: readonly string[]): Promise<ChunkRow[]> {
    if (!keys.length) return [];
    const rows = await sql<ChunkRow>`
      SELECT episode_key, idx, text, start_ms, end_ms FROM (
        SELECT episode_key, idx, text, start_ms, end_ms, row_number() OVER (PARTITION BY episode_key ORDER BY idx) AS n
        FROM chunks WHERE episode_key = any(${[...keys]}::text[])) c
      WHERE n <= ${DIGEST_READ_LIMITS.chunksPerEpisode}
      ORDER BY episode_key, idx`.execute(this.db);
    return rows.rows;
  }

  /** The topics, people and organisations each episode mentions (kg.json's episode MENTIONS edges), with the edge's weight. */
  async entities(keys: readonly string[]): Promise<EntityRow[]> {
    if (!keys.length) return [];
    const rows = await sql<{ episode_key: string; id: string; kind: string; label: string; weight: string | null }>`
      SELECT e.episode_key, n.id, n.kind, n.label, e.props->>'weight' AS weight
      FROM kg_edges e JOIN kg_nodes n ON n.id = e.target_id
      WHERE e.episode_key = any(${[...keys]}::text[]) AND e.kind = 'MENTIONS' AND e.source_id = 'episode:' || e.episode_key
        AND n.kind = any(${ENTITY_KINDS}::text[])`.execute(this.db);
    return rows.rows.map((r) => ({ ...r, weight: Math.max(1, Number(r.weight) || 1) }));
  }

  /**
   * Per entity and window: how many processed episodes of the tenant's feeds mention it, for the
   * window [to - len, to) (bucket 0) and the `windowsBefore` windows of the same length before it.
   */
  async trendCounts(tenantId: string, from: Date, to: Date, windowsBefore: number): Promise<TrendCountRow[]> {
    const lenMs = to.getTime() - from.getTime();
    const start = new Date(from.getTime() - windowsBefore * lenMs);
    const rows = await sql<{ id: string; kind: string; label: string; bucket: number; episodes: string }>`
      WITH eps AS (
        SELECT e.episode_key, floor(extract(epoch FROM (${to}::timestamptz - coalesce(e.published_at, e.created_at))) * 1000 / ${lenMs})::int AS bucket
        FROM episodes e JOIN subscriptions s ON s.feed_id = e.feed_id AND s.tenant_id = ${tenantId}
        WHERE e.state = 'done' AND coalesce(e.published_at, e.created_at) >= ${start} AND coalesce(e.published_at, e.created_at) < ${to})
      SELECT n.id, n.kind, n.label, eps.bucket, count(DISTINCT eps.episode_key) AS episodes
      FROM eps JOIN kg_edges k ON k.episode_key = eps.episode_key AND k.kind = 'MENTIONS' AND k.source_id = 'episode:' || eps.episode_key
        JOIN kg_nodes n ON n.id = k.target_id AND n.kind = any(${ENTITY_KINDS}::text[])
      GROUP BY n.id, n.kind, n.label, eps.bucket`.execute(this.db);
    return rows.rows.map((r) => ({ ...r, bucket: Number(r.bucket), episodes: Number(r.episodes) }));
  }

  /** Whether the tenant had any processed episode before `before` in the `windowsBefore` windows (else every trend is new for lack of history). */
  async processedBefore(tenantId: string, start: Date, before: Date): Promise<number> {
    const r = await sql<{ n: string }>`
      SELECT count(*) AS n FROM episodes e JOIN subscriptions s ON s.feed_id = e.feed_id AND s.tenant_id = ${tenantId}
      WHERE e.state = 'done' AND coalesce(e.published_at, e.created_at) >= ${start} AND coalesce(e.published_at, e.created_at) < ${before}`.execute(this.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  // --- stored digests ----------------------------------------------------------------------

  /**
   * Stores a digest. A scheduled one is stored once per (tenant, window) (a unique index): when
   * one is there already, nothing is written and null comes back.
   */
  async insert(d: { tenantId: string; from: Date; to: Date; kind: string; trigger: string; body: DigestBody; durationMs: number }): Promise<StoredDigest | null> {
    const row = await this.db
      .insertInto('digests')
      .values({ tenant_id: d.tenantId, period_start: d.from, period_end: d.to, kind: d.kind, trigger: d.trigger, body: JSON.stringify(d.body), duration_ms: d.durationMs })
      .onConflict((oc) => oc.columns(['tenant_id', 'period_start', 'period_end']).where('trigger', '=', 'scheduled').doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? this.toStored(row) : null;
  }

  async get(tenantId: string, id: string): Promise<StoredDigest | null> {
    if (!/^\d{1,18}$/.test(id)) return null;
    const row = await this.db.selectFrom('digests').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id as never).executeTakeFirst();
    return row ? this.toStored(row) : null;
  }

  async latest(tenantId: string): Promise<StoredDigest | null> {
    const row = await this.db.selectFrom('digests').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row ? this.toStored(row) : null;
  }

  /** The scheduled digest of exactly this window, if one was made. */
  async scheduled(tenantId: string, from: Date, to: Date): Promise<StoredDigest | null> {
    const row = await this.db
      .selectFrom('digests')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('trigger', '=', 'scheduled')
      .where('period_start', '=', from)
      .where('period_end', '=', to)
      .executeTakeFirst();
    return row ? this.toStored(row) : null;
  }

  /** Newest first, `limit` of them, optionally those older than the digest `beforeId`. */
  async list(tenantId: string, limit: number, beforeId?: string): Promise<DigestListItem[]> {
    let q = this.db
      .selectFrom('digests')
      .select(['id', 'period_start', 'period_end', 'kind', 'trigger', 'created_at', 'duration_ms'])
      .select([
        sql<number>`jsonb_array_length(coalesce(body->'episodes', '[]'))`.as('n_episodes'),
        sql<number>`jsonb_array_length(coalesce(body->'clusters', '[]'))`.as('n_clusters'),
        sql<number>`jsonb_array_length(coalesce(body->'trends', '[]'))`.as('n_trends'),
        sql<number>`jsonb_array_length(coalesce(body->'shows', '[]'))`.as('n_shows'),
      ])
      .where('tenant_id', '=', tenantId);
    if (beforeId) q = q.where('id', '<', beforeId as never);
    const rows = await q.orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: String(r.id),
      from: iso(r.period_start),
      to: iso(r.period_end),
      kind: r.kind,
      trigger: r.trigger,
      created_at: iso(r.created_at),
      duration_ms: r.duration_ms,
      counts: { episodes: Number(r.n_episodes), clusters: Number(r.n_clusters), trends: Number(r.n_trends), shows: Number(r.n_shows) },
    }));
  }

  /** Tenants that follow at least one feed (the scheduled digest is made for these). */
  async tenantsWithSubscriptions(): Promise<string[]> {
    const rows = await this.db.selectFrom('subscriptions').select('tenant_id').distinct().orderBy('tenant_id').execute();
    return rows.map((r) => r.tenant_id);
  }

  /** Whether the tenant has a scheduled digest whose window ended before `before` (a schedule that ran here before). */
  async hasScheduledBefore(tenantId: string, before: Date): Promise<boolean> {
    const row = await this.db.selectFrom('digests').select('id').where('tenant_id', '=', tenantId).where('trigger', '=', 'scheduled').where('period_end', '<', before).limit(1).executeTakeFirst();
    return Boolean(row);
  }

  private toStored(r: { id: string; tenant_id: string; period_start: Date; period_end: Date; kind: string; trigger: string; created_at: Date; duration_ms: number | null; body: unknown }): StoredDigest {
    return {
      id: String(r.id),
      tenant_id: r.tenant_id,
      from: iso(r.period_start),
      to: iso(r.period_end),
      kind: r.kind,
      trigger: r.trigger,
      created_at: iso(r.created_at),
      duration_ms: r.duration_ms,
      body: r.body as DigestBody,
    };
  }
}
