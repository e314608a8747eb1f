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

const now = () => sql<Date>`now()`;

/** stage_runs: one row per (episode, stage, fingerprint); `done` rows are real executions, `reused` ones attached to existing artifacts. */
@Injectable()
export class StageRunRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async start(episodeKey: string, stage: string, fingerprint: string): Promise<number> {
    const row = await this.db
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: 'running', attempts: 1, started_at: now() })
      .onConflict((oc) =>
        oc.columns(['episode_key', 'stage', 'fingerprint']).doUpdateSet((eb) => ({
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
    r: { status: 'done' | 'failed' | 'skipped' | 'not_configured'; durationMs: number; error?: string | null; artifactPath?: string | null },
    executor: Executor = this.db,
  ): Promise<void> {
    const error = r.error ?? null;
    const artifactPath = r.artifactPath ?? null;
    await executor
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: r.status, attempts: 1, started_at: now(), finished_at: now(), duration_ms: r.durationMs, error, artifact_path: artifactPath })
      .onConflict((oc) =>
        oc.columns(['episode_key', 'stage', 'fingerprint']).doUpdateSet({ status: r.status, finished_at: now(), duration_ms: r.durationMs, error, artifact_path: artifactPath }),
      )
      .execute();
  }

  /** An artifact set already existed (another tenant, atomic mode, a retried job): record the attachment once. */
  async recordReuse(episodeKey: string, stage: string, fingerprint: string, artifactPath: string): Promise<void> {
    await this.db
      .insertInto('stage_runs')
      .values({ episode_key: episodeKey, stage, fingerprint, status: 'reused', attempts: 0, finished_at: now(), duration_ms: 0, artifact_path: artifactPath })
      .onConflict((oc) =>
        oc.columns(['episode_key', 'stage', 'fingerprint']).doUpdateSet((eb) => ({
          artifact_path: artifactPath,
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
