import type { DataSource, EntityManager } from 'typeorm';
import { EpisodeEntity } from '../db/entities/episode.entity';
import type { FeedEpisode, ParsedEpisode } from '../feeds/types';
import { isRunningState, type EpisodeStateName } from './state';

export interface StateChange {
  state: EpisodeStateName;
  jobId?: string | null;
  reason?: string | null;
  failedStage?: string | null;
  error?: string | null;
  /** Sets attempts (failed) instead of leaving it. */
  attempts?: number;
}

/** Episodes (global catalog): upserts from feed polls, state changes, the rebuild of a stage's FeedEpisode. */
export class EpisodeRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Inserts new episodes as `pending`, refreshes metadata of known ones (never their state).
   * Batched (one statement per UPSERT_BATCH items). An item Postgres refuses as data (SQLSTATE
   * class 22: a value out of range, an untranslatable character…) is left out and reported in
   * `rejected`, so one bad item never stops the rest of its feed.
   * `correlationId`: the poll's, kept on new rows (default: the episode key).
   */
  async upsertFromFeed(episodes: readonly FeedEpisode[], correlationId?: string): Promise<{ created: string[]; rejected: { episodeKey: string; title: string; error: string }[] }> {
    const created: string[] = [];
    const rejected: { episodeKey: string; title: string; error: string }[] = [];
    for (let i = 0; i < episodes.length; i += UPSERT_BATCH) {
      const batch = episodes.slice(i, i + UPSERT_BATCH);
      try {
        created.push(...(await this.upsertBatch(batch, correlationId)));
      } catch (e) {
        if (!isDataException(e)) throw e;
        // Find the refused item(s): one statement per item for this batch.
        for (const ep of batch) {
          try {
            created.push(...(await this.upsertBatch([ep], correlationId)));
          } catch (err) {
            if (!isDataException(err)) throw err;
            rejected.push({ episodeKey: ep.episodeKey, title: ep.title, error: (err as Error).message });
          }
        }
      }
    }
    return { created, rejected };
  }

  private async upsertBatch(episodes: readonly FeedEpisode[], correlationId?: string): Promise<string[]> {
    const rows = episodes.map((ep) => {
      const { feedId, feedUrl: _u, episodeKey, ...source } = ep;
      return {
        episode_key: episodeKey,
        feed_id: feedId,
        guid: ep.guid,
        title: ep.title,
        published_at: ep.published,
        duration_s: ep.durationS === null ? null : Math.round(ep.durationS),
        enclosure: ep.enclosure ?? null,
        transcripts: ep.transcripts ?? [],
        source: source satisfies ParsedEpisode,
        correlation_id: correlationId ?? episodeKey,
      };
    });
    const result = (await this.ds.query(
      `INSERT INTO episodes (episode_key, feed_id, guid, title, published_at, duration_s, enclosure, transcripts, source, state, correlation_id)
       SELECT x.episode_key, x.feed_id, x.guid, x.title, x.published_at, x.duration_s, x.enclosure, x.transcripts, x.source, 'pending', x.correlation_id
       FROM jsonb_to_recordset($1::jsonb) AS x(episode_key text, feed_id text, guid text, title text, published_at timestamptz, duration_s integer,
         enclosure jsonb, transcripts jsonb, source jsonb, correlation_id text)
       ON CONFLICT (episode_key) DO UPDATE SET title = EXCLUDED.title, published_at = EXCLUDED.published_at, duration_s = EXCLUDED.duration_s,
         guid = EXCLUDED.guid, enclosure = EXCLUDED.enclosure, transcripts = EXCLUDED.transcripts, source = EXCLUDED.source, updated_at = episodes.updated_at
       RETURNING episode_key, (xmax = 0) AS inserted`,
      [JSON.stringify(rows)],
    )) as { episode_key: string; inserted: boolean }[];
    return result.filter((r) => r.inserted).map((r) => r.episode_key);
  }

  /** The feed's episodes as a poll needs them: key, enclosure URL and publication time (ISO). */
  async knownOfFeed(feedId: string): Promise<{ episodeKey: string; enclosureUrl: string | null; published: string | null }[]> {
    const rows = (await this.ds.query(`SELECT episode_key, enclosure->>'url' AS url, published_at FROM episodes WHERE feed_id = $1`, [feedId])) as {
      episode_key: string;
      url: string | null;
      published_at: Date | null;
    }[];
    return rows.map((r) => ({ episodeKey: r.episode_key, enclosureUrl: r.url, published: r.published_at ? new Date(r.published_at).toISOString() : null }));
  }

  get(episodeKey: string): Promise<EpisodeEntity | null> {
    return this.ds.getRepository(EpisodeEntity).findOneBy({ episodeKey });
  }

  /** The FeedEpisode the stages expect, rebuilt from the stored parsed item. */
  async feedEpisode(episodeKey: string): Promise<{ row: EpisodeEntity; episode: FeedEpisode } | null> {
    const rows = (await this.ds.query(`SELECT e.episode_key, f.url FROM episodes e JOIN feeds f ON f.id = e.feed_id WHERE e.episode_key = $1`, [episodeKey])) as { url: string }[];
    const row = await this.get(episodeKey);
    if (!row || !rows[0]) return null;
    return { row, episode: { ...row.source, feedId: row.feedId, feedUrl: rows[0].url, episodeKey } };
  }

  async setState(episodeKey: string, change: StateChange, em: EntityManager = this.ds.manager): Promise<void> {
    const running = isRunningState(change.state);
    await em.query(
      `UPDATE episodes SET state = $2::text::episode_state, job_id = $3, state_reason = $4, failed_stage = $5,
         -- kept while a retry runs (it says why the last attempt failed), dropped once the episode is done
         last_error = CASE WHEN $2::text = 'failed' THEN $6::text WHEN $2::text = 'done' THEN NULL ELSE last_error END,
         attempts = COALESCE($7::int, CASE WHEN $2::text = 'pending' THEN 0 ELSE attempts END), updated_at = now()
       WHERE episode_key = $1`,
      [episodeKey, change.state, running ? (change.jobId ?? null) : null, change.reason ?? null, change.failedStage ?? null, change.error ?? null, change.attempts ?? null],
    );
  }

  /** Running-state episodes last changed before `olderThanMs` ago (reconciler, reaper). */
  async runningSince(olderThanMs: number, limit = 500): Promise<Pick<EpisodeEntity, 'episodeKey' | 'feedId' | 'state' | 'jobId' | 'updatedAt' | 'attempts'>[]> {
    const rows = (await this.ds.query(
      `SELECT episode_key, feed_id, state, job_id, updated_at, attempts FROM episodes
       WHERE state IN ('pending','downloading','transcribing','enriching','indexing','projecting')
         AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
       ORDER BY updated_at LIMIT $2`,
      [olderThanMs, limit],
    )) as { episode_key: string; feed_id: string; state: EpisodeStateName; job_id: string | null; updated_at: Date; attempts: number }[];
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id, state: r.state, jobId: r.job_id, updatedAt: r.updated_at, attempts: r.attempts }));
  }

  /**
   * Failed episodes whose last error says the disk was full (ENOSPC, "no space left on device"),
   * failed more than `olderThanMs` ago, oldest first, whose failed stage has run fewer than
   * `maxStageAttempts[stage]` attempts in all (stage_runs.attempts of that stage): the scheduler
   * retries them once the disk check is healthy, a bounded number of times.
   */
  async failedOutOfSpace(olderThanMs: number, maxStageAttempts: Record<string, number>, limit = 50): Promise<OutOfSpaceFailure[]> {
    const rows = (await this.ds.query(
      `SELECT e.episode_key, e.feed_id, e.failed_stage, e.last_error, COALESCE(a.attempts, 0)::int AS stage_attempts
       FROM episodes e
       JOIN unnest($3::text[], $4::int[]) AS c(stage, max_attempts) ON c.stage = e.failed_stage
       LEFT JOIN LATERAL (SELECT max(r.attempts) AS attempts FROM stage_runs r WHERE r.episode_key = e.episode_key AND r.stage = e.failed_stage) a ON true
       WHERE e.state = 'failed' AND e.last_error ~* $1 AND e.updated_at < now() - make_interval(secs => $2::double precision / 1000)
         AND COALESCE(a.attempts, 0) < c.max_attempts
       ORDER BY e.updated_at LIMIT $5`,
      [OUT_OF_SPACE_PATTERN.source, olderThanMs, Object.keys(maxStageAttempts), Object.values(maxStageAttempts), limit],
    )) as { episode_key: string; feed_id: string; failed_stage: string; last_error: string; stage_attempts: number }[];
    return rows.map((r) => ({ episodeKey: r.episode_key, feedId: r.feed_id, failedStage: r.failed_stage, lastError: r.last_error, stageAttempts: r.stage_attempts }));
  }

  /** Sets the reason shown for the episode's current state, if it is still in `state`. */
  async noteReason(episodeKey: string, state: EpisodeStateName, reason: string): Promise<void> {
    await this.ds.query(`UPDATE episodes SET state_reason = $3 WHERE episode_key = $1 AND state = $2::text::episode_state`, [episodeKey, state, reason]);
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = (await this.ds.query(`SELECT state::text AS state, count(*)::int AS n FROM episodes GROUP BY state`)) as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  async oldestInState(): Promise<Record<string, number>> {
    const rows = (await this.ds.query(
      `SELECT state::text AS state, EXTRACT(EPOCH FROM now() - min(updated_at))::float8 AS age FROM episodes
       WHERE state IN ('pending','downloading','transcribing','enriching','indexing','projecting') GROUP BY state`,
    )) as { state: string; age: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.age]));
  }
}

