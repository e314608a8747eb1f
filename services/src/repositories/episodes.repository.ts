import { Inject, Injectable, Optional } from '@nestjs/common';
import { type Compilable, type ExpressionBuilder, sql } from 'kysely';
import { PodbrainError } from '../core/errors';
import { Database, type Executor, QueryTemplate } from '../db/database';
import type { EpisodeRow, EpisodeStateName } from '../db/schema';
import type { Enclosure, TranscriptRef } from '../feeds/types';
import { isRunningState, RUNNING_STATES } from '../episodes/state';
import { DEFAULT_PRIORITY_CLASS, isPriorityClass, type PriorityClass } from '../queue/priority';
import type { FeedEpisode, ParsedEpisode } from '../feeds/types';
import { readStoredPolicy } from '../feeds/policy';
import type { EpisodeDetailView, EpisodePage, EpisodeSummaryView } from '../api/contract/responses';
import { NOT_STARTED, PlaybackRepository, type PlaybackMark } from './playback.repository';
import { sanitizeShowNotes } from '../text/show-notes';
import { episodeFailure } from '../api/episodes/episode-failure';

// The views the api answers with are the API contract's (api/contract/responses.ts).
export type { EpisodeDetailView, EpisodePage, EpisodeSummaryView } from '../api/contract/responses';

/** A summary as Postgres returns it (summaryColumns), plus the keyset sort key; the caller's playback comes from its own read. */
type SummaryRow = Omit<EpisodeSummaryView, keyof PlaybackMark> & { sort_key: string };

// Field by field: detail rows carry more columns (source, enclosure) that are not part of a summary.
const toSummary = (r: SummaryRow, playback: PlaybackMark = NOT_STARTED): EpisodeSummaryView => ({
  episode_key: r.episode_key,
  feed_id: r.feed_id,
  feed_title: r.feed_title,
  title: r.title,
  published_at: r.published_at,
  duration_s: r.duration_s,
  state: r.state,
  state_reason: r.state_reason,
  failed_stage: r.failed_stage,
  last_error: r.last_error,
  updated_at: r.updated_at,
  position_ms: playback.position_ms,
  played: playback.played,
  image: r.image,
});

/** A cursor this API did not hand out (→ 400 invalid_cursor). */
class InvalidCursorError extends PodbrainError {
  constructor() {
    super('invalid_cursor', 'cursor is not one this API handed out; start again without it');
  }
}

/** Keyset cursor: the last row's (sort key, episode_key), opaque to clients. */
function encodeCursor(sortKey: string, key: string): string {
  return Buffer.from(JSON.stringify([sortKey, key])).toString('base64url');
}

/** timestamptz as text (`published_at::text`), e.g. 2024-01-01 00:00:00+00; nothing else reaches the query. */
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:\d{2}){0,2}|Z)?$/;
/** An episode key as the API hands them out (stricter than api/validation.ts `KEY`: keys are made by core/identity and start alphanumeric). */
const KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    // Both parts go to Postgres: a key as the API hands them out, a timestamp as Postgres wrote it.
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      typeof v[0] === 'string' &&
      typeof v[1] === 'string' &&
      v[1].length > 0 &&
      v[1].length <= 200 &&
      KEY.test(v[1]) &&
      (v[0] === '-infinity' || (PG_TIMESTAMP.test(v[0]) && !Number.isNaN(Date.parse(v[0]))))
    ) {
      return [v[0], v[1]];
    }
  } catch {
    /* fall through */
  }
  throw new InvalidCursorError();
}

// Timestamps leave Postgres as the very text Date#toISOString() makes: no row pays for a
// text → Date → text round trip in the api (it was a tenth of a page request's CPU).
const isoText = <T extends string | null>(column: string) => sql<T>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The summary columns of `e` (episodes, or the per-feed lateral rows) joined with `f` (feeds).
 * The same list in every Library query, so each page shape is one prepared statement.
 */
