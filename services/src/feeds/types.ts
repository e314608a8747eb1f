export interface Enclosure {
  url: string;
  type: string | null;
  length: number | null;
}

export interface TranscriptRef {
  url: string;
  /** MIME type as published, e.g. application/srt, text/vtt, application/json, text/html, text/plain. */
  type: string;
  language: string | null;
  rel?: string | null;
}

export interface PodcastPerson {
  name: string;
  role: string | null;
  group: string | null;
  href: string | null;
  img: string | null;
}

export interface ParsedEpisode {
  guid: string | null;
  title: string;
  description: string | null;
  link: string | null;
  image: string | null;
  /** ISO 8601, or null when absent or unparseable. */
  published: string | null;
  durationS: number | null;
  /** The episode's media: first audio/video enclosure (else first non-image one). */
  enclosure: Enclosure | null;
  /** Every enclosure in document order (<enclosure>, then media:content). Always set by parseFeed. */
  enclosures?: Enclosure[];
  /** content:encoded (or Atom html content) as published. Always set by parseFeed. */
  contentHtml?: string | null;
  transcripts: TranscriptRef[];
  chaptersUrl: string | null;
  persons: PodcastPerson[];
  season: number | null;
  episode: number | null;
  episodeType: 'full' | 'trailer' | 'bonus' | null;
  explicit: boolean | null;
  author: string | null;
}

export interface ParsedFeed {
  format: 'rss' | 'atom';
  title: string;
  link: string | null;
  image: string | null;
  description: string | null;
  author: string | null;
  language: string | null;
  podcastGuid: string | null;
  explicit: boolean | null;
  /** itunes:type: serial shows are listened to oldest first. Always set by parseFeed. */
  showType?: 'episodic' | 'serial' | null;
  episodes: ParsedEpisode[];
  /** Non-fatal problems met while parsing (recovered malformed XML, dropped items, ...). */
  warnings: string[];
}

/** A parsed episode with its identity (ARCHITECTURE §2). */
export interface FeedEpisode extends ParsedEpisode {
  feedId: string;
  feedUrl: string;
  episodeKey: string;
  /** The feed's own AUDIO_DOWNLOAD (its policy), set when loaded from the catalog; absent or null: the appliance's. */
  feedAudioDownload?: 'always' | 'when-needed' | null;
}

/** A feed's HTTP cache validators (conditional GET), kept in its feed state and on its feed row. */
export interface FeedCacheValidators {
  etag?: string | null;
  lastModified?: string | null;
}
