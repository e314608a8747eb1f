import { setFlagsFromString } from 'node:v8';
import { z } from 'zod';
import { parseAudioRetention, type AudioRetention } from '../audio/retention-policy';
import { PodbrainError } from '../core/errors';
import type { PriorityClass } from '../queue/priority';
import type { FeedEpisode } from './types';

/**
 * A feed's processing policy (issue 15): how much back catalogue to process when the feed is
 * added, and which episodes to process at all (title include/exclude, duration bounds).
 * Episodes the policy leaves out are stored as `skipped` (listed, processable on demand) and
 * nothing is queued for them.
 */

/** How much of the back catalogue (what the feed holds when it is first polled) gets processed. */
export type Backfill = { newest: number } | { since: string } | 'all';

export interface FeedPolicy {
  /** null: the FEED_BACKFILL_DEFAULT of the role that first polls the feed. */
  backfill: Backfill | null;
  /** Title filters: a keyword (case-insensitive substring) or `/regex/` (case-insensitive, run in linear time). */
  include: string[];
  exclude: string[];
  /** Bounds on the item's duration; an item without a known duration passes. */
  minDurationS: number | null;
  maxDurationS: number | null;
  /** This feed's AUDIO_RETENTION (`keep-all`, `delete-after-transcribe`, `last:N`, `days:D`); null: the appliance's. */
  audioRetention: string | null;
  /** This feed's AUDIO_DOWNLOAD; null: the appliance's. */
  audioDownload: AudioDownload | null;
}

export const AUDIO_DOWNLOADS = ['always', 'when-needed'] as const;
export type AudioDownload = (typeof AUDIO_DOWNLOADS)[number];

export const EMPTY_POLICY: FeedPolicy = { backfill: null, include: [], exclude: [], minDurationS: null, maxDurationS: null, audioRetention: null, audioDownload: null };

export const MAX_FILTER_LENGTH = 200;
export const MAX_FILTERS = 20;
/** Titles longer than this are matched on their beginning only (bounds the work per item). */
const MAX_TITLE_MATCHED = 1000;
const MAX_NEWEST = 100_000;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const isCalendarDate = (s: string) => DAY.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);

export const backfillSchema = z.union([
  z.literal('all'),
  z.object({ newest: z.number().int().min(0).max(MAX_NEWEST) }).strict(),
  z.object({ since: z.string().refine(isCalendarDate, 'a date YYYY-MM-DD') }).strict(),
]);

/** `newest:3`, `since:2024-01-31` or `all` (the CLI's --backfill and FEED_BACKFILL_DEFAULT). */
export function parseBackfillSpec(spec: string): Backfill {
  const s = spec.trim();
  if (s === 'all') return 'all';
  const m = /^(newest|since)[:=](.+)$/.exec(s);
  if (m?.[1] === 'newest' && /^\d{1,6}$/.test(m[2]!) && Number(m[2]) <= MAX_NEWEST) return { newest: Number(m[2]) };
  if (m?.[1] === 'since' && isCalendarDate(m[2]!)) return { since: m[2]! };
  throw new PolicyError(`backfill ${JSON.stringify(spec)}: expected newest:N, since:YYYY-MM-DD or all`);
}

export function formatBackfill(b: Backfill): string {
  return b === 'all' ? 'all' : 'newest' in b ? `newest:${b.newest}` : `since:${b.since}`;
}

