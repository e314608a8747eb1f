// The HTTP API contract the viewer relies on (ARCHITECTURE §8). The api role implements it.

export type EpisodeState =
  | 'pending'
  | 'downloading'
  | 'transcribing'
  | 'enriching'
  | 'indexing'
  | 'projecting'
  | 'done'
  | 'failed'
  | 'skipped';

export interface ApiError {
  error: { code: string; message: string; details?: unknown };
}

export interface Feed {
  id: string;
  url: string;
  title: string | null;
  image: string | null;
  link: string | null;
  last_polled_at: string | null;
  last_error: string | null;
  error_count: number;
  episode_count: number;
}

export interface EpisodeSummary {
  episode_key: string;
  feed_id: string;
  feed_title: string | null;
  title: string;
  published_at: string | null;
  duration_s: number | null;
  state: EpisodeState;
  state_reason: string | null;
  failed_stage: string | null;
  /** Why the last attempt failed (e.g. "cannot resolve the host of …"); null if it never failed. */
  last_error?: string | null;
  updated_at: string;
}

export interface EpisodeDetail extends EpisodeSummary {
  description: string | null;
  image: string | null;
  enclosure_url: string | null;
  /** Where the player streams from: our copy when downloaded, else the enclosure. */
  audio_url: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Segment {
  start_ms: number;
  end_ms: number;
  text: string;
  speaker?: string | null;
}

export interface TranscriptView {
  engine: string;
  model: string;
  language: string | null;
  status: 'valid' | 'degraded';
  speech_coverage: number | null;
  segments: Segment[];
}

export interface SummaryView {
  title: string;
  bullets: string[];
  key_quotes: string[];
  status: 'valid' | 'degraded' | 'invalid';
  method: 'llm' | 'extractive';
}

export interface QuoteView {
  id: string;
  text: string;
  start_ms: number;
  end_ms: number;
  speaker?: string | null;
}

export interface InsightView {
  id: string;
  text: string;
  insight_type: 'claim' | 'recommendation' | 'observation' | 'question';
  confidence: number;
  grounded: boolean;
  quotes: QuoteView[];
}

export interface GraphNode {
  id: string;
  type: 'Person' | 'Organization' | 'Topic' | string;
  label: string;
  /** Corpus graph only: the episodes that mention this node. */
  episodes?: { episode_key: string; title: string }[];
}

export interface GraphEdge {
  source: string;
  target: string;
  type: string;
}

export interface GraphView {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface SearchHit {
  chunk_id: string;
  episode_key: string;
  episode_title: string | null;
  feed_id: string;
  feed_title: string | null;
  start_ms: number;
  end_ms: number;
  snippet: string;
  score: number;
}

export interface QueueInfo {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  paused: boolean;
}

export interface JobInfo {
  id: string;
  queue: string;
  episode_key: string | null;
  failed_reason: string | null;
  /** failed_reason without per-episode details (URL paths, ids): the group it belongs to. */
  cause?: string | null;
  attempts: number;
  timestamp: number;
}

/** GET /admin/failures: failed jobs of one cause. */
export interface FailureGroup {
  cause: string;
  count: number;
  queues: Record<string, number>;
  latest: number;
  /** The newest few of the group. */
  jobs: JobInfo[];
}

export interface RoleHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  checks: Record<string, { status: string; detail?: string }>;
  uptime_seconds?: number;
  version?: string;
}

export interface HealthView {
  status: 'healthy' | 'degraded' | 'unhealthy';
  roles: Record<string, RoleHealth>;
}

/** SSE `episode` event payload. */
export interface EpisodeEvent {
  episode_key: string;
  feed_id: string;
  state: EpisodeState;
  stage?: string | null;
  reason?: string | null;
}
