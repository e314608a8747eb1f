import { z } from 'zod';
import { EPISODE_STATES } from '../../db/schema';
import { chapter, chapterList } from './chapters';
import { digest, digestList } from './digests';
import { savedSearch, savedSearchHit, savedSearchHitList, savedSearchList } from './saved-searches';

/**
 * What the API answers: the one description of every JSON body it sends. The server's view types
 * are inferred from these schemas, the OpenAPI document (/api/docs) is built from them, and the
 * viewer's types (web/src/api/schema.d.ts, `npm run gen:api`) are generated from that document.
 * Nothing validates answers at run time: the types bind the server code to these schemas.
 */

export * from './digests';
export * from './saved-searches';
export * from './chapters';
export * from './refeed';
export * from './playback';
import { playback, playbackEntry, playbackMarkResult } from './playback';

const nullableText = z.string().nullable();
const dateTime = z.string().meta({ format: 'date-time' });
const count = z.number().int();
const health = z.enum(['healthy', 'degraded', 'unhealthy']);

const episodeState = z.enum(EPISODE_STATES);

export const apiError = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) }).describe('The one error shape of the API');

export const feed = z.object({
  id: z.string(),
  url: z.string(),
  title: nullableText,
  image: nullableText,
  link: nullableText,
  description: nullableText.describe("the channel's description as plain text (no markup); null until a poll saw one"),
  last_polled_at: dateTime.nullable(),
  last_error: nullableText,
  error_count: count,
  paused: z.boolean().describe('polling stopped (PATCH /api/feeds/:id {"paused": true}, or an admin): no polls, nothing new queued'),
  policy: z
    .object({
      backfill: z
        .union([z.literal('all'), z.object({ newest: count }), z.object({ since: z.string().meta({ format: 'date' }) })])
        .nullable()
        .describe('back catalogue processed when the feed was added; null: the server default (FEED_BACKFILL_DEFAULT)'),
      include: z.array(z.string()).describe('title filters, any must match: a keyword or /regex/ (case-insensitive)'),
      exclude: z.array(z.string()).describe('title filters, none may match'),
      min_duration_s: count.nullable(),
      max_duration_s: count.nullable(),
      audio_retention: z.string().nullable().describe("the feed's own audio retention (keep-all, delete-after-transcribe, last:N, days:D); null: the appliance's AUDIO_RETENTION"),
      audio_download: z.enum(['always', 'when-needed']).nullable().describe("the feed's own AUDIO_DOWNLOAD; null: the appliance's"),
    })
    .describe('what gets processed; episodes left out are listed with state skipped'),
  audio: z
    .object({
      retention: z.string().describe('the audio retention in effect for this feed'),
      retention_overridden: z.boolean().describe("true: the feed's own (policy.audio_retention), false: the appliance's AUDIO_RETENTION"),
      download: z.enum(['always', 'when-needed']).describe('AUDIO_DOWNLOAD in effect for this feed (when-needed: not downloaded when a publisher transcript comes first)'),
      download_overridden: z.boolean().describe("true: the feed's own (policy.audio_download), false: the appliance's AUDIO_DOWNLOAD"),
    })
    .describe("how the feed's audio is kept: the feed's own choices, else the appliance's settings"),
  episode_count: count,
  skipped_count: count.describe('episodes left out by the policy (or skipped by a stage): GET /api/episodes?state=skipped&feed_id='),
});

export const feedList = z.object({ items: z.array(feed) });

export const processResult = z.object({
  episode_key: z.string(),
  queued: z.boolean().describe('true: queued now; false: it was already on its way (its waiting job was moved up)'),
  state: episodeState,
  priority_class: z.enum(['interactive', 'new', 'backfill', 'reprocess']),
  job_id: nullableText,
});

export const processSkippedResult = z.object({
  feed_id: z.string(),
  queued: count.describe('skipped episodes queued (at backfill priority)'),
  episodes: count.describe('skipped episodes taken by this call: at most 5,000 (newest first); call again for the rest'),
});

export const episodeSummary = z.object({
  episode_key: z.string(),
  feed_id: z.string(),
  feed_title: nullableText,
  title: z.string(),
  published_at: dateTime.nullable(),
  duration_s: count.nullable(),
  state: episodeState,
  state_reason: nullableText,
  failed_stage: nullableText,
  last_error: nullableText.describe('why the last attempt failed (e.g. "cannot resolve the host of …"); null if it never failed'),
  updated_at: dateTime,
  position_ms: count.describe("the caller's playback position (PUT /api/episodes/{key}/playback); 0: not started"),
  played: z.boolean().describe('whether the caller has played it (or marked it played)'),
  image: nullableText.describe("cover art: the item's own image (itunes:image), else the feed's; a remote URL that may not load"),
});

