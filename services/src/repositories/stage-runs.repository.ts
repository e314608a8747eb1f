import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database, type Executor } from '../db/database';
import type { EpisodeStateName, StageRunStatus } from '../db/schema';

/** A stage run as the pipeline's bookkeeping reads it. */
export interface StageRunSummary {
  stage: string;
  fingerprint: string;
  status: StageRunStatus;
  attempts: number;
}

/** A stage run still marked `running`, with the state of its episode now. */
export interface LeftRunningRun {
  id: string;
  episodeKey: string;
  stage: string;
  fingerprint: string;
  /** As Postgres printed it (microseconds kept): the token that says the run was not started again. */
  startedAt: string;
  feedId: string;
  episodeState: EpisodeStateName;
  failedStage: string | null;
  lastError: string | null;
}

/** Per stage of a `done` episode's latest run: how many, and how many were made with another recipe (stale) or before recipes were recorded (unknown). */
export interface StaleCount {
  stage: string;
  doneTotal: number;
  stale: number;
  unknown: number;
}

/** A `done` episode with at least one stale (or unknown) stage. */
export interface StaleEpisode {
  episodeKey: string;
  feedId: string;
  /** Stages whose latest run has a recipe the configuration no longer plans. */
  stale: string[];
  /** Stages whose latest run was recorded without a recipe. */
  unknown: string[];
}

/** Per stage, the recipe hashes the configuration plans now (pipeline/execute.ts currentRecipes). */
export type CurrentRecipes = Partial<Record<string, string[]>>;

const now = () => sql<Date>`now()`;

/**
 * The latest `done`/`reused` run of each tracked stage of each `done` episode (the run whose
 * artifact the episode's projection uses), with `is_stale`: its recipe is not one the
 * configuration plans now. `cur` is the current recipes as JSON ({stage: [hash, ...]}).
 */
function latestRuns(current: CurrentRecipes, f: { feedId?: string; episodeKey?: string }) {
  const cur = JSON.stringify(current);
  return sql`
    WITH cur AS (
      SELECT key AS stage, ARRAY(SELECT jsonb_array_elements_text(value)) AS recipes FROM jsonb_each(${cur}::jsonb)
    ),
    latest AS (
      SELECT DISTINCT ON (r.episode_key, r.stage) r.episode_key, r.stage, r.recipe, e.feed_id, e.published_at
      FROM stage_runs r
      JOIN episodes e ON e.episode_key = r.episode_key
      WHERE e.state = 'done'
        AND r.status IN ('done', 'reused')
        AND r.stage IN (SELECT stage FROM cur)
        ${f.feedId !== undefined ? sql`AND e.feed_id = ${f.feedId}` : sql``}
        ${f.episodeKey !== undefined ? sql`AND e.episode_key = ${f.episodeKey}` : sql``}
      ORDER BY r.episode_key, r.stage, r.finished_at DESC NULLS LAST, r.id DESC
    ),
    runs AS (
      SELECT l.*, (l.recipe IS NOT NULL AND NOT (l.recipe = ANY (c.recipes))) AS is_stale
      FROM latest l JOIN cur c ON c.stage = l.stage
    )`;
}

