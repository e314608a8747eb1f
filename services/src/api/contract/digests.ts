import { z } from 'zod';
import { text } from '../validation';

/**
 * The Digests part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `digestRequests` (spread into `schemas`).
 */
const dateTime = z.string().meta({ format: 'date-time' });
const DAY_MS = 86_400_000;
export const DIGEST_MAX_WINDOW_DAYS = 366;

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

function validWhen(s: string): boolean {
  if (DATE_ONLY.test(s)) {
    const t = Date.parse(`${s}T00:00:00Z`);
    // 2026-02-30 parses (as March 2): only a day that exists round-trips.
    return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
  }
  return DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)) && Number(s.slice(8, 10)) <= new Date(Date.UTC(Number(s.slice(0, 4)), Number(s.slice(5, 7)), 0)).getUTCDate();
}

/** An ISO date (YYYY-MM-DD, UTC) or date-time; a date as `to` means the end of that day. */
const when = (edge: 'from' | 'to') =>
  text(40)
    .transform((s) => s.trim())
    .pipe(
      z
        .string()
        .refine(validWhen, 'an ISO date (2026-12-01) or date-time (2026-12-01T06:00:00Z) that exists')
        .transform((s) => (DATE_ONLY.test(s) ? new Date(Date.parse(`${s}T00:00:00Z`) + (edge === 'to' ? DAY_MS : 0)) : new Date(s))),
    )
    .describe(edge === 'from' ? 'start of the window (inclusive); a date is its 00:00 UTC; default: DIGEST_WINDOW_DAYS days before `to`' : 'end of the window (exclusive); a date means the end of that day (UTC); default: now');

export const digestRequests = {
  createDigest: z
    .object({ from: when('from').optional(), to: when('to').optional() })
    .strict()
    .superRefine((b, ctx) => {
      // A field that failed its own check is no Date: its problem is said already.
      if ((b.from !== undefined && !(b.from instanceof Date)) || (b.to !== undefined && !(b.to instanceof Date))) return;
      if (b.from && b.to) {
        if (b.from >= b.to) ctx.addIssue({ code: 'custom', message: '`from` must be before `to`', path: ['from'] });
        else if (b.to.getTime() - b.from.getTime() > DIGEST_MAX_WINDOW_DAYS * DAY_MS) ctx.addIssue({ code: 'custom', message: `the window is at most ${DIGEST_MAX_WINDOW_DAYS} days`, path: ['to'] });
      }
      const year = (d?: Date) => d?.getUTCFullYear() ?? 2000;
      if (year(b.from) < 1970 || year(b.to) < 1970 || year(b.from) > 9999 || year(b.to) > 9999) ctx.addIssue({ code: 'custom', message: 'dates between 1970 and 9999' });
    }),
  digestList: z.object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    before: z.string().regex(/^[1-9]\d{0,17}$/, 'a digest id (digits)').optional().describe('the page after this digest id (the list is newest first)'),
  }),
  /** A digest's id in a path. */
  digestId: z.string().regex(/^[1-9]\d{0,17}$/, 'a digest id (digits)'),
} satisfies Record<string, z.ZodTypeAny>;

const digestEpisode = z.object({
  episode_key: z.string(),
  title: z.string(),
  feed_id: z.string(),
  feed_title: z.string(),
  published_at: dateTime.describe('its publication time, or when podbrain first saw it when the feed gave none'),
  state: z.string().describe('only done episodes carry a summary and take part in clusters and trends'),
  summary: z.string().nullable(),
});

const clusterQuote = z.object({
  text: z.string().describe('verbatim from the transcript'),
  episode_key: z.string(),
  start_ms: z.number().int().describe('the viewer opens /episodes/{key}?t={seconds}'),
  episode_title: z.string(),
  feed_title: z.string(),
});

export const digestCluster = z.object({
  title: z.string(),
  title_source: z.enum(['llm', 'extractive']),
  episodes: z.array(z.object({ episode_key: z.string(), title: z.string(), feed_id: z.string(), feed_title: z.string() })),
  entities: z.array(z.string()).describe('topics, people and organisations at least two of its episodes mention'),
  quotes: z.array(clusterQuote),
  feeds: z.number().int().describe('how many shows it spans'),
});

export const digestTrend = z.object({
  label: z.string(),
  kind: z.enum(['topic', 'person', 'organization']),
  count: z.number().int().describe('episodes of the window that mention it'),
  before: z.number().describe('the average per window over the windows before'),
  change: z.enum(['new', 'rising', 'steady', 'falling']),
});

export const digest = z.object({
  id: z.string(),
  from: dateTime,
  to: dateTime,
  kind: z.string().describe('weekly (a 7-day window) or custom'),
  trigger: z.enum(['scheduled', 'manual']),
  created_at: dateTime,
  duration_ms: z.number().int().nullable(),
  episodes: z.array(digestEpisode),
  clusters: z.array(digestCluster),
  trends: z.array(digestTrend),
  shows: z.array(z.object({ feed_id: z.string(), feed_title: z.string(), episodes: z.number().int(), line: z.string() })),
  stats: z.object({
    episodes: z.number().int(),
    processed: z.number().int(),
    passages: z.number().int(),
    trend_windows: z.number().int(),
    llm_problem: z.string().nullable(),
    embeddings: z.string(),
  }),
});

export const digestListItem = z.object({
  id: z.string(),
  from: dateTime,
  to: dateTime,
  kind: z.string(),
  trigger: z.string(),
  created_at: dateTime,
  duration_ms: z.number().int().nullable(),
  counts: z.object({ episodes: z.number().int(), clusters: z.number().int(), trends: z.number().int(), shows: z.number().int() }),
});

export const digestList = z.object({ items: z.array(digestListItem), next_before: z.string().nullable().describe('pass as ?before= for the next page; null: no more') });

export type DigestView = z.output<typeof digest>;
export type DigestListView = z.output<typeof digestList>;
