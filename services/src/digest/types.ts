/**
 * What a digest is (issue 17): stored as `digests.body` and answered by the api as it is, with the
 * row's id and window. Bump DIGEST_VERSION when the shape changes.
 */
export const DIGEST_VERSION = 1;

export type DigestTrigger = 'scheduled' | 'manual';

export interface DigestEpisode {
  episode_key: string;
  title: string;
  feed_id: string;
  feed_title: string;
  /** Its publication time, or when podbrain first saw it when the feed gave none. */
  published_at: string;
  /** The episode's state: only `done` ones carry a summary and take part in clusters and trends. */
  state: string;
  /** The summary's title, else its first bullet; null until the episode is processed. */
  summary: string | null;
}

export interface ClusterEpisode {
  episode_key: string;
  title: string;
  feed_id: string;
  feed_title: string;
}

export interface ClusterQuote {
  /** Verbatim from `quotes` (grounded in the transcript). */
  text: string;
  episode_key: string;
  start_ms: number;
  episode_title: string;
  feed_title: string;
}

export interface StoryCluster {
  title: string;
  title_source: 'llm' | 'extractive';
  episodes: ClusterEpisode[];
  /** Graph entities (topics, people, organisations) at least two of its episodes mention. */
  entities: string[];
  quotes: ClusterQuote[];
  /** How many different shows it spans. */
  feeds: number;
}

export type TrendKind = 'topic' | 'person' | 'organization';
export type TrendChange = 'new' | 'rising' | 'steady' | 'falling';

export interface Trend {
  label: string;
  kind: TrendKind;
  /** Episodes of the window that mention it. */
  count: number;
  /** The average per window over the windows before (same length). */
  before: number;
  change: TrendChange;
}

export interface ShowLine {
  feed_id: string;
  feed_title: string;
  episodes: number;
  line: string;
}

export interface DigestBody {
  version: number;
  from: string;
  to: string;
  episodes: DigestEpisode[];
  clusters: StoryCluster[];
  trends: Trend[];
  shows: ShowLine[];
  stats: {
    /** Episodes of the window (any state but skipped) and of those the processed ones. */
    episodes: number;
    processed: number;
    /** Insight and chunk passages compared for the clusters. */
    passages: number;
    /** How many windows before this one the trends compare with. */
    trend_windows: number;
    /** Why the clusters are titled extractively when an LLM is configured (its problem), else null. */
    llm_problem: string | null;
    embeddings: string;
  };
}

/** A stored digest: the row's id, window, trigger and timing with its body. */
export interface StoredDigest {
  id: string;
  tenant_id: string;
  from: string;
  to: string;
  kind: string;
  trigger: string;
  created_at: string;
  duration_ms: number | null;
  body: DigestBody;
}