/** stage_runs: one row per (episode, stage, fingerprint); `done` rows are real executions, `reused` ones attached to existing artifacts. */
@Injectable()
export class StageRunRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  /** `recipe`: the stage's recipe hash (pipeline/execute.ts stageRecipe), for stale detection. */
  async start(episodeKey: string, stage: string, fingerprint: string, recipe: string | null = null): Promise<number> {
    const row = await this.db
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: 'running', attempts: 1, started_at: now(), recipe })
      .onConflict((oc) =>
        oc.columns(['episode_key', 'stage', 'fingerprint']).doUpdateSet((eb) => ({
          recipe: eb.fn.coalesce(eb.val(recipe), 'stage_runs.recipe'),
          status: 'running',
          attempts: eb('stage_runs.attempts', '+', 1),
          started_at: now(),
          finished_at: null,
          error: null,
        })),
      )
      .returning('attempts')
      .executeTakeFirstOrThrow();
    return row.attempts;
  }

  /** `executor`: a transaction when the run's end must land together with the episode's state (project). */
  async finish(
    episodeKey: string,
    stage: string,
    fingerprint: string,
    r: { status: 'done' | 'failed' | 'skipped' | 'not_configured'; durationMs: number; error?: string | null; artifactPath?: string | null; recipe?: string | null },
    executor: Executor = this.db,
  ): Promise<void> {
    const error = r.error ?? null;
    const artifactPath = r.artifactPath ?? null;
    const recipe = r.recipe ?? null;
    await executor
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: r.status, attempts: 1, started_at: now(), finished_at: now(), duration_ms: r.durationMs, error, artifact_path: artifactPath, recipe })
      .onConflict((oc) =>
        oc.columns(['episode_key', 'stage', 'fingerprint']).doUpdateSet((eb) => ({
          status: r.status,
          finished_at: now(),
          duration_ms: r.durationMs,
          error,
          artifact_path: artifactPath,
          recipe: eb.fn.coalesce(eb.val(recipe), 'stage_runs.recipe'),
        })),
      )
      .execute();
  }

  /** An artifact set already existed (another tenant, atomic mode, a retried job): record the attachment once. */
  async recordReuse(episodeKey: string, stage: string, fingerprint: string, artifactPath: string, recipe: string | null = null): Promise<void> {
    await this.db
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: 'reused', attempts: 0, finished_at: now(), duration_ms: 0, artifact_path: artifactPath, recipe })
      .onConflict((oc) =>
        oc.columns(['episode_key', 'stage', 'fingerprint']).doUpdateSet((eb) => ({
          artifact_path: artifactPath,
          recipe: eb.fn.coalesce(eb.val(recipe), 'stage_runs.recipe'),
          status: eb
            .case()
            .when('stage_runs.status', 'in', ['done', 'reused'])
            .then(eb.ref('stage_runs.status'))
            .else(eb.val<StageRunStatus>('done'))
            .end(),
        })),
      )
      .execute();
  }

  /**
   * Committed artifact sets per stage: distinct artifact directories of `done` or `reused` runs
   * (a set reused by another tenant counts once). Sampled by the scheduler into podbrain_corpus_artifacts.
   */
  async committedArtifactsByStage(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('stage_runs')
      .select((eb) => ['stage', eb.cast<number>(eb.fn.count('artifact_path').distinct(), 'integer').as('n')])
      .where('status', 'in', ['done', 'reused'])
      .where('artifact_path', 'is not', null)
      .groupBy('stage')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.stage, Number(r.n)]));
  }

  /**
   * Runs still marked `running` that started more than `olderThanMs` ago, with their episode's
   * state (reconciler). A run is left `running` when its worker died or lost Postgres between
   * `start` and `finish`; the (stage, status) index serves the lookup.
   */
  async leftRunning(stages: readonly string[], olderThanMs: number, limit = 200): Promise<LeftRunningRun[]> {
    if (!stages.length) return [];
    const rows = await this.db
      .selectFrom('stage_runs as r')
      .innerJoin('episodes as e', 'e.episode_key', 'r.episode_key')
      .select((eb) => [
        eb.cast<string>('r.id', 'text').as('id'),
        'r.episode_key',
        'r.stage',
        'r.fingerprint',
        eb.cast<string>('r.started_at', 'text').as('started_at'),
        'e.feed_id',
        'e.state',
        'e.failed_stage',
        'e.last_error',
      ])
      .where('r.stage', 'in', stages)
      .where('r.status', '=', 'running')
      .where('r.started_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs}::double precision / 1000)`)
      .orderBy('r.started_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: r.id, episodeKey: r.episode_key, stage: r.stage, fingerprint: r.fingerprint, startedAt: r.started_at, feedId: r.feed_id, episodeState: r.state, failedStage: r.failed_stage, lastError: r.last_error }));
  }

  /** Settles a run left `running`, unless it was started again meanwhile (its started_at moved). Returns whether it changed. */
  async settleLeftRunning(run: Pick<LeftRunningRun, 'id' | 'startedAt'>, r: { status: 'done' | 'failed'; error?: string | null; artifactPath?: string | null }): Promise<boolean> {
    const rows = await this.db
      .updateTable('stage_runs')
      .set((eb) => ({ status: r.status, finished_at: now(), error: r.error ?? null, artifact_path: eb.fn.coalesce(eb.val(r.artifactPath ?? null), 'artifact_path') }))
      .where('id', '=', run.id)
      .where('status', '=', 'running')
      .where('started_at', '=', sql<Date>`${run.startedAt}::timestamptz`)
      .returning('id')
      .execute();
    return rows.length > 0;
  }

  /**
   * Per tracked stage (those in `current`): `done` episodes that have a run of it, how many of
   * those were made with a recipe the configuration no longer plans (stale), and how many were
   * recorded before recipes were (unknown). One query; no episode is planned.
   */
  async staleCounts(current: CurrentRecipes, f: { feedId?: string } = {}): Promise<StaleCount[]> {
    const { rows } = await sql<{ stage: string; done_total: number; stale: number; unknown: number }>`
      ${latestRuns(current, f)}
      SELECT stage, count(*)::int AS done_total, count(*) FILTER (WHERE is_stale)::int AS stale, count(*) FILTER (WHERE recipe IS NULL)::int AS unknown
      FROM runs GROUP BY stage`.execute(this.db);
    const by = new Map(rows.map((r) => [r.stage, r]));
    return Object.keys(current).map((stage) => {
      const r = by.get(stage);
      return { stage, doneTotal: r?.done_total ?? 0, stale: r?.stale ?? 0, unknown: r?.unknown ?? 0 };
    });
  }

  /**
   * `done` episodes with a stale or unknown stage (only those stale or unknown at `stage` when
   * named), newest first, at most `limit`.
   */
  async staleEpisodes(current: CurrentRecipes, f: { feedId?: string; episodeKey?: string; stage?: string; limit: number }): Promise<StaleEpisode[]> {
    const { rows } = await sql<{ episode_key: string; feed_id: string; stale: string[]; unknown: string[] }>`
      ${latestRuns(current, f)}
      SELECT episode_key, feed_id,
        array_agg(stage ORDER BY stage) FILTER (WHERE is_stale) AS stale,
        array_agg(stage ORDER BY stage) FILTER (WHERE recipe IS NULL) AS unknown
      FROM runs
      GROUP BY episode_key, feed_id, published_at
      HAVING bool_or(is_stale OR recipe IS NULL)
        ${f.stage !== undefined ? sql`AND bool_or((is_stale OR recipe IS NULL) AND stage = ${f.stage})` : sql``}
      ORDER BY published_at DESC NULLS LAST, episode_key
      LIMIT ${f.limit}`.execute(this.db);
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id, stale: r.stale ?? [], unknown: r.unknown ?? [] }));
  }

  /** How many `done` episodes staleEpisodes would list without a limit. */
  async countStaleEpisodes(current: CurrentRecipes, f: { feedId?: string; episodeKey?: string; stage?: string }): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      ${latestRuns(current, f)}
      SELECT count(DISTINCT episode_key)::int AS n FROM runs
      WHERE (is_stale OR recipe IS NULL) ${f.stage !== undefined ? sql`AND stage = ${f.stage}` : sql``}`.execute(this.db);
    return rows[0]?.n ?? 0;
  }

  /**
   * The episode's committed artifact for this fingerprint is the one it uses now: its run gets
   * the current recipe and becomes the latest (a run recorded before recipes were, or one of an
   * older recipe the configuration went back to). A set without a run is recorded as reused.
   */
  async markCurrent(episodeKey: string, stage: string, fingerprint: string, recipe: string, artifactPath: string): Promise<void> {
    await this.db
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: 'reused', attempts: 0, finished_at: now(), duration_ms: 0, artifact_path: artifactPath, recipe })
      .onConflict((oc) =>
        oc
          .columns(['episode_key', 'stage', 'fingerprint'])
          .doUpdateSet((eb) => ({
            recipe,
            finished_at: now(),
            artifact_path: artifactPath,
            status: eb.case().when('stage_runs.status', 'in', ['done', 'reused']).then(eb.ref('stage_runs.status')).else(eb.val<StageRunStatus>('reused')).end(),
          })),
      )
      .execute();
  }

  async forEpisode(episodeKey: string): Promise<StageRunSummary[]> {
    return this.db.selectFrom('stage_runs').select(['stage', 'fingerprint', 'status', 'attempts']).where('episode_key', '=', episodeKey).orderBy('id').execute();
  }

  /** Absolute directory of the newest successful (or reused) stage run of a stage, if any. */
  async artifactDir(episodeKey: string, stage: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('stage_runs')
      .select('artifact_path')
      .where('episode_key', '=', episodeKey)
      .where('stage', '=', stage)
      .where('status', 'in', ['done', 'reused'])
      .where('artifact_path', 'is not', null)
      .orderBy('finished_at', (ob) => ob.desc().nullsLast())
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.artifact_path ?? null;
  }
}
