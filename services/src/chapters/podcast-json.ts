import type { ChapterView } from '../api/contract/chapters';

/** A Podcasting 2.0 chapters document (https://github.com/Podcastindex-org/podcast-namespace/blob/main/chapters/jsonChapters.md). */
export interface PodcastChaptersJson {
  version: '1.2.0';
  chapters: Array<{ startTime: number; endTime?: number; title: string; img?: string; url?: string }>;
}

/**
 * An episode's chapters (ChapterRepository.forEpisode) as a `podcast:chapters` JSON document,
 * times in seconds (ms precision). For the private re-feed (api/refeed/): its chapters URL serves
 * this with content type `application/json+chapters`. Podcast apps read it; nothing here parses it.
 */
export function toPodcastChaptersJson(chapters: readonly ChapterView[]): PodcastChaptersJson {
  return {
    version: '1.2.0',
    chapters: chapters.map((c) => ({
      startTime: c.start_ms / 1000,
      ...(c.end_ms !== null ? { endTime: c.end_ms / 1000 } : {}),
      title: c.title,
      ...(c.image ? { img: c.image } : {}),
      ...(c.url ? { url: c.url } : {}),
    })),
  };
}

/** The media type the Podcasting 2.0 spec gives a chapters document. */
export const PODCAST_CHAPTERS_CONTENT_TYPE = 'application/json+chapters';