export const episodeFailure = z
  .object({
    stage: nullableText.describe('the stage that failed (ingest, transcribe, enrich, index, project)'),
    cause: z.string().describe('the error without what differs per episode: the group GET /api/admin/failures lists it in'),
    message: nullableText.describe('the last attempt\'s error as it was raised'),
    attempts: count.describe('attempts the failed stage had'),
    retryable: z.boolean().describe('false when a retry is expected to fail the same way (the publisher answered 404/410, the enclosure is not audio); POST /api/episodes/{key}/process still retries'),
  })
  .describe('why a failed episode failed; null unless state is failed');

export const episodeDetail = episodeSummary.extend({
  failure: episodeFailure.nullable(),
  description: nullableText,
  image: nullableText,
  enclosure_url: nullableText,
  audio_url: nullableText.describe('where the player streams from: our copy once downloaded, else the enclosure'),
  show_notes_html: nullableText.describe("the item's show notes (content:encoded, else description) sanitised on the server to a strict allowlist (p, br, a[href http(s)/mailto], lists, strong/em/b/i, blockquote, code/pre, h3–h6): safe to insert as HTML; null when none"),
});

export const episodePage = z.object({
  items: z.array(episodeSummary),
  next_cursor: nullableText.describe('pass as ?cursor= for the next page; null on the last page'),
});

const segment = z.object({ start_ms: count, end_ms: count, text: z.string(), speaker: nullableText });

export const transcript = z.object({
  engine: z.string(),
  model: z.string(),
  language: nullableText,
  status: z.enum(['valid', 'degraded']),
  quality_reasons: z.array(z.string()).describe('why degraded (`code: explanation`: low_coverage, repetition_loop, garbage_text, empty_transcript); [] when valid'),
  speech_coverage: z.number().nullable(),
  segments: z.array(segment),
});

export const summary = z.object({
  title: z.string(),
  bullets: z.array(z.string()),
  key_quotes: z.array(z.string()),
  status: z.enum(['valid', 'degraded', 'invalid']),
  method: z.enum(['llm', 'extractive']),
  problem: nullableText.describe('why degraded or invalid, e.g. not generated because the transcript is garbage'),
});

export const quote = z.object({ id: z.string(), text: z.string(), start_ms: count, end_ms: count, speaker: nullableText });

export const insight = z.object({
  id: z.string(),
  text: z.string(),
  insight_type: z.string().describe('claim, recommendation, anecdote, observation or question (question: LLM only)'),
  confidence: z.number(),
  grounded: z.boolean(),
  quotes: z.array(quote),
});

export const insightList = z.object({ insights: z.array(insight) });

const graphNode = z.object({
  id: z.string(),
  type: z.string().describe('Person, Organization, Topic, …'),
  label: z.string(),
  episodes: z.array(z.object({ episode_key: z.string(), title: z.string() })).optional().describe('corpus graph only: the episodes that mention this node'),
});

const graphEdge = z.object({ source: z.string(), target: z.string(), type: z.string() });

export const graph = z.object({ nodes: z.array(graphNode), edges: z.array(graphEdge) });

export const searchHit = z.object({
  chunk_id: z.string(),
  episode_key: z.string(),
  episode_title: nullableText,
  feed_id: z.string(),
  feed_title: nullableText,
  start_ms: count.describe('where the sentence that matched best starts'),
  end_ms: count.describe('the end of the hit (overlapping passages of one episode are merged into one hit)'),
  snippet: z.string().describe('plain text centred on that sentence (never markup)'),
  highlights: z.array(z.object({ start: count, end: count })).describe('the query words in `snippet`: [start, end) character offsets'),
  matched_terms: z.array(z.string()).describe('query terms (stemmed) found in the hit'),
  why: z.string().describe('why this is a hit: "matched: fruit, fly" or "similar meaning"'),
  relevance: z.number().min(0).max(1).describe('0–1 for tools: share of query terms matched, or the cosine where only the meaning matched'),
});

