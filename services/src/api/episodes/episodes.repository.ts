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

  async list(tenantId: string, p: { limit: number; cursor?: string; feedId?: string; state?: string }): Promise<{ items: EpisodeSummaryView[]; next_cursor: string | null }> {
    const params: unknown[] = [tenantId];
    const where = [`e.feed_id IN (SELECT feed_id FROM subscriptions WHERE tenant_id = $1)`];
    if (p.feedId) where.push(`e.feed_id = $${params.push(p.feedId)}`);
    if (p.state) where.push(`e.state = $${params.push(p.state)}::episode_state`);
    if (p.cursor) {
      const [sortKey, key] = decodeCursor(p.cursor);
      where.push(`(${SORT}, e.episode_key) < ($${params.push(sortKey)}::timestamptz, $${params.push(key)})`);
    }
    const limit = params.push(p.limit + 1);
    const rows = await this.db.query<EpisodeRow>(
      `SELECT ${SUMMARY_COLUMNS}, ${SORT}::text AS sort_key FROM episodes e JOIN feeds f ON f.id = e.feed_id
       WHERE ${where.join(' AND ')} ORDER BY ${SORT} DESC, e.episode_key DESC LIMIT $${limit}`,
      params,
    );
    const more = rows.length > p.limit;
    const page = more ? rows.slice(0, p.limit) : rows;
    const last = page[page.length - 1];
    return { items: page.map(toSummary), next_cursor: more && last ? encodeCursor(last.sort_key, last.episode_key) : null };
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