/** An error that says the disk was full (Node's ENOSPC code, or the text tools such as ffmpeg print). */
export const OUT_OF_SPACE_PATTERN = /ENOSPC|no space left on device/i;

export function isOutOfSpaceError(message: string | null | undefined): boolean {
  return !!message && OUT_OF_SPACE_PATTERN.test(message);
}

/** An episode that failed for lack of disk space, and how many attempts its failed stage has had in all. */
export interface OutOfSpaceFailure {
  episodeKey: string;
  feedId: string;
  failedStage: string;
  lastError: string;
  stageAttempts: number;
}

/** Items per upsert statement of a feed poll. */
const UPSERT_BATCH = 500;

/** Postgres refused a value (SQLSTATE class 22, "data exception"). */
function isDataException(e: unknown): boolean {
  const code = (e as { code?: unknown; driverError?: { code?: unknown } })?.code ?? (e as { driverError?: { code?: unknown } })?.driverError?.code;
  return typeof code === 'string' && code.startsWith('22');
}

export type StageRunRow = { stage: string; fingerprint: string; status: string; attempts: number };

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

/** stage_runs: one row per (episode, stage, fingerprint); `done` rows are real executions, `reused` ones attached to existing artifacts. */
export class StageRunRepository {
  constructor(private readonly ds: DataSource) {}

