import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database } from '../db/database';

export interface DoneEpisode {
  episodeKey: string;
  feedId: string;
}

/** The episodes whose audio retention (control/retention.ts) may delete: `done` ones only, never another state. */
@Injectable()
export class RetentionRepository {
  constructor(private readonly database: Database) {}

  /** Every done episode, oldest first (publication date; undated ones count as oldest), for the disk budget. */
  async doneOldestFirst(): Promise<DoneEpisode[]> {
    const rows = await this.database.db
      .selectFrom('episodes')
      .select(['episode_key', 'feed_id'])
      .where('state', '=', 'done')
      .orderBy(sql`published_at ASC NULLS FIRST`)
      .orderBy('episode_key')
      .execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id }));
  }

  /** Done episodes beyond the `keep` newest done episodes of their feed (AUDIO_RETENTION=last:N). */
  async doneBeyondNewest(keep: number): Promise<DoneEpisode[]> {
    const rows = await this.database.db
      .selectFrom((db) =>
        db
          .selectFrom('episodes')
          .select(['episode_key', 'feed_id', sql<number>`row_number() OVER (PARTITION BY feed_id ORDER BY published_at DESC NULLS LAST, episode_key DESC)`.as('rank')])
          .where('state', '=', 'done')
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
