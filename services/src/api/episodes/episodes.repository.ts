import type { ApiDatabase } from '../database';
import { ApiError } from '../errors';
import { isKey } from '../validation';

/** web/src/api/types.ts `EpisodeSummary` / `EpisodeDetail`. */
export interface EpisodeSummaryView {
  episode_key: string;
  feed_id: string;
  feed_title: string | null;
  title: string;
  published_at: string | null;
  duration_s: number | null;
  state: string;
  state_reason: string | null;
  failed_stage: string | null;
  /** Why the last attempt failed (the stage's error, e.g. "cannot resolve the host of …"); null if it never failed. */
  last_error: string | null;
  updated_at: string;
}

export interface EpisodeDetailView extends EpisodeSummaryView {
  description: string | null;
  image: string | null;
  enclosure_url: string | null;
  audio_url: string | null;
}

/** A summary as Postgres returns it (SUMMARY_COLUMNS), plus the keyset sort key. */
type EpisodeRow = EpisodeSummaryView & { sort_key: string };

// Field by field: detail rows carry more columns (source, enclosure) that are not part of a summary.
const toSummary = (r: EpisodeRow): EpisodeSummaryView => ({
  episode_key: r.episode_key,
  feed_id: r.feed_id,
  feed_title: r.feed_title,
  title: r.title,
  published_at: r.published_at,
  duration_s: r.duration_s,
  state: r.state,
  state_reason: r.state_reason,
  failed_stage: r.failed_stage,
  last_error: r.last_error,
  updated_at: r.updated_at,
});

/** Keyset cursor: the last row's (sort key, episode_key), opaque to clients. */
export function encodeCursor(sortKey: string, key: string): string {
  return Buffer.from(JSON.stringify([sortKey, key])).toString('base64url');
}

/** timestamptz as text (`published_at::text`), e.g. 2024-01-01 00:00:00+00; nothing else reaches the query. */
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:\d{2}){0,2}|Z)?$/;

export function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    // Both parts go to Postgres: a key as the API hands them out, a timestamp as Postgres wrote it.
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isKey(v[1]) && (v[0] === '-infinity' || (PG_TIMESTAMP.test(v[0]) && !Number.isNaN(Date.parse(v[0]))))) {
      return [v[0], v[1]];
    }
  } catch {
    /* fall through */
  }
  throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API handed out; start again without it');
}

// Newest first; undated episodes last. The sort key is text so the cursor round-trips exactly.
const SORT = `COALESCE(e.published_at, '-infinity'::timestamptz)`;
// Timestamps leave Postgres as the very text Date#toISOString() makes: no row pays for a
// text → Date → text round trip in the api (it was a tenth of a page request's CPU).
const isoText = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const SUMMARY_COLUMNS = `e.episode_key, e.feed_id, f.title AS feed_title, e.title, ${isoText('e.published_at')} AS published_at, e.duration_s,
  e.state::text AS state, e.state_reason, e.failed_stage, e.last_error, ${isoText('e.updated_at')} AS updated_at`;

/** How long a tenant's page strategy (see `readsNewestIndex`) is kept before it is counted again. */
const STRATEGY_TTL_MS = 30_000;

export class ApiEpisodesRepository {
  private readonly strategies = new Map<string, { newestIndex: boolean; until: number }>();

  /** `plan` pins the dated-page plan (tests compare the two); by default it is picked per tenant. */
  constructor(
    private readonly db: ApiDatabase,
    private readonly plan: 'auto' | 'newest-index' | 'per-feed' = 'auto',
  ) {}

  /**
   * Newest first, undated episodes last, keyset-paginated; undated ones follow the dated ones.
   * Dated episodes come one of two ways, whichever reads fewer rows for this tenant: down the
   * global (published_at DESC, episode_key DESC) index, skipping other tenants' feeds, or as a
   * top-N per subscribed feed over (feed_id, published_at DESC) merged by Postgres.
   */
  async list(tenantId: string, p: { limit: number; cursor?: string; feedId?: string; state?: string }): Promise<{ items: EpisodeSummaryView[]; next_cursor: string | null }> {
    const cursor = p.cursor ? decodeCursor(p.cursor) : null;
    const undatedPhase = cursor?.[0] === '-infinity';
    const want = p.limit + 1;
    let rows: EpisodeRow[] = [];
    if (!undatedPhase) {
      rows = !p.feedId && !p.state && (await this.readsNewestIndex(tenantId)) ? await this.listDatedNewest(tenantId, cursor, want) : await this.listDated(tenantId, p, cursor, want);
    }
    if (rows.length < want) {
      const undated = await this.listUndated(tenantId, p, undatedPhase ? cursor![1] : null, want - rows.length);
      rows = rows.concat(undated);
    }
    const more = rows.length > p.limit;
    const page = more ? rows.slice(0, p.limit) : rows;
    const last = page[page.length - 1];
    return { items: page.map(toSummary), next_cursor: more && last ? encodeCursor(last.sort_key, last.episode_key) : null };
  }

  private scope(tenantId: string, p: { feedId?: string; state?: string }): { params: unknown[]; subs: string; state: string } {
    const params: unknown[] = [tenantId];
    const subs = `SELECT feed_id FROM subscriptions WHERE tenant_id = $1${p.feedId ? ` AND feed_id = $${params.push(p.feedId)}` : ''}`;
    const state = p.state ? ` AND e.state = $${params.push(p.state)}::episode_state` : '';
    return { params, subs, state };
  }

