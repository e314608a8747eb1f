import { Injectable } from '@nestjs/common';
import type { ChapterView } from '../api/contract/chapters';
import { Database } from '../db/database';

export type { ChapterView } from '../api/contract/chapters';

/** chapters: each episode's projected chapters (chapters/); the project stage replaces them whole. */
@Injectable()
export class ChapterRepository {
  constructor(private readonly database: Database) {}

  /** The episode's chapters ordered by start ([] when none). Not tenant-scoped: callers check visibility. */
  async forEpisode(episodeKey: string): Promise<ChapterView[]> {
    const rows = await this.database.db
      .selectFrom('chapters')
      .select(['start_ms', 'end_ms', 'title', 'source', 'url', 'image'])
      .where('episode_key', '=', episodeKey)
      .orderBy('start_ms')
      .orderBy('idx')
      .execute();
    return rows.map((r) => ({
      start_ms: r.start_ms,
      end_ms: r.end_ms,
      title: r.title,
      source: r.source === 'publisher' ? 'publisher' : 'generated',
      url: r.url,
      image: r.image,
    }));
  }
}