  async start(episodeKey: string, stage: string, fingerprint: string): Promise<number> {
    const rows = (await this.ds.query(
      `INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, started_at) VALUES ($1, $2, $3, 'running', 1, now())
       ON CONFLICT (episode_key, stage, fingerprint) DO UPDATE SET status = 'running', attempts = stage_runs.attempts + 1, started_at = now(),
         finished_at = NULL, error = NULL
       RETURNING attempts`,
      [episodeKey, stage, fingerprint],
    )) as { attempts: number }[];
    return rows[0].attempts;
  }

  async finish(episodeKey: string, stage: string, fingerprint: string, r: { status: 'done' | 'failed' | 'skipped' | 'not_configured'; durationMs: number; error?: string | null; artifactPath?: string | null }): Promise<void> {
    await this.ds.query(
      `INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, started_at, finished_at, duration_ms, error, artifact_path)
       VALUES ($1, $2, $3, $4, 1, now(), now(), $5, $6, $7)
       ON CONFLICT (episode_key, stage, fingerprint) DO UPDATE SET status = $4, finished_at = now(), duration_ms = $5, error = $6, artifact_path = $7`,
      [episodeKey, stage, fingerprint, r.status, r.durationMs, r.error ?? null, r.artifactPath ?? null],
    );
  }

