import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Enclosure, ParsedEpisode, TranscriptRef } from '../feeds/types';

/**
 * The Postgres schema as the migrations create it (db/migrations), for Kysely's typed queries
 * in repositories/. A column added by a migration is added here in the same commit.
 */

export const EPISODE_STATES = ['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting', 'done', 'failed', 'skipped'] as const;
export type EpisodeStateName = (typeof EPISODE_STATES)[number];

export type StageRunStatus = 'running' | 'done' | 'reused' | 'failed' | 'skipped' | 'not_configured';

/** The tenant of a single-user install (migration InitialSchema inserts it). */
export const DEFAULT_TENANT = 'default';

/** timestamptz: pg hands back a Date; writes take a Date or an ISO string. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A column with a database default (now(), 0, '[]' …): optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** bigint / bigserial: pg hands back a string (64-bit safe). */
type BigId = ColumnType<string, never, never>;
type Json<T> = ColumnType<T, T | string, T | string>;

export interface FeedsTable {
  id: string;
  url: string;
  title: string | null;
  link: string | null;
  image: string | null;
  /** The channel's description as plain text (markPolled); null until a poll saw one. */
  description: Defaulted<string | null>;
  etag: string | null;
  last_modified: string | null;
  last_polled_at: Timestamp | null;
  next_poll_at: DefaultedTimestamp;
  poll_interval_s: Defaulted<number>;
  error_count: Defaulted<number>;
  last_error: string | null;
  /** Polling stopped by an admin (pause-feed). */
  paused: Defaulted<boolean>;
  /** feeds/policy.ts FeedPolicy (backfill, title filters, duration bounds). */
  policy: ColumnType<unknown, string | undefined, string>;
  /** Newest publication time at the first poll (new vs back catalogue); null until then. */
  backfill_horizon: Timestamp | null;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

export interface EpisodesTable {
  episode_key: string;
  feed_id: string;
  guid: string | null;
  title: string;
  published_at: Timestamp | null;
  duration_s: number | null;
  enclosure: Json<Enclosure | null>;
  transcripts: Json<TranscriptRef[]>;
  /** The whole parsed item, so a worker rebuilds the exact FeedEpisode the stages expect. */
  source: Json<ParsedEpisode>;
  state: Defaulted<EpisodeStateName>;
  state_reason: string | null;
  failed_stage: string | null;
  attempts: Defaulted<number>;
  last_error: string | null;
  correlation_id: string | null;
  /** The deterministic id of the job a running state waits on (reconciler). */
  job_id: string | null;
  /** queue/priority.ts class the episode's jobs run at (null: new). */
  priority_class: string | null;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

export interface StageRunsTable {
  id: Generated<string>;
  episode_key: string;
  stage: string;
  fingerprint: string;
  status: StageRunStatus;
  attempts: Defaulted<number>;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  duration_ms: number | null;
  error: string | null;
  artifact_path: string | null;
  /** Hash of the stage's own recipe (pipeline/execute.ts stageRecipe); null: recorded before recipes were. */
  recipe: Defaulted<string | null>;
}

export interface TranscriptSegmentsTable {
  id: Generated<string>;
  episode_key: string;
  fingerprint: string;
  idx: number;
  start_ms: number;
  end_ms: number;
  speaker: string | null;
  text: string;
}

export interface SummariesTable {
  episode_key: string;
  fingerprint: string;
  title: string | null;
  bullets: Json<unknown[]>;
  key_quotes: Json<unknown[]>;
  status: string;
  created_at: DefaultedTimestamp;
}

export interface InsightsTable {
  id: string;
  episode_key: string;
  fingerprint: string;
  text: string;
  insight_type: string;
  confidence: number | null;
}

export interface QuotesTable {
  id: string;
  episode_key: string;
  fingerprint: string;
  text: string;
  char_start: number | null;
  char_end: number | null;
  start_ms: number | null;
  end_ms: number | null;
  speaker: string | null;
}

export interface InsightSupportTable {
  episode_key: string;
  insight_id: string;
  quote_id: string;
}

export interface KgNodesTable {
  id: string;
  kind: string;
  label: string;
  props: Json<Record<string, unknown>>;
}

export interface KgEdgesTable {
  id: Generated<string>;
  episode_key: string;
  fingerprint: string;
  source_id: string;
  target_id: string;
  kind: string;
  props: Json<Record<string, unknown>>;
}

export interface ChunksTable {
  id: Generated<string>;
  episode_key: string;
  fingerprint: string;
  idx: number;
  text: string;
  start_ms: number;
  end_ms: number;
  vector_id: ColumnType<string | null, string | number | bigint | null, string | number | bigint | null>;
  /** Generated (to_tsvector('english', text)): read in SQL, never written. */
  tsv: ColumnType<string, never, never>;
}

export interface DigestsTable {
  id: BigId;
  tenant_id: Defaulted<string>;
  period_start: Timestamp;
  period_end: Timestamp;
  kind: Defaulted<string>;
  /** scheduled | manual */
  trigger: Defaulted<string>;
  body: Json<unknown>;
  duration_ms: number | null;
  created_at: DefaultedTimestamp;
}

/** An episode's chapters as projected (publisher podcast:chapters, else generated); replaced whole. */
export interface ChaptersTable {
  episode_key: string;
  fingerprint: string;
  idx: number;
  start_ms: number;
  end_ms: number | null;
  title: string;
  /** publisher | generated */
  source: string;
  url: string | null;
  image: string | null;
}

/** A standing search of a tenant that notifies when a newly indexed episode matches it. */
export interface SavedSearchesTable {
  id: BigId;
  tenant_id: string;
  name: string;
  query: string;
  threshold: Defaulted<number>;
  notify: Defaulted<boolean>;
  min_interval_s: Defaulted<number>;
  last_notified_at: Timestamp | null;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

/** An episode that matched a saved search (its best moment); at most one per (search, episode). */
export interface SavedSearchHitsTable {
  id: BigId;
  saved_search_id: string;
  episode_key: string;
  chunk_id: string | null;
  score: number;
  text: string;
  start_ms: number;
  found_at: DefaultedTimestamp;
  notified_at: Timestamp | null;
}

/** A secret-token URL of a private re-feed (feed_id null: the tenant's combined feed). */
export interface RefeedTokensTable {
  id: BigId;
  tenant_id: string;
  feed_id: string | null;
  token: string;
  created_at: DefaultedTimestamp;
  revoked_at: Timestamp | null;
}

/** Where a tenant's listener left an episode (resume) and whether it is played (issue 18). */
export interface PlaybackTable {
  tenant_id: string;
  episode_key: string;
  position_ms: Defaulted<number>;
  duration_ms: number | null;
  played: Defaulted<boolean>;
  updated_at: DefaultedTimestamp;
}

export interface TenantsTable {
  id: string;
  name: string;
  created_at: DefaultedTimestamp;
}

export interface ApiKeysTable {
  id: BigId;
  tenant_id: string;
  name: string;
  key_hash: string;
  created_at: DefaultedTimestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface SubscriptionsTable {
  tenant_id: string;
  feed_id: string;
  created_at: DefaultedTimestamp;
}

export interface BookmarksTable {
  id: BigId;
  tenant_id: string;
  episode_key: string;
  at_ms: number | null;
  label: string | null;
  created_at: DefaultedTimestamp;
}

export interface NotesTable {
  id: BigId;
  tenant_id: string;
  episode_key: string;
  body: string;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

/** One admin API call (api/admin/audit.interceptor.ts); params are redacted and size-capped before they are written. */
export interface AdminAuditTable {
  id: BigId;
  at: DefaultedTimestamp;
  actor: string;
  method: string;
  path: string;
  params: Json<unknown>;
  status: number;
}

/** A setting changed at runtime (control/runtime-settings.ts); value is the JSON of the parsed value. */
export interface RuntimeSettingsTable {
  key: string;
  value: Json<unknown>;
  updated_at: DefaultedTimestamp;
  updated_by: string;
}

export type IncidentStatus = 'open' | 'resolved' | 'escalated';
export type IncidentActionStatus = 'proposed' | 'executed' | 'skipped' | 'awaiting_approval' | 'approved' | 'denied' | 'failed';

/** One alert fingerprint's incident (agent/); at most one open or escalated per fingerprint. */
export interface IncidentsTable {
  id: BigId;
  fingerprint: string;
  alertname: string;
  labels: Json<Record<string, string>>;
  annotations: Json<Record<string, string>>;
  runbook: string | null;
  status: ColumnType<IncidentStatus, IncidentStatus | undefined, IncidentStatus>;
  /** The agent mode when it was opened. */
  mode: string;
  summary: string | null;
  /** The runbook step ids in the order the agent takes them (the runbook's, or the LLM's choice among them). */
  plan: Json<string[]> | null;
  /** When the agent first handled it (runbook loaded, diagnosis recorded, owner told). */
  diagnosed_at: Timestamp | null;
  /** The status the owner was last told about (the agent notifies each change once). */
  notified_status: string | null;
  opened_at: DefaultedTimestamp;
  resolved_at: Timestamp | null;
  updated_at: DefaultedTimestamp;
}

export interface IncidentEventsTable {
  id: BigId;
  incident_id: string;
  at: DefaultedTimestamp;
  kind: string;
  message: string;
  data: Json<Record<string, unknown>>;
}

/** One runbook step the agent decided on for an incident; n counts them in the order decided. */
export interface IncidentActionsTable {
  incident_id: string;
  n: number;
  step_id: string;
  action: string | null;
  args: Json<Record<string, unknown>>;
  mode: string;
  status: IncidentActionStatus;
  detail: string | null;
  decided_by: string | null;
  runbook: string | null;
  executed_at: Timestamp | null;
  /** After an executed action: recovered by then, or the agent moves on. */
  verify_by: Timestamp | null;
  verified: string | null;
  at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

export interface DB {
  feeds: FeedsTable;
  episodes: EpisodesTable;
  stage_runs: StageRunsTable;
  transcript_segments: TranscriptSegmentsTable;
  summaries: SummariesTable;
  insights: InsightsTable;
  quotes: QuotesTable;
  insight_support: InsightSupportTable;
  kg_nodes: KgNodesTable;
  kg_edges: KgEdgesTable;
  chunks: ChunksTable;
  digests: DigestsTable;
  chapters: ChaptersTable;
  saved_searches: SavedSearchesTable;
  saved_search_hits: SavedSearchHitsTable;
  refeed_tokens: RefeedTokensTable;
  playback: PlaybackTable;
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  subscriptions: SubscriptionsTable;
  bookmarks: BookmarksTable;
  notes: NotesTable;
  admin_audit: AdminAuditTable;
  runtime_settings: RuntimeSettingsTable;
  incidents: IncidentsTable;
  incident_events: IncidentEventsTable;
  incident_actions: IncidentActionsTable;
}

export type FeedRow = Selectable<FeedsTable>;
export type NewFeed = Insertable<FeedsTable>;
export type EpisodeRow = Selectable<EpisodesTable>;
export type NewEpisode = Insertable<EpisodesTable>;
export type EpisodeUpdate = Updateable<EpisodesTable>;
export type StageRunRow = Selectable<StageRunsTable>;