export const searchResult = z.object({
  query: z.string(),
  took_ms: z.number(),
  vector: z.boolean().describe('false when only Postgres full-text answered'),
  note: z
    .string()
    .nullable()
    .describe('why the search is not (fully) semantic: no local embedding model yet (hash fallback), or a vector index of another embedding model that is not searched'),
  hits: z.array(searchHit),
});

export const importResult = z.object({ added: count, skipped: count, errors: z.array(z.string()) });

export const refreshResult = z.object({ job_id: z.string() });

export const queueInfo = z.object({ name: z.string(), waiting: count, active: count, delayed: count, failed: count, completed: count, paused: z.boolean() });

export const queueList = z.object({ queues: z.array(queueInfo) });

export const jobInfo = z.object({
  id: z.string(),
  queue: z.string(),
  name: z.string(),
  state: z.string().optional().describe('for jobs/:id and admin/jobs: the state it was read in'),
  episode_key: nullableText,
  failed_reason: nullableText,
  cause: nullableText.describe('failed_reason without what differs per episode (URL paths, ids, sizes): the group it belongs to'),
  attempts: count,
  timestamp: count,
  processed_on: count.nullable(),
  finished_on: count.nullable(),
});

export const jobList = z.object({ items: z.array(jobInfo) });

export const failureGroup = z.object({
  cause: z.string(),
  count,
  queues: z.record(z.string(), count).describe('failed jobs of this cause per queue'),
  latest: count.describe('when the newest of them was enqueued (ms)'),
  first: count.describe('when the oldest of them was enqueued (ms)'),
  feeds: z.record(z.string(), count).describe('failed jobs of this cause per feed id (jobs that name one)'),
  jobs: z.array(jobInfo).describe('the newest few, newest first'),
});

export const failures = z.object({
  groups: z.array(failureGroup),
  total: count,
  truncated: z.boolean().describe('some queue holds more failed jobs than were read'),
});

export const retryCauseResult = z.object({ cause: z.string(), retried: count, jobs: z.array(z.object({ queue: z.string(), id: z.string() })), skipped: count });

export const workers = z.object({
  queues: z.array(
    z.object({
      queue: z.string(),
      workers: z.array(z.object({ name: z.string(), addr: nullableText, age_s: z.number().nullable(), idle_s: z.number().nullable() })),
    }),
  ),
});

export const deploy = z.object({ version: z.string(), git_sha: z.string(), node: z.string(), started_at: dateTime });

export const auditEntry = z.object({
  id: z.string(),
  at: dateTime,
  actor: z.string().describe("who: 'admin-key' (AUTH_API_KEY), 'tenant:<id>' (a tenant key), 'open' (AUTH_API_KEY unset), 'wrong-key' or 'anonymous' (no key; both refused)"),
  method: z.string(),
  path: z.string(),
  params: z.unknown().describe('path parameters, query and body; secret-looking fields redacted, large values cut'),
  status: count.describe('the HTTP status of the answer'),
});

export const auditPage = z.object({ items: z.array(auditEntry), next_cursor: nullableText.describe('pass as cursor for older entries; null: no more') });

export const roleProcess = z.object({
  role: z.string(),
  pid: count,
  hostname: z.string(),
  version: z.string(),
  git_sha: z.string(),
  status: z.string().describe('its health at its last report'),
  started_at: dateTime,
  reported_at: dateTime,
  queues: z.array(z.string()),
});

export const roleList = z.object({ items: z.array(roleProcess) });

export const controlSent = z.object({ receivers: count.describe('role processes that received the message on the control channel (0: none is listening)') });

export const cleanResult = z.object({ removed: count });

export const runtimeSetting = z.object({
  key: z.string(),
  summary: z.string(),
  value: z.unknown().describe('what every role uses now'),
  default: z.unknown().describe('the .env / config value (used when no runtime value is stored)'),
  source: z.enum(['env', 'runtime']),
  updated_at: dateTime.nullable(),
  updated_by: nullableText,
});

export const runtimeSettings = z.object({ items: z.array(runtimeSetting) });

export const actionOutcome = z.object({ action: z.string(), detail: z.string(), data: z.record(z.string(), z.unknown()).optional() });

export const staleStage = z.object({
  stage: z.enum(['ingest', 'transcribe', 'enrich', 'index']),
  stale: count.describe('done episodes made with an older recipe (model, prompt, settings) than the current one'),
  done_total: count.describe('done episodes that have a run of this stage'),
  unknown: count.describe('done episodes whose run was recorded before recipes were (reprocess-stale checks them; current ones are only marked, not run)'),
  current_recipe: z.array(z.string()).describe('the current recipe hash(es), short; transcribe has one per ASR engine; empty when the stage is not configured here'),
});

