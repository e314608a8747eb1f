import type { ApiDatabase } from '../database';
import { ApiError } from '../errors';

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
  updated_at: string;
}

export interface EpisodeDetailView extends EpisodeSummaryView {
  description: string | null;
  image: string | null;
  enclosure_url: string | null;
  audio_url: string | null;
}

interface EpisodeRow {
  episode_key: string;
  feed_id: string;
  feed_title: string | null;
  title: string;
  published_at: Date | null;
  duration_s: number | null;
  state: string;
  state_reason: string | null;
  failed_stage: string | null;
  updated_at: Date;
  sort_key: string;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

const toSummary = (r: EpisodeRow): EpisodeSummaryView => ({
  episode_key: r.episode_key,
  feed_id: r.feed_id,
  feed_title: r.feed_title,
  title: r.title,
  published_at: iso(r.published_at),
  duration_s: r.duration_s,
  state: r.state,
  state_reason: r.state_reason,
  failed_stage: r.failed_stage,
  updated_at: iso(r.updated_at) as string,
});

/** Keyset cursor: the last row's (sort key, episode_key), opaque to clients. */
export function encodeCursor(sortKey: string, key: string): string {
  return Buffer.from(JSON.stringify([sortKey, key])).toString('base64url');
}

export function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && (v[0] === '-infinity' || !Number.isNaN(Date.parse(v[0])))) {
      return [v[0], v[1]];
    }
  } catch {
    /* fall through */
  }
  throw new ApiError(400, 'invalid_cursor', 'cursor is not one this API handed out; start again without it');
}

// Newest first; undated episodes last. The sort key is text so the cursor round-trips exactly.
const SORT = `COALESCE(e.published_at, '-infinity'::timestamptz)`;
const SUMMARY_COLUMNS = `e.episode_key, e.feed_id, f.title AS feed_title, e.title, e.published_at, e.duration_s, e.state::text AS state,
  e.state_reason, e.failed_stage, e.updated_at`;

export class ApiEpisodesRepository {
  constructor(private readonly db: ApiDatabase) {}

  /**
   * Newest first, undated episodes last, keyset-paginated. Dated episodes come from a top-N per
   * subscribed feed over the (feed_id, published_at DESC) index merged by Postgres, so a page
   * costs O(feeds × limit) index reads instead of sorting every episode; undated ones follow.
   */
  async list(tenantId: string, p: { limit: number; cursor?: string; feedId?: string; state?: string }): Promise<{ items: EpisodeSummaryView[]; next_cursor: string | null }> {
    const cursor = p.cursor ? decodeCursor(p.cursor) : null;
    const undatedPhase = cursor?.[0] === '-infinity';
    const want = p.limit + 1;
    let rows: EpisodeRow[] = [];
    if (!undatedPhase) rows = await this.listDated(tenantId, p, cursor, want);
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

  private listDated(tenantId: string, p: { feedId?: string; state?: string }, cursor: [string, string] | null, want: number): Promise<EpisodeRow[]> {
    const { params, subs, state } = this.scope(tenantId, p);
    let after = '';
    if (cursor) {
      const at = params.push(cursor[0]);
      const key = params.push(cursor[1]);
      after = ` AND e.published_at <= $${at}::timestamptz AND (e.published_at, e.episode_key) < ($${at}::timestamptz, $${key})`;
    }
    const n = params.push(want);
    return this.db.query<EpisodeRow>(
      `SELECT ${SUMMARY_COLUMNS}, e.published_at::text AS sort_key
       FROM (${subs}) s CROSS JOIN LATERAL (
         SELECT e.episode_key, e.feed_id, e.title, e.published_at, e.duration_s, e.state, e.state_reason, e.failed_stage, e.updated_at
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
    return this.db.query<EpisodeRow>(
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