  /** An artifact set already existed (another tenant, atomic mode, a retried job): record the attachment once. */
  async recordReuse(episodeKey: string, stage: string, fingerprint: string, artifactPath: string): Promise<void> {
    await this.ds.query(
      `INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, finished_at, duration_ms, artifact_path)
       VALUES ($1, $2, $3, 'reused', 0, now(), 0, $4)
       ON CONFLICT (episode_key, stage, fingerprint) DO UPDATE SET artifact_path = $4,
         status = CASE WHEN stage_runs.status IN ('done','reused') THEN stage_runs.status ELSE 'done' END`,
      [episodeKey, stage, fingerprint, artifactPath],
    );
  }

  /**
   * Runs still marked `running` that started more than `olderThanMs` ago, with their episode's
   * state (reconciler). A run is left `running` when its worker died or lost Postgres between
   * `start` and `finish`; the (stage, status) index serves the lookup.
   */
  async leftRunning(stages: readonly string[], olderThanMs: number, limit = 200): Promise<LeftRunningRun[]> {
    const rows = (await this.ds.query(
      `SELECT r.id::text AS id, r.episode_key, r.stage, r.fingerprint, r.started_at::text AS started_at, e.feed_id, e.state::text AS state, e.failed_stage, e.last_error
       FROM stage_runs r JOIN episodes e USING (episode_key)
       WHERE r.stage = ANY($1::text[]) AND r.status = 'running' AND r.started_at < now() - make_interval(secs => $2::double precision / 1000)
       ORDER BY r.started_at LIMIT $3`,
      [stages, olderThanMs, limit],
    )) as { id: string; episode_key: string; stage: string; fingerprint: string; started_at: string; feed_id: string; state: EpisodeStateName; failed_stage: string | null; last_error: string | null }[];
    return rows.map((r) => ({ id: r.id, episodeKey: r.episode_key, stage: r.stage, fingerprint: r.fingerprint, startedAt: r.started_at, feedId: r.feed_id, episodeState: r.state, failedStage: r.failed_stage, lastError: r.last_error }));
  }

  /** Settles a run left `running`, unless it was started again meanwhile (its started_at moved). Returns whether it changed. */
  async settleLeftRunning(run: Pick<LeftRunningRun, 'id' | 'startedAt'>, r: { status: 'done' | 'failed'; error?: string | null; artifactPath?: string | null }): Promise<boolean> {
    const rows = (await this.ds.query(
      `UPDATE stage_runs SET status = $3, finished_at = now(), error = $4, artifact_path = COALESCE($5, artifact_path)
       WHERE id = $1::bigint AND status = 'running' AND started_at = $2::timestamptz RETURNING id`,
      [run.id, run.startedAt, r.status, r.error ?? null, r.artifactPath ?? null],
    )) as unknown[];
    return rows.length > 0;
  }

  async forEpisode(episodeKey: string): Promise<StageRunRow[]> {
    return (await this.ds.query(`SELECT stage, fingerprint, status, attempts FROM stage_runs WHERE episode_key = $1 ORDER BY id`, [episodeKey])) as StageRunRow[];
  }
}