export const staleView = z.object({
  feed_id: z.string().nullable(),
  items: z.array(staleStage),
  reprocess: z.object({ auto: z.boolean(), window: z.string(), batch: count }).describe('REPROCESS_AUTO (or the runtime setting reprocess.auto), REPROCESS_WINDOW, REPROCESS_BATCH'),
});

export const reprocessStaleResult = z.object({
  queued: count.describe('episodes sent on again at the reprocess priority'),
  checked: count,
  current: count.describe('candidates found current after all (marked, not queued)'),
  unable: count.describe('candidates left as they are (gone, not done any more, a stage not configured here)'),
  remaining: count.describe('stale episodes left (call again, or let the nightly window take them)'),
});

export const actionList = z.object({
  items: z.array(z.object({ id: z.string(), summary: z.string(), args: z.unknown().describe('JSON schema of its arguments') })),
});

export const settings = z.object({
  queues: z.record(z.string(), z.object({ concurrency: count, attempts: count, timeout_ms: count })),
  asr: z.object({ engines: z.array(z.string()), whisper_model: z.string(), language: z.string(), openai_model: z.string() }),
  llm: z.object({ model: nullableText }),
  embeddings: z.object({ provider: z.string(), model: nullableText, dim: count }),
  openai: z.object({ base_url: nullableText, api_key_set: z.boolean() }),
  search: z.object({ default_k: count, index_type: z.string() }),
  feeds: z.object({ poll_interval_s: z.number() }),
  auth: z.object({ api_key_set: z.boolean() }),
});

export const roleHealth = z.object({
  status: health,
  checks: z.record(z.string(), z.object({ status: z.string(), detail: z.string().optional() })),
  uptime_seconds: z.number().optional(),
  version: z.string().optional(),
});

export const healthView = z.object({ status: health, roles: z.record(z.string(), roleHealth) });

export const episodeEvent = z
  .object({ episode_key: z.string(), feed_id: z.string(), state: episodeState, stage: nullableText, reason: nullableText, at: dateTime })
  .describe('GET /api/events: the data of every `event: episode`');

export const incidentEventEntry = z.object({ at: dateTime, kind: z.string(), message: z.string(), data: z.record(z.string(), z.unknown()) });

export const incidentAction = z.object({
  n: count.describe('the number of this decision in the incident (approve/deny name it)'),
  id: z.string().describe("the runbook step's id"),
  action: nullableText.describe('the control action (null: a manual step)'),
  args: z.record(z.string(), z.unknown()),
  mode: z.string().describe("the runbook step's mode: auto, approve or manual"),
  status: z.enum(['proposed', 'executed', 'skipped', 'awaiting_approval', 'approved', 'denied', 'failed']),
  at: dateTime,
  detail: nullableText,
  decided_by: nullableText,
});

export const incident = z.object({
  id: z.string(),
  alert: z.string().describe('the alertname'),
  fingerprint: z.string(),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  runbook: nullableText,
  status: z.enum(['open', 'resolved', 'escalated']),
  mode: z.string().describe('the agent mode when it opened'),
  opened_at: dateTime,
  resolved_at: dateTime.nullable(),
  updated_at: dateTime,
  summary: nullableText.describe("the LLM's short summary (null without an LLM)"),
  events: z.array(incidentEventEntry),
  actions: z.array(incidentAction),
});

export const incidentList = z.object({ items: z.array(incident), next_cursor: nullableText.describe('pass as cursor for older incidents; null: no more') });

export const alertsAccepted = z.object({ opened: count, repeated: count, resolved: count, ignored: count });

export const agentSettings = z.object({ mode: z.enum(['off', 'shadow', 'auto']), kill_switch: z.boolean() });

export const session = z
  .object({
    kind: z.enum(['admin', 'tenant']).describe('made with the deployment key or a tenant key'),
    tenant: z.string(),
    expires_at: dateTime,
    reads_private: z.boolean().describe('whether this server needs a key or a session for reads (AUTH_READS)'),
  })
  .describe('POST /api/session: the session cookie (HttpOnly, SameSite=Strict) was set');

export const incidentSignal = z
  .object({ id: z.string(), status: z.string(), kind: z.string(), at: dateTime })
  .describe('GET /api/events: the data of every `event: incident` (an incident opened, changed or resolved: read it again)');