const summaryColumns = (itemImage = sql<string | null>`e.source->>'image'`) =>
  [
    sql.ref<string>('e.episode_key').as('episode_key'),
    sql.ref<string>('e.feed_id').as('feed_id'),
    sql.ref<string | null>('f.title').as('feed_title'),
    sql.ref<string>('e.title').as('title'),
    isoText<string | null>('e.published_at').as('published_at'),
    sql.ref<number | null>('e.duration_s').as('duration_s'),
    sql<EpisodeStateName>`${sql.ref('e.state')}::text`.as('state'),
    sql.ref<string | null>('e.state_reason').as('state_reason'),
    sql.ref<string | null>('e.failed_stage').as('failed_stage'),
    sql.ref<string | null>('e.last_error').as('last_error'),
    isoText<string>('e.updated_at').as('updated_at'),
    // The item's own cover (itunes:image), else the feed's.
    sql<string | null>`COALESCE(NULLIF(${itemImage}, ''), f.image)`.as('image'),
  ] as const;

/** The values of a Library page query (QueryTemplate stand-ins); a shape that does not use one ignores it. */
type PageParams = { tenantId: string; want: number; feedId: string; state: EpisodeStateName; afterAt: string; afterKey: string };

/** How long a tenant's page strategy (see `readsNewestIndex`) is kept before it is counted again. */
const STRATEGY_TTL_MS = 30_000;

/** Injection token of the Library's dated-page plan (tests pin it; the api picks per tenant). */
export const EPISODE_LIST_PLAN = Symbol('EPISODE_LIST_PLAN');
export type EpisodeListPlan = 'auto' | 'newest-index' | 'per-feed';

export interface StateChange {
  state: EpisodeStateName;
  jobId?: string | null;
  reason?: string | null;
  failedStage?: string | null;
  error?: string | null;
  /** Sets attempts (failed) instead of leaving it. */
  attempts?: number;
  /** The priority class the episode's jobs run at from now on (queue/priority.ts); unchanged when absent. */
  priorityClass?: PriorityClass;
}

/** How a poll stores a new episode: `skipped` (left out by the feed's policy, with the reason) or `pending` at a class. */
export type InitialEpisodeState = { state: 'skipped'; reason: string } | { state: 'pending'; priorityClass: PriorityClass };

/** An error that says the disk was full (Node's ENOSPC code, or the text tools such as ffmpeg print). */
const OUT_OF_SPACE_PATTERN = /ENOSPC|no space left on device/i;

/** An episode that failed for lack of disk space, and how many attempts its failed stage has had in all. */
export interface OutOfSpaceFailure {
  episodeKey: string;
  feedId: string;
  failedStage: string;
  lastError: string;
  stageAttempts: number;
}

/** A running-state episode as the reconciler and reaper see it. */
export interface RunningEpisode {
  episodeKey: string;
  feedId: string;
  state: EpisodeStateName;
  jobId: string | null;
  updatedAt: Date;
  attempts: number;
}

/** An episode row as the workers and the scheduler use it. */
export interface Episode {
  episodeKey: string;
  feedId: string;
  guid: string | null;
  title: string;
  publishedAt: Date | null;
  durationS: number | null;
  enclosure: Enclosure | null;
  transcripts: TranscriptRef[];
  /** The whole parsed item, so a worker rebuilds the exact FeedEpisode the stages expect. */
  source: ParsedEpisode;
  state: EpisodeStateName;
  stateReason: string | null;
  failedStage: string | null;
  attempts: number;
  lastError: string | null;
  correlationId: string | null;
  /** The deterministic id of the job a running state waits on (reconciler). */
  jobId: string | null;
  /** The class its jobs run at (queue/priority.ts). */
  priorityClass: PriorityClass;
  createdAt: Date;
  updatedAt: Date;
}

