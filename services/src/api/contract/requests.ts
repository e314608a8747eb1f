import { z } from 'zod';
import { EPISODE_STATES } from '../../db/schema';
import { key, KEY, KEY_MESSAGE, text } from '../validation';
import { policyInputSchema } from '../../feeds/policy';
import { chapterRequests } from './chapters';
import { digestRequests } from './digests';
import { refeedRequests } from './refeed';
import { savedSearchRequests } from './saved-searches';
import { playbackRequests } from './playback';

const HTTP_URL = /^https?:\/\//i;
/** Alert labels or annotations: names and values as Alertmanager sends them, bounded. */
const alertLabels = z.record(z.string().max(200), z.string().max(10_000)).refine((r) => Object.keys(r).length <= 100, 'at most 100 entries');

/** A feed's policy (feeds/policy.ts) as POST/PATCH /api/feeds take it. */
const feedPolicyFields = {
  backfill: policyInputSchema.shape.backfill.describe('back catalogue to process: {"newest": N}, {"since": "YYYY-MM-DD"}, "all" (or "newest:N", "since:DATE"); default FEED_BACKFILL_DEFAULT (newest:3)'),
  include: policyInputSchema.shape.include.describe('title filters, any must match: a keyword (case-insensitive) or /regex/ (case-insensitive, linear-time: no lookarounds or backreferences), at most 200 characters each'),
  exclude: policyInputSchema.shape.exclude.describe('title filters, none may match (same forms as include)'),
  min_duration_s: policyInputSchema.shape.min_duration_s.describe('shorter episodes are skipped (unknown durations pass)'),
  max_duration_s: policyInputSchema.shape.max_duration_s.describe('longer episodes are skipped (unknown durations pass)'),
  audio_retention: policyInputSchema.shape.audio_retention.describe("this feed's audio retention: keep-all, delete-after-transcribe, last:N (the N newest done episodes keep theirs, N ≥ 1), days:D (D ≥ 1); null: the appliance's AUDIO_RETENTION (the default)"),
  audio_download: policyInputSchema.shape.audio_download.describe("this feed's AUDIO_DOWNLOAD: always (keep a local copy although a publisher transcript comes first) or when-needed; null: the appliance's (the default)"),
};