/** A backfill as a spec string (FEED_BACKFILL_DEFAULT, the CLI's --backfill). */
export const backfillSpecSchema = z.string().transform((v, ctx): Backfill => {
  try {
    return parseBackfillSpec(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** A backfill given as a spec string or as the API's JSON form. */
export const backfillInput = z.union([z.string().max(40).pipe(backfillSpecSchema), backfillSchema], {
  error: 'expected {"newest": N}, {"since": "YYYY-MM-DD"}, "all", "newest:N" or "since:YYYY-MM-DD"',
});

/** A policy that cannot be used (a bad backfill, a refused filter, min above max); the api answers 400. */
export class PolicyError extends PodbrainError {
  constructor(message: string) {
    super('invalid_policy', message);
  }
}

// ------------------------------------------------------------------ title filters

/**
 * Regex filters run on V8's linear-time engine (the `l` flag), so no pattern can backtrack
 * catastrophically (ReDoS): `(a+)+$` runs in linear time, and constructs it cannot run that
 * way (lookahead, backreferences) are refused. The engine is behind a V8 flag; set here, once,
 * before any filter compiles. Where it is missing, filters with nested or repeated unbounded
 * quantifiers are refused instead (staticSafetyProblem).
 */
function enableLinearRegexps(): boolean {
  try {
    setFlagsFromString('--enable-experimental-regexp-engine');
    new RegExp('a', 'l');
    return true;
  } catch {
    return false;
  }
}
const LINEAR = enableLinearRegexps();

/** Case-insensitive by lower-casing both sides (the linear engine has no `i`): letters outside escapes are lower-cased. */
function lowerPattern(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && i + 1 < p.length) {
      out += p[i]! + p[i + 1]!;
      i++;
    } else out += p[i]!.toLowerCase();
  }
  return out;
}

/** Without the linear engine: a quantified group holding a quantifier or an alternation, more than one unbounded quantifier, or a backreference. */
function staticSafetyProblem(body: string): string | null {
  if (/\\[1-9]|\\k</.test(body)) return 'backreferences are not allowed';
  const unbounded = body.replace(/\\./g, '').match(/[*+]|\{\d+,\}/g)?.length ?? 0;
  if (unbounded > 1) return 'at most one unbounded quantifier (*, +, {n,}) is allowed';
  if (/\([^)]*([*+?|]|\{\d)[^)]*\)\s*([*+?]|\{\d)/.test(body.replace(/\\./g, ''))) return 'a repeated group may not contain a quantifier or an alternation';
  return null;
}

export type TitleMatcher = (title: string) => boolean;

/** A keyword or `/regex/` → a matcher; PolicyError says why a filter is refused. */
export function compileTitleFilter(filter: string): TitleMatcher {
  const f = filter.trim();
  if (!f) throw new PolicyError('a title filter may not be empty');
  if (f.length > MAX_FILTER_LENGTH) throw new PolicyError(`title filter longer than ${MAX_FILTER_LENGTH} characters`);
  const rx = /^\/(.+)\/$/s.exec(f);
  if (!rx) {
    const word = f.toLowerCase();
    return (title) => title.slice(0, MAX_TITLE_MATCHED).toLowerCase().includes(word);
  }
  const body = lowerPattern(rx[1]!);
  let re: RegExp;
  try {
    if (!LINEAR) {
      const problem = staticSafetyProblem(body);
      if (problem) throw new PolicyError(`title filter ${f}: ${problem}`);
    }
    re = new RegExp(body, LINEAR ? 'l' : '');
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const why = /linear time/i.test((e as Error).message) ? 'lookarounds and backreferences are not allowed (filters must run in linear time)' : (e as Error).message.replace(/^Invalid regular expression: /, '');
    throw new PolicyError(`title filter ${f}: ${why}`);
  }
  return (title) => re.test(title.slice(0, MAX_TITLE_MATCHED).toLowerCase());
}

/** A zod string that is a valid title filter (the API, the CLI and YAML feed lists). */
export const titleFilterSchema = z
  .string()
  .trim()
  .min(1, 'a title filter may not be empty')
  .max(MAX_FILTER_LENGTH, `at most ${MAX_FILTER_LENGTH} characters`)
  .superRefine((f, ctx) => {
    try {
      compileTitleFilter(f);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });
export const titleFiltersSchema = z.array(titleFilterSchema).max(MAX_FILTERS, `at most ${MAX_FILTERS} filters`);
const durationS = z.number().int().min(0).max(7 * 86_400);

/** A retention spec (audio/retention-policy.ts), kept as its canonical string. */
export const audioRetentionSpecSchema = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const parsed = parseAudioRetention(v);
    if (parsed) return v.trim();
    ctx.addIssue({ code: 'custom', message: 'expected keep-all, delete-after-transcribe, last:N (N ≥ 1) or days:D (D ≥ 1)' });
    return z.NEVER;
  });

/** The policy fields as the API, the CLI and YAML take them (snake_case, all optional). */
export const policyInputSchema = z.object({
  backfill: backfillInput.optional(),
  include: titleFiltersSchema.optional(),
  exclude: titleFiltersSchema.optional(),
  min_duration_s: durationS.nullable().optional(),
  max_duration_s: durationS.nullable().optional(),
  audio_retention: audioRetentionSpecSchema.nullable().optional(),
  audio_download: z.enum(AUDIO_DOWNLOADS).nullable().optional(),
});
export type PolicyInput = z.output<typeof policyInputSchema>;

/** `base` with the given fields changed; a min above the max is refused. */
export function applyPolicyInput(base: FeedPolicy, input: PolicyInput): FeedPolicy {
  const next: FeedPolicy = {
    backfill: input.backfill ?? base.backfill,
    include: input.include ?? base.include,
    exclude: input.exclude ?? base.exclude,
    minDurationS: input.min_duration_s === undefined ? base.minDurationS : input.min_duration_s,
    maxDurationS: input.max_duration_s === undefined ? base.maxDurationS : input.max_duration_s,
    audioRetention: input.audio_retention === undefined ? base.audioRetention : input.audio_retention,
    audioDownload: input.audio_download === undefined ? base.audioDownload : input.audio_download,
  };
  if (next.minDurationS !== null && next.maxDurationS !== null && next.minDurationS > next.maxDurationS) throw new PolicyError(`min_duration_s (${next.minDurationS}) is above max_duration_s (${next.maxDurationS})`);
  return next;
}

/** The policy as stored (feeds.policy jsonb); anything unreadable counts as unset. */
export const storedPolicySchema = z.object({
  backfill: backfillSchema.nullable().catch(null).default(null),
  include: z.array(z.string()).catch([]).default([]),
  exclude: z.array(z.string()).catch([]).default([]),
  minDurationS: z.number().nullable().catch(null).default(null),
  maxDurationS: z.number().nullable().catch(null).default(null),
  audioRetention: z
    .string()
    .refine((v) => parseAudioRetention(v) !== null)
    .nullable()
    .catch(null)
    .default(null),
  audioDownload: z.enum(AUDIO_DOWNLOADS).nullable().catch(null).default(null),
});

export function readStoredPolicy(raw: unknown): FeedPolicy {
  const p = storedPolicySchema.safeParse(raw ?? {});
  return p.success ? p.data : { ...EMPTY_POLICY };
}

/** The feed's AUDIO_RETENTION: its own, else the appliance's. */
export function effectiveAudioRetention(global: AudioRetention, override: string | null): AudioRetention {
  return (override !== null ? parseAudioRetention(override) : null) ?? global;
}

/** The feed's AUDIO_DOWNLOAD: its own, else the appliance's. */
export function effectiveAudioDownload(global: AudioDownload, override: AudioDownload | null | undefined): AudioDownload {
  return override ?? global;
}

// ------------------------------------------------------------------ decisions

export type PolicyDecision = { queue: PriorityClass } | { skip: string };

/** Why the filters leave the item out, or null when it passes. */
export function filterProblem(ep: Pick<FeedEpisode, 'title' | 'durationS'>, policy: FeedPolicy, compiled = compileFilters(policy)): string | null {
  const title = ep.title ?? '';
  if (compiled.include.length && !compiled.include.some((m) => m.test(title))) return `filtered: the title matches none of ${policy.include.join(', ')}`;
  const ex = compiled.exclude.find((m) => m.test(title));
  if (ex) return `filtered: the title matches ${ex.filter}`;
  const d = ep.durationS;
  if (d !== null && d !== undefined) {
    if (policy.minDurationS !== null && d < policy.minDurationS) return `filtered: shorter than ${policy.minDurationS} s (${Math.round(d)} s)`;
    if (policy.maxDurationS !== null && d > policy.maxDurationS) return `filtered: longer than ${policy.maxDurationS} s (${Math.round(d)} s)`;
  }
  return null;
}

export interface CompiledFilters {
  include: { filter: string; test: TitleMatcher }[];
  exclude: { filter: string; test: TitleMatcher }[];
}

/** A stored filter that no longer compiles (should not happen: they are checked when set) is ignored rather than stopping the feed. */
export function compileFilters(policy: FeedPolicy): CompiledFilters {
  const compile = (fs: string[]) =>
    fs.flatMap((filter) => {
      try {
        return [{ filter, test: compileTitleFilter(filter) }];
      } catch {
        return [];
      }
    });
  return { include: compile(policy.include), exclude: compile(policy.exclude) };
}

const publishedMs = (ep: Pick<FeedEpisode, 'published'>) => (ep.published ? Date.parse(ep.published) : Number.NaN);

/**
 * What happens to each new item of a poll. `fresh`: the poll's new items, newest first (planPoll).
 * `horizon`: the newest publication time the feed held when it was first polled (null: this is
 * the first poll). Items published after the horizon (or undated, after the first poll) are new
 * episodes of a followed feed: `new`. The rest is back catalogue, judged by the backfill: `newest N`
 * takes the N newest items that pass the filters on the first poll (so back catalogue found by
 * later polls is skipped), `since` those published on or after the date, `all` everything; queued
 * back catalogue is `backfill`. The filters apply to every item.
 */
export function decideNewEpisodes(fresh: readonly FeedEpisode[], policy: FeedPolicy, ctx: { horizon: Date | null; defaultBackfill: Backfill }): Map<string, PolicyDecision> {
  const compiled = compileFilters(policy);
  const backfill = policy.backfill ?? ctx.defaultBackfill;
  const firstPoll = ctx.horizon === null;
  const horizonMs = ctx.horizon?.getTime() ?? Number.NaN;
  const out = new Map<string, PolicyDecision>();
  let taken = 0;
  for (const ep of fresh) {
    const filtered = filterProblem(ep, policy, compiled);
    if (filtered) {
      out.set(ep.episodeKey, { skip: filtered });
      continue;
    }
    const t = publishedMs(ep);
    if (!firstPoll && (Number.isNaN(t) || t > horizonMs)) {
      out.set(ep.episodeKey, { queue: 'new' });
      continue;
    }
    if (backfill === 'all') out.set(ep.episodeKey, { queue: 'backfill' });
    else if ('since' in backfill) {
      const since = Date.parse(`${backfill.since}T00:00:00Z`);
      out.set(ep.episodeKey, !Number.isNaN(t) && t >= since ? { queue: 'backfill' } : { skip: `backfill policy: published before ${backfill.since}${Number.isNaN(t) ? ' (no date)' : ''}` });
    } else if (firstPoll && taken < backfill.newest) {
      taken++;
      out.set(ep.episodeKey, { queue: 'backfill' });
    } else out.set(ep.episodeKey, { skip: `backfill policy: not among the newest ${backfill.newest} when the feed was added` });
  }
  return out;
}

/** The horizon a first poll sets: the newest publication time among the feed's items (now when none is dated). */
export function horizonOf(items: readonly Pick<FeedEpisode, 'published'>[], now = new Date()): Date {
  let max = Number.NaN;
  for (const ep of items) {
    const t = publishedMs(ep);
    if (!Number.isNaN(t) && (Number.isNaN(max) || t > max)) max = t;
  }
  return Number.isNaN(max) ? now : new Date(max);
}
