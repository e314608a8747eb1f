import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database, QueryTemplate } from '../db/database';
import type { PlaybackEntryView, PlaybackView } from '../api/contract/playback';

export type { PlaybackView } from '../api/contract/playback';

/** What the Library's rows carry of a tenant's playback state. */
export interface PlaybackMark {
  position_ms: number;
  played: boolean;
}

export const NOT_STARTED: PlaybackMark = Object.freeze({ position_ms: 0, played: false });

type SaveParams = { tenantId: string; key: string; positionMs: number; durationMs: number | null; played: boolean | null };
type MarksParams = { tenantId: string; keys: string[] };

// Timestamps leave Postgres as the text Date#toISOString() makes (as in episodes.repository.ts).
const isoText = (column: string) => sql<string>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * playback: where each tenant's listener left an episode and whether it is played (issue 18).
 * Every write is one statement that also checks the episode is the tenant's (a feed it subscribes
 * to): nothing is written for others' episodes, and the caller learns it from the empty answer.
 */
@Injectable()
export class PlaybackRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  private subscribedFeeds(tenantId: string) {
    return this.db.selectFrom('subscriptions').select('feed_id').where('tenant_id', '=', tenantId);
  }

  /**
   * The player's save, every few seconds while it plays: one upsert, a named prepared statement.
   * duration_ms null keeps the stored one (and the position is clamped to it); played null keeps it
   * (false for a first save).
   * Null when the episode is not the tenant's.
   */
  private saveQuery?: QueryTemplate<SaveParams, PlaybackView>;
  private get saveTemplate(): QueryTemplate<SaveParams, PlaybackView> {
    return (this.saveQuery ??= this.buildSave());
  }

  private buildSave(): QueryTemplate<SaveParams, PlaybackView> {
    return new QueryTemplate<SaveParams, PlaybackView>((v) =>
    this.db
      .insertInto('playback')
      .columns(['tenant_id', 'episode_key', 'position_ms', 'duration_ms', 'played'])
      .expression((eb) =>
        eb
          .selectFrom('episodes as e')
          .select([
            sql<string>`${v.tenantId}::text`.as('tenant_id'),
            'e.episode_key',
            sql<number>`${v.positionMs}::integer`.as('position_ms'),
            sql<number | null>`${v.durationMs}::integer`.as('duration_ms'),
            sql<boolean>`COALESCE(${v.played}::boolean, false)`.as('played'),
          ])
          .where('e.episode_key', '=', v.key)
          .where('e.feed_id', 'in', this.subscribedFeeds(v.tenantId)),
      )
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'episode_key']).doUpdateSet({
          // A save without a duration cannot pass the one measured before (LEAST skips a null): the
          // position stays inside the audio. A save with one was checked against it (400 past it).
          position_ms: sql<number>`LEAST(excluded.position_ms, COALESCE(excluded.duration_ms, playback.duration_ms))`,
          duration_ms: sql<number | null>`COALESCE(excluded.duration_ms, playback.duration_ms)`,
          played: sql<boolean>`COALESCE(${v.played}::boolean, playback.played)`,
          updated_at: sql<Date>`now()`,
        }),
      )
      .returning(['episode_key', 'position_ms', 'duration_ms', 'played', isoText('updated_at').as('updated_at')]),
    );
  }

  async save(tenantId: string, key: string, p: { positionMs: number; durationMs?: number; played?: boolean }): Promise<PlaybackView | null> {
    const [row] = await this.database.preparedTemplate(this.saveTemplate, { tenantId, key, positionMs: p.positionMs, durationMs: p.durationMs ?? null, played: p.played ?? null });
    return row ?? null;
  }

  /** The tenant's state of one of its episodes (never saved: position 0, unplayed); null when not its episode. */
  async read(tenantId: string, key: string): Promise<PlaybackView | null> {
    const r = await this.db
      .selectFrom('episodes as e')
      .leftJoin('playback as p', (j) => j.onRef('p.episode_key', '=', 'e.episode_key').on('p.tenant_id', '=', tenantId))
      .select(['e.episode_key', 'p.position_ms', 'p.duration_ms', 'p.played', isoText('p.updated_at').as('updated_at')])
      .where('e.episode_key', '=', key)
      .where('e.feed_id', 'in', this.subscribedFeeds(tenantId))
      .executeTakeFirst();
    if (!r) return null;
    return { episode_key: r.episode_key, position_ms: r.position_ms ?? 0, duration_ms: r.duration_ms ?? null, played: r.played ?? false, updated_at: r.updated_at ?? null };
  }

  /**
   * The tenant's saved states of episodes it still follows, most recently saved first: in progress
   * (started, not played: "continue listening", the partial index), played, or all.
   */
  async list(tenantId: string, p: { filter: 'in_progress' | 'played' | 'all'; limit: number }): Promise<PlaybackEntryView[]> {
    let q = this.db
      .selectFrom('playback as p')
      .innerJoin('episodes as e', 'e.episode_key', 'p.episode_key')
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .select(['p.episode_key', 'p.position_ms', 'p.duration_ms', 'p.played', isoText('p.updated_at').as('updated_at'), 'e.title', 'e.feed_id', 'f.title as feed_title', 'e.duration_s', sql<string | null>`COALESCE(NULLIF(e.source->>'image', ''), f.image)`.as('image')])
      .where('p.tenant_id', '=', tenantId)
      .where('e.feed_id', 'in', this.subscribedFeeds(tenantId));
    if (p.filter === 'in_progress') q = q.where('p.played', '=', false).where('p.position_ms', '>', 0);
    if (p.filter === 'played') q = q.where('p.played', '=', true);
    return q.orderBy('p.updated_at', 'desc').orderBy('p.episode_key').limit(p.limit).execute();
  }

  /**
   * Played or unplayed, several at once (one statement): played keeps the position, unplayed puts
   * it back to 0. Answers the keys written; keys that are not the tenant's episodes are left out.
   */
  async mark(tenantId: string, keys: readonly string[], played: boolean): Promise<string[]> {
    const unique = [...new Set(keys)];
    if (!unique.length) return [];
    const rows = await this.db
      .insertInto('playback')
      .columns(['tenant_id', 'episode_key', 'position_ms', 'played'])
      .expression((eb) =>
        eb
          .selectFrom('episodes as e')
          .select([sql<string>`${tenantId}::text`.as('tenant_id'), 'e.episode_key', sql<number>`0`.as('position_ms'), sql<boolean>`${played}::boolean`.as('played')])
          .where('e.episode_key', 'in', unique)
          .where('e.feed_id', 'in', this.subscribedFeeds(tenantId)),
      )
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'episode_key']).doUpdateSet({
          played: (eb) => eb.ref('excluded.played'),
          position_ms: sql<number>`CASE WHEN excluded.played THEN playback.position_ms ELSE 0 END`,
          updated_at: sql<Date>`now()`,
        }),
      )
      .returning('episode_key')
      .execute();
    return rows.map((r) => r.episode_key);
  }

  private marksQuery?: QueryTemplate<MarksParams, { episode_key: string } & PlaybackMark>;
  private get marksTemplate(): QueryTemplate<MarksParams, { episode_key: string } & PlaybackMark> {
    return (this.marksQuery ??= new QueryTemplate((v: MarksParams) =>
      this.db
        .selectFrom('playback')
        .select(['episode_key', 'position_ms', 'played'])
        .where('tenant_id', '=', v.tenantId)
        .where('episode_key', '=', (eb) => eb.fn.any(eb.val(v.keys))),
    ));
  }

  /** The Library's playback columns for a page of episodes (one indexed read); absent keys were never saved. */
  async marksFor(tenantId: string, keys: readonly string[]): Promise<Map<string, PlaybackMark>> {
    if (!keys.length) return new Map();
    const rows = await this.database.preparedTemplate(this.marksTemplate, { tenantId, keys: [...keys] });
    return new Map(rows.map((r) => [r.episode_key, { position_ms: r.position_ms, played: r.played }]));
  }
}