/** What the API accepts (query strings, bodies, path parameters); controllers parse with parseInput. */
export const schemas = {
  addFeed: z
    .object({
      url: text(2048)
        .transform((u) => u.trim())
        .pipe(z.string().min(1, 'required').refine((u) => HTTP_URL.test(u) && !/\s/.test(u) && URL.canParse(u), 'must be an http(s) URL (no spaces)'))
        .meta({ format: 'uri' }),
      ...feedPolicyFields,
    })
    .strict(),
  /** PATCH feeds/:id: pause/resume and the policy; only the fields sent change. */
  updateFeed: z
    .object({ paused: z.boolean().optional(), ...feedPolicyFields })
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'send at least one of paused, backfill, include, exclude, min_duration_s, max_duration_s, audio_retention, audio_download'),
  subscribe: z.object({ feed_id: z.string().trim().min(1).max(200).regex(KEY, KEY_MESSAGE) }).strict(),
  episodeList: z.object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: text(500).optional(),
    feed_id: key.optional(),
    state: z.enum(EPISODE_STATES).optional(),
    played: z
      .enum(['true', 'false'], 'true or false')
      .transform((v) => v === 'true')
      .optional()
      .describe("true: only episodes the caller has played; false: only ones it has not"),
  }),
  search: z.object({
    q: text(1000, 'required: give some words to search for')
      .transform((q) => q.trim())
      .pipe(z.string().min(1, 'give some words to search for')),
    k: z.coerce.number().int().min(1).max(100).optional(),
  }),
  adminJobs: z.object({
    state: z.enum(['failed', 'stuck', 'waiting', 'active', 'delayed', 'completed']).default('failed'),
    queue: text(100).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  }),
  failures: z.object({ queue: text(100).optional() }),
  audit: z.object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().regex(/^\d{1,18}$/, 'the next_cursor of the previous page').optional(),
  }),
  retryCause: z.object({ cause: text(1000).min(1, 'required: a cause as GET /api/admin/failures lists it'), queue: text(100).optional() }).strict(),
  setConcurrency: z.object({ concurrency: z.number().int().min(1).max(256) }).strict(),
  cleanQueue: z.object({ state: z.enum(['failed', 'completed']) }).strict(),
  /** A role name in a path (roles/roles.ts ROLE_NAMES). */
  role: z.enum(['scheduler', 'worker-io', 'worker-gpu', 'worker-ml', 'worker']),
  /** A queue name in a path; an unknown one is a 404 from JobsService (it names the known ones). */
  queue: text(100).min(1),
  /** PUT admin/settings/:key (the key and the value are checked by the setting's own schema: 400 naming the problem). */
  settingValue: z.object({ value: z.union([z.string().max(200), z.number(), z.boolean()]) }).strict(),
  /** A runtime setting's key in a path (control/runtime-settings.ts). */
  settingKey: z.string().min(1).max(100).regex(/^[a-z0-9_.-]+$/, 'a runtime setting key such as feeds.poll_interval_s'),
  reprocess: z.object({ from_stage: z.enum(['ingest', 'transcribe', 'enrich', 'index', 'project']) }).strict(),
  /** GET admin/stale: one feed's counts when named. */
  stale: z.object({ feed_id: key.optional() }),
  /** POST admin/reprocess-stale: every stale episode, a feed's, one episode, or those stale at one stage; at most limit (default REPROCESS_BATCH). */
  reprocessStale: z
    .object({
      feed_id: key.optional(),
      episode_key: key.optional(),
      stage: z.enum(['ingest', 'transcribe', 'enrich', 'index']).optional(),
      limit: z.number().int().min(1).max(10_000).optional().describe('the most episodes this call queues (default REPROCESS_BATCH)'),
    })
    .strict(),
  /** POST admin/actions/:action: the action's arguments (GET admin/actions lists each one's schema). */
  runAction: z.object({ args: z.record(z.string(), z.unknown()).default({}) }).strict(),
  /**
   * Alertmanager's webhook (version 4). Fields podbrain does not use are ignored (Alertmanager adds
   * some over versions); what it uses is bounded.
   */
  alertmanagerWebhook: z.object({
    version: z.literal('4'),
    status: z.enum(['firing', 'resolved']),
    alerts: z
      .array(
        z.object({
          status: z.enum(['firing', 'resolved']),
          labels: alertLabels,
          annotations: alertLabels.default({}),
          startsAt: text(64).optional(),
          endsAt: text(64).optional(),
          fingerprint: z.string().trim().min(1).max(200).optional(),
        }),
      )
      .max(1000),
  }),
  incidentList: z.object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().regex(/^\d{1,18}$/, 'the next_cursor of the previous page').optional(),
    status: z.enum(['open', 'resolved', 'escalated']).optional(),
  }),
  /** An incident id in a path. */
  incidentId: z.string().regex(/^[1-9]\d{0,17}$/, 'an incident id (a positive integer)'),
  /** An incident action's number in a path (its `n`). */
  actionN: z.coerce.number().int().min(1).max(10_000),
  agentSettings: z.object({ mode: z.enum(['off', 'shadow', 'auto']).optional(), kill_switch: z.boolean().optional() }).strict().refine((b) => b.mode !== undefined || b.kill_switch !== undefined, 'give mode, kill_switch or both'),
  /** An OPML document (text/xml body). */
  opml: text(5 * 1024 * 1024),
  key,
  ...digestRequests,
  ...savedSearchRequests,
  ...chapterRequests,
  ...refeedRequests,
  ...playbackRequests,
};
