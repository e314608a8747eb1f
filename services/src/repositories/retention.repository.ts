import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database } from '../db/database';

export interface DoneEpisode {
  episodeKey: string;
  feedId: string;
}

/** Which feeds a query covers: these only, or every feed but these (the ones with their own retention). */
export type FeedScope = { only: readonly string[] } | { except: readonly string[] };

export interface FeedRetentionOverride {
  feedId: string;
  /** The feed's own AUDIO_RETENTION spec as stored (feeds.policy audioRetention). */
  spec: string;
}

/** The episodes whose audio retention (control/retention.ts) may delete: `done` ones only, never another state. */
@Injectable()
export class RetentionRepository {
  constructor(private readonly database: Database) {}

  /** Feeds with their own audio retention (feeds/policy.ts audioRetention). */
  async feedOverrides(): Promise<FeedRetentionOverride[]> {
    const rows = await this.database.db
      .selectFrom('feeds')
      .select(['id', sql<string>`policy->>'audioRetention'`.as('spec')])
      .where(sql<boolean>`policy->>'audioRetention' IS NOT NULL`)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ feedId: r.id, spec: r.spec }));
  }

  /** Every done episode (of the feeds in `scope`, default all), oldest first (publication date; undated ones count as oldest), for the disk budget. */
  async doneOldestFirst(scope?: FeedScope): Promise<DoneEpisode[]> {
    const rows = await this.database.db
      .selectFrom('episodes')
      .select(['episode_key', 'feed_id'])
      .where('state', '=', 'done')
      .$if(scope !== undefined, (q) => q.where(inScope(scope!)))
      .orderBy(sql`published_at ASC NULLS FIRST`)
      .orderBy('episode_key')
      .execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id }));
  }

  /** Done episodes (of the feeds in `scope`, default all) beyond the `keep` newest done episodes of their feed (AUDIO_RETENTION=last:N). */
  async doneBeyondNewest(keep: number, scope?: FeedScope): Promise<DoneEpisode[]> {
    const rows = await this.database.db
      .selectFrom((db) =>
        db
          .selectFrom('episodes')
          .select(['episode_key', 'feed_id', sql<number>`row_number() OVER (PARTITION BY feed_id ORDER BY published_at DESC NULLS LAST, episode_key DESC)`.as('rank')])
          .where('state', '=', 'done')
          .$if(scope !== undefined, (q) => q.where(inScope(scope!)))
          .as('ranked'),
      )
      .select(['episode_key', 'feed_id'])
      .where('rank', '>', keep)
      .orderBy('episode_key')
      .execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id }));
  }

  /** Whether the episode is still done (checked again right before its audio goes: it may be reprocessing now). */
  async isDone(episodeKey: string): Promise<boolean> {
    const r = await this.database.db.selectFrom('episodes').select('state').where('episode_key', '=', episodeKey).executeTakeFirst();
    return r?.state === 'done';
  }
}

/** The feed_id condition of a scope (an empty `only` matches nothing, an empty `except` everything). */
function inScope(scope: FeedScope) {
  if ('only' in scope) return scope.only.length ? sql<boolean>`feed_id = ANY(${[...scope.only]}::text[])` : sql<boolean>`false`;
  return scope.except.length ? sql<boolean>`NOT (feed_id = ANY(${[...scope.except]}::text[]))` : sql<boolean>`true`;
}