  /**
   * The global index yields limit / share rows to find a page when the tenant's feeds hold
   * `share` of all episodes; the per-feed merge reads feeds × limit. With feeds of similar
   * size share ≈ mine / all, so the global index wins when mine² ≥ all (one tenant subscribed
   * to everything, the usual self-hosted case: 51 rows per page). Counted every 30 s: it only
   * picks a plan, the rows are the same either way.
   */
  private async readsNewestIndex(tenantId: string): Promise<boolean> {
    if (this.plan !== 'auto') return this.plan === 'newest-index';
    const known = this.strategies.get(tenantId);
    if (known && known.until > Date.now()) return known.newestIndex;
    const [c] = await this.db.prepared<{ mine: number; feeds: number }>(
      `SELECT (SELECT count(*) FROM subscriptions WHERE tenant_id = $1)::int AS mine, (SELECT count(*) FROM feeds)::int AS feeds`,
      [tenantId],
    );
    const newestIndex = !!c && c.mine > 0 && c.mine * c.mine >= c.feeds;
    if (this.strategies.size > 10_000) this.strategies.clear();
    this.strategies.set(tenantId, { newestIndex, until: Date.now() + STRATEGY_TTL_MS });
    return newestIndex;
  }

  private listDatedNewest(tenantId: string, cursor: [string, string] | null, want: number): Promise<EpisodeRow[]> {
    const params: unknown[] = [tenantId, want];
    const after = cursor ? ` AND e.published_at <= $3::timestamptz AND (e.published_at, e.episode_key) < ($3::timestamptz, $4)` : '';
    if (cursor) params.push(cursor[0], cursor[1]);
    return this.db.prepared<EpisodeRow>(
      `SELECT ${SUMMARY_COLUMNS}, e.published_at::text AS sort_key FROM episodes e JOIN feeds f ON f.id = e.feed_id
       WHERE e.feed_id IN (SELECT feed_id FROM subscriptions WHERE tenant_id = $1) AND e.published_at IS NOT NULL${after}
       ORDER BY e.published_at DESC, e.episode_key DESC LIMIT $2`,
      params,
    );
  }

  private listDated(tenantId: string, p: { feedId?: string; state?: string }, cursor: [string, string] | null, want: number): Promise<EpisodeRow[]> {
    const { params, subs, state } = this.scope(tenantId, p);
    let after = '';
    if (cursor) {
      const at = params.push(cursor[0]);
      const key = params.push(cursor[1]);
      after = ` AND e.published_at <= $${at}::timestamptz AND (e.published_at, e.episode_key) < ($${at}::timestamptz, $${key})`;
    }
    const n = params.push(want);
    return this.db.prepared<EpisodeRow>(
      `SELECT ${SUMMARY_COLUMNS}, e.published_at::text AS sort_key
       FROM (${subs}) s CROSS JOIN LATERAL (
         SELECT e.episode_key, e.feed_id, e.title, e.published_at, e.duration_s, e.state, e.state_reason, e.failed_stage, e.last_error, e.updated_at
         FROM episodes e WHERE e.feed_id = s.feed_id AND e.published_at IS NOT NULL${state}${after}
         ORDER BY e.published_at DESC, e.episode_key DESC LIMIT $${n}) e
       JOIN feeds f ON f.id = e.feed_id
       ORDER BY e.published_at DESC, e.episode_key DESC LIMIT $${n}`,
      params,
    );
  }

  private listUndated(tenantId: string, p: { feedId?: string; state?: string }, afterKey: string | null, want: number): Promise<EpisodeRow[]> {
    const { params, subs, state } = this.scope(tenantId, p);
    const after = afterKey === null ? '' : ` AND e.episode_key < $${params.push(afterKey)}`;
    const n = params.push(want);
    return this.db.prepared<EpisodeRow>(
      `SELECT ${SUMMARY_COLUMNS}, '-infinity' AS sort_key FROM episodes e JOIN feeds f ON f.id = e.feed_id
       WHERE e.feed_id IN (${subs}) AND e.published_at IS NULL${state}${after}
       ORDER BY e.episode_key DESC LIMIT $${n}`,
      params,
    );
  }

  /** An episode of a subscribed feed, or null (other tenants' episodes are invisible, not forbidden). */
  async detail(tenantId: string, key: string): Promise<EpisodeDetailView | null> {
    const rows = await this.db.query<EpisodeRow & { source: Record<string, unknown> | null; enclosure: { url?: string } | null }>(
      `SELECT ${SUMMARY_COLUMNS}, ${SORT}::text AS sort_key, e.source, e.enclosure FROM episodes e JOIN feeds f ON f.id = e.feed_id
       WHERE e.episode_key = $2 AND e.feed_id IN (SELECT feed_id FROM subscriptions WHERE tenant_id = $1)`,
      [tenantId, key],
    );
    const r = rows[0];
    if (!r) return null;
    const src = r.source ?? {};
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    const enclosureUrl = str(r.enclosure?.url);
    return {
      ...toSummary(r),
      description: str(src.description) ?? str(src.summary) ?? str(src.contentHtml),
      image: str(src.image),
      enclosure_url: enclosureUrl,
      audio_url: enclosureUrl,
    };
  }

  async visible(tenantId: string, key: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM episodes e WHERE e.episode_key = $2 AND e.feed_id IN (SELECT feed_id FROM subscriptions WHERE tenant_id = $1)`, [tenantId, key]);
    return rows.length > 0;
  }

  /** Absolute directory of the newest successful (or reused) stage run of a stage, if any. */
  async artifactDir(key: string, stage: string): Promise<string | null> {
    const rows = await this.db.query<{ artifact_path: string | null }>(
      `SELECT artifact_path FROM stage_runs WHERE episode_key = $1 AND stage = $2 AND status IN ('done', 'reused') AND artifact_path IS NOT NULL
       ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1`,
      [key, stage],
    );
    return rows[0]?.artifact_path ?? null;
  }
}