/**
 * The named types of the contract: components/schemas of the OpenAPI document, and so the
 * names the viewer imports from web/src/api/schema.d.ts.
 */
export const components = {
  ApiError: apiError,
  EpisodeState: episodeState,
  Feed: feed,
  ProcessResult: processResult,
  ProcessSkippedResult: processSkippedResult,
  EpisodeSummary: episodeSummary,
  EpisodeDetail: episodeDetail,
  EpisodeFailure: episodeFailure,
  EpisodePage: episodePage,
  Segment: segment,
  TranscriptView: transcript,
  SummaryView: summary,
  QuoteView: quote,
  InsightView: insight,
  GraphNode: graphNode,
  GraphEdge: graphEdge,
  GraphView: graph,
  SearchHit: searchHit,
  SearchResult: searchResult,
  ImportResult: importResult,
  QueueInfo: queueInfo,
  JobInfo: jobInfo,
  FailureGroup: failureGroup,
  Failures: failures,
  AuditEntry: auditEntry,
  RuntimeSetting: runtimeSetting,
  ActionOutcome: actionOutcome,
  StaleStage: staleStage,
  StaleView: staleView,
  ReprocessStaleResult: reprocessStaleResult,
  RoleProcess: roleProcess,
  RoleHealth: roleHealth,
  HealthView: healthView,
  EpisodeEvent: episodeEvent,
  Incident: incident,
  IncidentAction: incidentAction,
  IncidentSignal: incidentSignal,
  AgentSettings: agentSettings,
  Session: session,
  Chapter: chapter,
  ChapterList: chapterList,
  Digest: digest,
  DigestList: digestList,
  SavedSearch: savedSearch,
  SavedSearchHit: savedSearchHit,
  SavedSearchList: savedSearchList,
  SavedSearchHitList: savedSearchHitList,
  Playback: playback,
  PlaybackMarkResult: playbackMarkResult,
  PlaybackEntry: playbackEntry,
} satisfies Record<string, z.ZodType>;

export type ApiErrorBody = z.output<typeof apiError>;
export type EpisodeState = z.output<typeof episodeState>;
export type FeedView = z.output<typeof feed>;
export type EpisodeSummaryView = z.output<typeof episodeSummary>;
export type EpisodeDetailView = z.output<typeof episodeDetail>;
export type EpisodePage = z.output<typeof episodePage>;
export type TranscriptView = z.output<typeof transcript>;
export type SummaryView = z.output<typeof summary>;
export type QuoteView = z.output<typeof quote>;
export type InsightView = z.output<typeof insight>;
export type GraphView = z.output<typeof graph>;
export type SearchHitView = z.output<typeof searchHit>;
export type SearchResultView = z.output<typeof searchResult>;
export type ImportResult = z.output<typeof importResult>;
export type QueueView = z.output<typeof queueInfo>;
export type JobView = z.output<typeof jobInfo>;
export type FailureGroup = z.output<typeof failureGroup>;
export type EpisodeFailureView = z.output<typeof episodeFailure>;
export type FailuresView = z.output<typeof failures>;
export type RetryCauseResult = z.output<typeof retryCauseResult>;
export type WorkersView = z.output<typeof workers>;
export type DeployView = z.output<typeof deploy>;
export type RoleListView = z.output<typeof roleList>;
export type ControlSentView = z.output<typeof controlSent>;
export type CleanResultView = z.output<typeof cleanResult>;
export type RuntimeSettingsView = z.output<typeof runtimeSettings>;
export type ActionOutcomeView = z.output<typeof actionOutcome>;
export type StaleView = z.output<typeof staleView>;
export type ReprocessStaleResultView = z.output<typeof reprocessStaleResult>;
export type ActionListView = z.output<typeof actionList>;
export type AuditPageView = z.output<typeof auditPage>;
export type SettingsView = z.output<typeof settings>;
export type RoleHealthView = z.output<typeof roleHealth>;
export type HealthView = z.output<typeof healthView>;
export type EpisodeEventView = z.output<typeof episodeEvent>;
export type IncidentView = z.output<typeof incident>;
export type IncidentListView = z.output<typeof incidentList>;
export type AlertsAcceptedView = z.output<typeof alertsAccepted>;
export type AgentSettingsView = z.output<typeof agentSettings>;
export type IncidentSignalView = z.output<typeof incidentSignal>;
export type SessionView = z.output<typeof session>;