function toEpisode(r: EpisodeRow): Episode {
  return {
    episodeKey: r.episode_key,
    feedId: r.feed_id,
    guid: r.guid,
    title: r.title,
    publishedAt: r.published_at,
    durationS: r.duration_s,
    enclosure: r.enclosure,
    transcripts: r.transcripts,
    source: r.source,
    state: r.state,
    stateReason: r.state_reason,
    failedStage: r.failed_stage,
    attempts: r.attempts,
    lastError: r.last_error,
    correlationId: r.correlation_id,
    jobId: r.job_id,
    priorityClass: isPriorityClass(r.priority_class) ? r.priority_class : DEFAULT_PRIORITY_CLASS,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Items per upsert statement of a feed poll. */
const UPSERT_BATCH = 500;

/** Postgres refused a value (SQLSTATE class 22, "data exception"). */
function isDataException(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
}

/** `now() - olderThanMs` on Postgres's clock (the rows' timestamps are written with it). */
const agoMs = (olderThanMs: number) => sql<Date>`now() - make_interval(secs => ${olderThanMs}::double precision / 1000)`;

/**
 * Episodes (global catalog), for the workers and the api alike: upserts from feed polls, state
 * changes, the rebuild of a stage's FeedEpisode; the tenant-scoped Library page and detail.
 */
@Injectable()
export class EpisodeRepository {
  private readonly strategies = new Map<string, { newestIndex: boolean; until: number }>();

  /** `plan` pins the Library's dated-page plan (tests compare the two); by default it is picked per tenant. */
  constructor(
    private readonly database: Database,
    @Optional() @Inject(EPISODE_LIST_PLAN) private readonly plan: EpisodeListPlan = 'auto',
  ) {}

  private get db() {
    return this.database.db;
  }

  private playbackRows?: PlaybackRepository;
  /** The caller's playback state of the episodes a Library read answers with (issue 18). */
  private get playback(): PlaybackRepository {
    return (this.playbackRows ??= new PlaybackRepository(this.database));
  }

  // ------------------------------------------------------------------ worker side (catalog, states)

  /**
   * Inserts new episodes as `pending`, refreshes metadata of known ones (never their state).
   * Batched (one statement per UPSERT_BATCH items). An item Postgres refuses as data (SQLSTATE
   * class 22: a value out of range, an untranslatable character…) is left out and reported in
   * `rejected`, so one bad item never stops the rest of its feed.
   * `correlationId`: the poll's, kept on new rows (default: the episode key).
   */
  async upsertFromFeed(
    episodes: readonly FeedEpisode[],
    correlationId?: string,
    /** The state a new episode starts in (default pending); a known episode's state never changes here. */
    initial?: ReadonlyMap<string, InitialEpisodeState>,
  ): Promise<{ created: string[]; rejected: { episodeKey: string; title: string; error: string }[] }> {
    const created: string[] = [];
    const rejected: { episodeKey: string; title: string; error: string }[] = [];
    for (let i = 0; i < episodes.length; i += UPSERT_BATCH) {
      const batch = episodes.slice(i, i + UPSERT_BATCH);
      try {
        created.push(...(await this.upsertBatch(batch, correlationId, initial)));
      } catch (e) {
        if (!isDataException(e)) throw e;
        // Find the refused item(s): one statement per item for this batch.
        for (const ep of batch) {
          try {
            created.push(...(await this.upsertBatch([ep], correlationId, initial)));
          } catch (err) {
            if (!isDataException(err)) throw err;
            rejected.push({ episodeKey: ep.episodeKey, title: ep.title, error: (err as Error).message });
          }
        }
      }
    }
    return { created, rejected };
  }

  private async upsertBatch(episodes: readonly FeedEpisode[], correlationId?: string, initial?: ReadonlyMap<string, InitialEpisodeState>): Promise<string[]> {
    if (!episodes.length) return [];
    const rows = episodes.map((ep) => {
      const { feedId, feedUrl: _u, episodeKey, ...source } = ep;
      const init = initial?.get(episodeKey);
      return {
        episode_key: episodeKey,
        feed_id: feedId,
        guid: ep.guid,
        title: ep.title,
        published_at: ep.published,
        duration_s: ep.durationS === null ? null : Math.round(ep.durationS),
        // jsonb parameters go as JSON text (pg would send a JS array as a Postgres array)
        enclosure: JSON.stringify(ep.enclosure ?? null),
        transcripts: JSON.stringify(ep.transcripts ?? []),
        source: JSON.stringify(source satisfies ParsedEpisode),
        state: init?.state ?? ('pending' as const),
        state_reason: init?.state === 'skipped' ? init.reason : null,
        priority_class: init?.state === 'pending' ? init.priorityClass : null,
        correlation_id: correlationId ?? episodeKey,
      };
    });
    const result = await this.db
      .insertInto('episodes')
      .values(rows)
      .onConflict((oc) =>
        oc.column('episode_key').doUpdateSet((eb) => ({
          title: eb.ref('excluded.title'),
          published_at: eb.ref('excluded.published_at'),
          duration_s: eb.ref('excluded.duration_s'),
          guid: eb.ref('excluded.guid'),
          enclosure: eb.ref('excluded.enclosure'),
          transcripts: eb.ref('excluded.transcripts'),
          source: eb.ref('excluded.source'),
          updated_at: eb.ref('episodes.updated_at'),
        })),
      )
      .returning(['episode_key', sql<boolean>`(xmax = 0)`.as('inserted')])
      .execute();
    return result.filter((r) => r.inserted).map((r) => r.episode_key);
  }

  /** The feed's episodes as a poll needs them: key, enclosure URL and publication time (ISO). */
  async knownOfFeed(feedId: string): Promise<{ episodeKey: string; enclosureUrl: string | null; published: string | null }[]> {
    const rows = await this.db
      .selectFrom('episodes')
      .select(['episode_key', sql<string | null>`enclosure->>'url'`.as('url'), 'published_at'])
      .where('feed_id', '=', feedId)
      .execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, enclosureUrl: r.url, published: r.published_at ? new Date(r.published_at).toISOString() : null }));
  }

  async get(episodeKey: string): Promise<Episode | null> {
    const row = await this.db.selectFrom('episodes').selectAll().where('episode_key', '=', episodeKey).executeTakeFirst();
    return row ? toEpisode(row) : null;
  }

  /** Only the class (a user's "process now" while the episode is on its way: its later stages follow at it). */
  async setPriorityClass(episodeKey: string, priorityClass: PriorityClass): Promise<void> {
    await this.db.updateTable('episodes').set({ priority_class: priorityClass }).where('episode_key', '=', episodeKey).execute();
  }

  /** The feed's skipped episodes, newest first (process-skipped). */
  async skippedOfFeed(feedId: string, limit = 100_000): Promise<string[]> {
    const rows = await this.db
      .selectFrom('episodes')
      .select('episode_key')
      .where('feed_id', '=', feedId)
      .where('state', '=', 'skipped')
      .orderBy(sql`published_at DESC NULLS LAST`)
      .orderBy('episode_key')
      .limit(limit)
      .execute();
    return rows.map((r) => r.episode_key);
  }

  /** Every episode in one state (clean-artifacts: the finished ones), by key. */
  async keysInState(state: EpisodeStateName): Promise<{ episodeKey: string; feedId: string }[]> {
    const rows = await this.db.selectFrom('episodes').select(['episode_key', 'feed_id']).where('state', '=', state).orderBy('episode_key').execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id }));
  }

  /** The FeedEpisode the stages expect, rebuilt from the stored parsed item. */
  async feedEpisode(episodeKey: string): Promise<{ row: Episode; episode: FeedEpisode } | null> {
    const row = await this.db
      .selectFrom('episodes as e')
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .selectAll('e')
      .select(['f.url as feed_url', 'f.policy as feed_policy'])
      .where('e.episode_key', '=', episodeKey)
      .executeTakeFirst();
    if (!row) return null;
    const { feed_url, feed_policy, ...episodeRow } = row;
    const episode: FeedEpisode = { ...row.source, feedId: row.feed_id, feedUrl: feed_url, episodeKey, feedAudioDownload: readStoredPolicy(feed_policy).audioDownload };
    return { row: toEpisode(episodeRow), episode };
  }

  /** `executor`: an open transaction (`database.transaction`) to change the state with other writes. */
  async setState(episodeKey: string, change: StateChange, executor: Executor = this.db): Promise<void> {
    const running = isRunningState(change.state);
    await executor
      .updateTable('episodes')
      .set((eb) => ({
        state: change.state,
        job_id: running ? (change.jobId ?? null) : null,
        state_reason: change.reason ?? null,
        failed_stage: change.failedStage ?? null,
        // kept while a retry runs (it says why the last attempt failed), dropped once the episode is done
        last_error: change.state === 'failed' ? (change.error ?? null) : change.state === 'done' ? null : eb.ref('last_error'),
        attempts: change.attempts ?? (change.state === 'pending' ? 0 : eb.ref('attempts')),
        ...(change.priorityClass ? { priority_class: change.priorityClass } : {}),
        updated_at: sql<Date>`now()`,
      }))
      .where('episode_key', '=', episodeKey)
      .execute();
  }

  /** Running-state episodes last changed before `olderThanMs` ago (reconciler, reaper). */
  async runningSince(olderThanMs: number, limit = 500): Promise<RunningEpisode[]> {
    const rows = await this.db
      .selectFrom('episodes')
      .select(['episode_key', 'feed_id', 'state', 'job_id', 'updated_at', 'attempts'])
      .where('state', 'in', RUNNING_STATES)
      .where('updated_at', '<', agoMs(olderThanMs))
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id, state: r.state, jobId: r.job_id, updatedAt: r.updated_at, attempts: r.attempts }));
  }

  /**
   * Failed episodes whose last error says the disk was full (ENOSPC, "no space left on device"),
   * failed more than `olderThanMs` ago, oldest first, whose failed stage has run fewer than
   * `maxStageAttempts[stage]` attempts in all (stage_runs.attempts of that stage): the scheduler
   * retries them once the disk check is healthy, a bounded number of times.
   */
  async failedOutOfSpace(olderThanMs: number, maxStageAttempts: Record<string, number>, limit = 50): Promise<OutOfSpaceFailure[]> {
    const limits = Object.entries(maxStageAttempts);
    if (!limits.length) return [];
    const rows = await this.db
      .selectFrom('episodes as e')
      .leftJoinLateral(
        (eb) => eb.selectFrom('stage_runs as r').select((eb) => eb.fn.max('r.attempts').as('attempts')).whereRef('r.episode_key', '=', 'e.episode_key').whereRef('r.stage', '=', 'e.failed_stage').as('a'),
        (join) => join.onTrue(),
      )
      .select((eb) => ['e.episode_key', 'e.feed_id', 'e.failed_stage', 'e.last_error', eb.fn.coalesce('a.attempts', eb.lit(0)).as('stage_attempts')])
      .where('e.state', '=', 'failed')
      .where('e.last_error', '~*', OUT_OF_SPACE_PATTERN.source)
      .where('e.updated_at', '<', agoMs(olderThanMs))
      .where((eb) => eb.or(limits.map(([stage, max]) => eb.and([eb('e.failed_stage', '=', stage), eb(eb.fn.coalesce('a.attempts', eb.lit(0)), '<', max)]))))
      .orderBy('e.updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id, failedStage: r.failed_stage ?? '', lastError: r.last_error ?? '', stageAttempts: r.stage_attempts }));
  }

  /** Sets the reason shown for the episode's current state, if it is still in `state`. */
  async noteReason(episodeKey: string, state: EpisodeStateName, reason: string): Promise<void> {
    await this.db.updateTable('episodes').set({ state_reason: reason }).where('episode_key', '=', episodeKey).where('state', '=', state).execute();
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('episodes')
      .select((eb) => ['state', eb.cast<number>(eb.fn.countAll(), 'integer').as('n')])
      .groupBy('state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async oldestInState(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('episodes')
      .select(['state', sql<number>`EXTRACT(EPOCH FROM now() - min(updated_at))::float8`.as('age')])
      .where('state', 'in', RUNNING_STATES)
      .groupBy('state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, r.age]));
  }

  // ------------------------------------------------------------------ api side (tenant-scoped reads)

  /**
   * The Library's page: newest first, undated episodes last, keyset-paginated; undated ones
   * follow the dated ones. Dated episodes come one of two ways, whichever reads fewer rows for
   * this tenant: down the global (published_at DESC, episode_key DESC) index, skipping other
   * tenants' feeds, or as a top-N per subscribed feed over (feed_id, published_at DESC) merged
   * by Postgres. Every query is a named prepared statement (planned once per connection).
   */
  async list(tenantId: string, p: ListFilters & { limit: number; cursor?: string }): Promise<EpisodePage> {
    const cursor = p.cursor ? decodeCursor(p.cursor) : null;
    const undatedPhase = cursor?.[0] === '-infinity';
    const want = p.limit + 1;
    let rows: SummaryRow[] = [];
    if (!undatedPhase) {
      rows = !p.feedId && !p.state && p.played === undefined && (await this.readsNewestIndex(tenantId)) ? await this.listDatedNewest(tenantId, cursor, want) : await this.listDated(tenantId, p, cursor, want);
    }
    if (rows.length < want) {
      const undated = await this.listUndated(tenantId, p, undatedPhase && cursor ? cursor[1] : null, want - rows.length);
      rows = rows.concat(undated);
    }
    const more = rows.length > p.limit;
    const page = more ? rows.slice(0, p.limit) : rows;
    const last = page[page.length - 1];
    const marks = await this.playback.marksFor(tenantId, page.map((r) => r.episode_key));
    return { items: page.map((r) => toSummary(r, marks.get(r.episode_key))), next_cursor: more && last ? encodeCursor(last.sort_key, last.episode_key) : null };
  }

  /** The tenant's subscribed feeds (optionally one of them), as a subquery. */
  private subscribedFeeds(tenantId: string, feedId?: string) {
    let q = this.db.selectFrom('subscriptions').select('feed_id').where('tenant_id', '=', tenantId);
    if (feedId) q = q.where('feed_id', '=', feedId);
    return q;
  }

  /**
   * The global index yields limit / share rows to find a page when the tenant's feeds hold
   * `share` of all episodes; the per-feed merge reads feeds × limit. With feeds of similar
   * size share ≈ mine / all, so the global index wins when mine² ≥ all (one tenant subscribed
   * to everything, the usual self-hosted case: 51 rows per page). Counted every 30 s: it only
   * picks a plan, the rows are the same either way.
   */
  private async readsNewestIndex(tenantId: string): Promise<boolean> {
    if (this.plan !== 'auto') return this.plan === 'newest-index';
    const known = this.strategies.get(tenantId);
    if (known && known.until > Date.now()) return known.newestIndex;
    const [c] = await this.database.prepared(
      this.db.selectNoFrom((eb) => [
        eb.selectFrom('subscriptions').select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n')).where('tenant_id', '=', tenantId).as('mine'),
        eb.selectFrom('feeds').select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n')).as('feeds'),
      ]),
    );
    const newestIndex = !!c && c.mine !== null && c.feeds !== null && c.mine > 0 && c.mine * c.mine >= c.feeds;
    if (this.strategies.size > 10_000) this.strategies.clear();
    this.strategies.set(tenantId, { newestIndex, until: Date.now() + STRATEGY_TTL_MS });
    return newestIndex;
  }

  /**
   * The Library's page queries, built and compiled once per shape (db/database.ts QueryTemplate):
   * a page is the api's hottest read, and rebuilding the query cost as much as running it.
   */
  private readonly pageTemplates = new Map<string, QueryTemplate<PageParams, SummaryRow>>();

  private pageTemplate(shape: string, build: (p: PageParams) => Compilable<SummaryRow>): QueryTemplate<PageParams, SummaryRow> {
    let t = this.pageTemplates.get(shape);
    if (!t) this.pageTemplates.set(shape, (t = new QueryTemplate(build)));
    return t;
  }

  private listDatedNewest(tenantId: string, cursor: [string, string] | null, want: number): Promise<SummaryRow[]> {
    const template = this.pageTemplate(`newest:${cursor ? 'after' : 'first'}`, (v) => {
      let q = this.db
        .selectFrom('episodes as e')
        .innerJoin('feeds as f', 'f.id', 'e.feed_id')
        .select([...summaryColumns(), sql<string>`e.published_at::text`.as('sort_key')])
        .where('e.feed_id', 'in', this.subscribedFeeds(v.tenantId))
        .where('e.published_at', 'is not', null);
      if (cursor) {
        const at = timestampOf(v.afterAt);
        q = q.where('e.published_at', '<=', at).where((eb) => eb(eb.refTuple('e.published_at', 'e.episode_key'), '<', eb.tuple(at, v.afterKey)));
      }
      return q.orderBy('e.published_at', 'desc').orderBy('e.episode_key', 'desc').limit(v.want);
    });
    return this.database.preparedTemplate(template, { tenantId, want, feedId: '', state: 'done', afterAt: cursor?.[0] ?? '', afterKey: cursor?.[1] ?? '' });
  }

  private listDated(tenantId: string, p: ListFilters, cursor: [string, string] | null, want: number): Promise<SummaryRow[]> {
    const shape = `dated:${p.feedId ? 'feed' : 'all'}:${p.state ? 'state' : 'any'}:${playedShape(p.played)}:${cursor ? 'after' : 'first'}`;
    const template = this.pageTemplate(shape, (v) =>
      this.db
        .selectFrom(this.subscribedFeeds(v.tenantId, p.feedId ? v.feedId : undefined).as('s'))
        .crossJoinLateral((eb) => {
          let e = eb
            .selectFrom('episodes as e')
            .select(['e.episode_key', 'e.feed_id', 'e.title', 'e.published_at', 'e.duration_s', 'e.state', 'e.state_reason', 'e.failed_stage', 'e.last_error', 'e.updated_at', sql<string | null>`e.source->>'image'`.as('item_image')])
            .whereRef('e.feed_id', '=', 's.feed_id')
            .where('e.published_at', 'is not', null);
          if (p.state) e = e.where('e.state', '=', v.state);
          if (p.played !== undefined) e = e.where((eb) => playedBy(eb, v.tenantId, p.played!));
          if (cursor) {
            const at = timestampOf(v.afterAt);
            e = e.where('e.published_at', '<=', at).where((eb) => eb(eb.refTuple('e.published_at', 'e.episode_key'), '<', eb.tuple(at, v.afterKey)));
          }
          return e.orderBy('e.published_at', 'desc').orderBy('e.episode_key', 'desc').limit(v.want).as('e');
        })
        .innerJoin('feeds as f', 'f.id', 'e.feed_id')
        .select([...summaryColumns(sql`e.item_image`), sql<string>`e.published_at::text`.as('sort_key')])
        .orderBy('e.published_at', 'desc')
        .orderBy('e.episode_key', 'desc')
        .limit(v.want),
    );
    return this.database.preparedTemplate(template, { tenantId, want, feedId: p.feedId ?? '', state: p.state ?? 'done', afterAt: cursor?.[0] ?? '', afterKey: cursor?.[1] ?? '' });
  }

  private listUndated(tenantId: string, p: ListFilters, afterKey: string | null, want: number): Promise<SummaryRow[]> {
    const shape = `undated:${p.feedId ? 'feed' : 'all'}:${p.state ? 'state' : 'any'}:${playedShape(p.played)}:${afterKey !== null ? 'after' : 'first'}`;
    const template = this.pageTemplate(shape, (v) => {
      let q = this.db
        .selectFrom('episodes as e')
        .innerJoin('feeds as f', 'f.id', 'e.feed_id')
        .select([...summaryColumns(), sql<string>`'-infinity'`.as('sort_key')])
        .where('e.feed_id', 'in', this.subscribedFeeds(v.tenantId, p.feedId ? v.feedId : undefined))
        .where('e.published_at', 'is', null);
      if (p.state) q = q.where('e.state', '=', v.state);
      if (p.played !== undefined) q = q.where((eb) => playedBy(eb, v.tenantId, p.played!));
      if (afterKey !== null) q = q.where('e.episode_key', '<', v.afterKey);
      return q.orderBy('e.episode_key', 'desc').limit(v.want);
    });
    return this.database.preparedTemplate(template, { tenantId, want, feedId: p.feedId ?? '', state: p.state ?? 'done', afterAt: '', afterKey: afterKey ?? '' });
  }

  /** An episode of a subscribed feed, or null (other tenants' episodes are invisible, not forbidden). */
  async detail(tenantId: string, key: string): Promise<EpisodeDetailView | null> {
    const r = await this.db
      .selectFrom('episodes as e')
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .leftJoin('playback as pb', (j) => j.onRef('pb.episode_key', '=', 'e.episode_key').on('pb.tenant_id', '=', tenantId))
      .select([...summaryColumns(), sql<string>`COALESCE(e.published_at, '-infinity'::timestamptz)::text`.as('sort_key'), 'e.source', 'e.enclosure', 'e.attempts', 'pb.position_ms', 'pb.played'])
      .where('e.episode_key', '=', key)
      .where('e.feed_id', 'in', this.subscribedFeeds(tenantId))
      .executeTakeFirst();
    if (!r) return null;
    // Rows written by older versions (or by hand) may lack fields: read the stored item loosely.
    const src: Partial<ParsedEpisode> & { summary?: unknown } = r.source ?? {};
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    const enclosureUrl = str(r.enclosure?.url);
    return {
      ...toSummary(r, { position_ms: r.position_ms ?? 0, played: r.played ?? false }),
      description: str(src.description) ?? str(src.summary) ?? str(src.contentHtml),
      image: str(src.image) ?? r.image,
      enclosure_url: enclosureUrl,
      audio_url: enclosureUrl,
      // content:encoded is the full notes where a feed has both; description is often a teaser.
      show_notes_html: sanitizeShowNotes(str(src.contentHtml) ?? str(src.description) ?? str(src.summary)),
      failure: episodeFailure(r),
    };
  }

  async visible(tenantId: string, key: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('episodes as e')
      .select(sql<number>`1`.as('one'))
      .where('e.episode_key', '=', key)
      .where('e.feed_id', 'in', this.subscribedFeeds(tenantId))
      .executeTakeFirst();
    return r !== undefined;
  }
}

/** The Library's filters (GET /api/episodes): one feed, one state, played or not by the caller. */
type ListFilters = { feedId?: string; state?: EpisodeStateName; played?: boolean };

const playedShape = (played: boolean | undefined) => (played === undefined ? 'any' : played ? 'played' : 'unplayed');

/** Whether `e` is (played) or is not (unplayed: never saved, or saved unplayed) played by the tenant. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- used inside differently shaped queries, each with an `e` episodes row
function playedBy(eb: ExpressionBuilder<any, any>, tenantId: string, played: boolean) {
  const mark = eb
    .selectFrom('playback as pb')
    .select(sql<number>`1`.as('one'))
    .whereRef('pb.episode_key', '=', 'e.episode_key')
    .where('pb.tenant_id', '=', tenantId)
    .where('pb.played', '=', true);
  return played ? eb.exists(mark) : eb.not(eb.exists(mark));
}

/** A cursor's timestamp (as Postgres printed it) back as timestamptz. */
const timestampOf = (text: string) => sql<Date>`${text}::timestamptz`;
