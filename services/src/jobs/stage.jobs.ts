import type { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import { hashOf } from '../core/hash';
import type { Logger } from '../core/logger';
import { EpisodeEventPublisher } from '../repositories/episode-events.repository';
import type { Database } from '../db/database';
import type { EpisodeRepository } from '../repositories/episodes.repository';
import type { FeedRepository } from '../repositories/feeds.repository';
import type { StageRunRepository } from '../repositories/stage-runs.repository';
import { STATE_OF_STAGE, type EpisodeStateName } from '../episodes/state';
import type { FeedEpisode } from '../feeds/types';
import { executeStage, recordStageRun, walkChain, type ChainWalk } from '../pipeline/execute';
import type { Stage } from '../pipeline/stage';
import { type EpisodeJobStage, type Queues, stageJobId } from '../queue/queues';
import { DEFAULT_PRIORITY_CLASS, type PriorityClass } from '../queue/priority';
import { childOutsideContext } from '../telemetry/correlation';
import { projectEpisode, PROJECTION_VERSION } from '../projection/project';

/** Everything a stage-mode worker needs; built once per process (roles/context.ts). */
export interface PipelineDeps {
  config: Config;
  database: Database;
  store: ArtifactStore;
  /** The same stage chain as atomic mode: `buildStages(config)`. */
  stages: readonly Stage[];
  queues: Queues;
  events: EpisodeEventPublisher;
  log: Logger;
  episodes: EpisodeRepository;
  stageRuns: StageRunRepository;
  feeds: FeedRepository;
  /** Saved searches (saved-searches/): told of each episode projected done, after the commit; absent: no standing alerts here. */
  savedSearches?: { episodeProjected(episodeKey: string): void };
}

/** The project step's fingerprint: what it projects (every input's fingerprint) and how. */
export function projectFingerprint(inputs: ChainWalk['inputs']): string {
  return hashOf({ stage: 'project', version: PROJECTION_VERSION, inputs: Object.entries(inputs).map(([k, r]) => [k, r?.fingerprint]) });
}

export interface AdvanceOptions {
  /** The state a new episode's ingest job waits in (pending) instead of downloading. */
  state?: EpisodeStateName;
  /** The class the next job runs at (queue/priority.ts); default: the episode's stored class. */
  priorityClass?: PriorityClass;
}

export interface StageJobContext {
  signal: AbortSignal;
  attempt: number;
  maxAttempts: number;
}

export type StageJobOutcome = 'done' | 'reused' | 'skipped' | 'redirected' | 'gone' | 'projected';

/**
 * Stage mode's per-episode jobs (the ingest, transcribe, enrich, index and project queues): each
 * job runs its stage through the stage executor (pipeline/execute.ts, the same one `podbrain run`
 * uses) and keeps only the queue side here: advance (Postgres state, event, next job), skip, fail.
 */
export class StageJobs {
  constructor(private readonly deps: PipelineDeps) {}

  /**
   * Commits the episode's next state and job id in Postgres, publishes it, then enqueues the
   * job (deterministic id: a double enqueue is a no-op). A crash between commit and enqueue
   * is repaired by the scheduler's reconciler, which finds the state without its job.
   */
  async advance(episode: FeedEpisode, to: EpisodeJobStage, fingerprint: string, opts: AdvanceOptions = {}): Promise<string> {
    const state = to === 'ingest' && opts.state ? opts.state : STATE_OF_STAGE[to];
    const jobId = stageJobId(to, episode.episodeKey, fingerprint);
    // Without a class (the next stage of the chain, the reconciler, retries) the episode's stored one: what
    // its first job was queued at, or what a user's "process now" raised it to while a stage ran.
    const priorityClass = opts.priorityClass ?? (await this.deps.episodes.get(episode.episodeKey))?.priorityClass ?? DEFAULT_PRIORITY_CLASS;
    await this.deps.episodes.setState(episode.episodeKey, { state, jobId, priorityClass });
    await this.deps.events.publish({ episode_key: episode.episodeKey, feed_id: episode.feedId, state, stage: to });
    await this.deps.queues.addStageJob(to, { episodeKey: episode.episodeKey, feedId: episode.feedId, fingerprint, priorityClass });
    return jobId;
  }

  /** Enqueues whatever comes next for the episode according to its artifacts (new episode, reconciler, next stage). */
  async advanceFromArtifacts(episode: FeedEpisode, opts: AdvanceOptions = {}): Promise<string | null> {
    const walk = await walkChain(this.deps, episode);
    if (walk.skipped) {
      await this.skip(episode, walk.skipped.stage, walk.skipped.reason);
      return null;
    }
    if (walk.next) return this.advance(episode, walk.next.stage.name as EpisodeJobStage, walk.next.fingerprint, opts);
    return this.advance(episode, 'project', projectFingerprint(walk.inputs), opts);
  }

  /** Runs one per-episode stage job (ingest, transcribe, enrich, index; a project job goes to runProject). */
  async runStage(stageName: EpisodeJobStage, episodeKey: string, ctx: StageJobContext): Promise<StageJobOutcome> {
    const { config, store, log: rootLog, episodes, stageRuns, events } = this.deps;
    if (stageName === 'project') return this.runProject(episodeKey, ctx);
    const loaded = await episodes.feedEpisode(episodeKey);
    if (!loaded) return 'gone';
    const { episode, row } = loaded;
    // In a worker job these come from its log context; bound here only when called outside one.
    const log = childOutsideContext(rootLog, { episode_key: episodeKey, correlation_id: row.correlationId ?? episodeKey, queue: stageName });

    let walk: ChainWalk;
    try {
      walk = await walkChain(this.deps, episode, stageName);
    } catch (e) {
      await this.failIfLastAttempt(episode, stageName, `plan: ${errorMessage(e)}`, ctx);
      throw e;
    }
    if (walk.skipped) {
      await this.skip(episode, walk.skipped.stage, walk.skipped.reason);
      return 'skipped';
    }
    if (!walk.next || walk.next.stage.name !== stageName) {
      // An earlier stage is missing or not configured: send the episode where its artifacts say it is.
      log.info({ blocked: walk.blocked, next: walk.next?.stage.name }, 'episode is not ready for this stage; redirecting');
      await this.advanceFromArtifacts(episode);
      return 'redirected';
    }
    const { stage, fingerprint, recipe } = walk.next;
    const running = STATE_OF_STAGE[stageName];

    const run = await executeStage({
      config,
      store,
      log,
      episode,
      stage,
      fingerprint,
      inputs: walk.inputs,
      signal: ctx.signal,
      failureLogFields: { attempt: ctx.attempt, max_attempts: ctx.maxAttempts },
      beforeRun: async () => {
        if (row.state !== running) {
          await episodes.setState(episodeKey, { state: running, jobId: row.jobId });
          await events.publish({ episode_key: episodeKey, feed_id: episode.feedId, state: running, stage: stageName });
        }
        await stageRuns.start(episodeKey, stage.name, fingerprint, recipe);
      },
      afterCommit: (ref, durationMs) => stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'done', durationMs, artifactPath: ref.dir, recipe }),
    });
    switch (run.status) {
      case 'reused':
        await stageRuns.recordReuse(episodeKey, stage.name, fingerprint, run.ref.dir, recipe);
        // A late duplicate for a finished episode changes nothing; otherwise carry on down the chain.
        if (row.state !== 'done') await this.advanceFromArtifacts(episode);
        return 'reused';
      case 'done':
        log.child({ stage: stage.name }).info({ duration_ms: run.durationMs, fingerprint }, 'stage done');
        await this.advanceFromArtifacts(episode);
        return 'done';
      case 'skipped':
        await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'skipped', durationMs: run.durationMs, error: run.reason });
        await this.skip(episode, stage.name, run.reason);
        return 'skipped';
      case 'not_configured': {
        // Nothing here can do this stage for this episode (e.g. an unusable publisher transcript and no
        // Whisper model): a retry cannot help. Same outcome as a plan that says not configured.
        const reason = `not configured: ${stage.name}: ${run.reason}`;
        await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'skipped', durationMs: run.durationMs, error: reason });
        await this.skip(episode, stage.name, reason);
        return 'skipped';
      }
      case 'failed':
        await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'failed', durationMs: run.durationMs, error: run.message });
        await this.failIfLastAttempt(episode, stage.name, run.message, ctx);
        throw run.error;
    }
  }

  /** project: artifacts → Postgres, then the episode's final state in the same transaction. */
  async runProject(episodeKey: string, ctx: StageJobContext): Promise<StageJobOutcome> {
    const { database, episodes, stageRuns, events, log } = this.deps;
    const loaded = await episodes.feedEpisode(episodeKey);
    if (!loaded) return 'gone';
    const { episode } = loaded;
    const walk = await walkChain(this.deps, episode);
    if (walk.skipped) {
      await this.skip(episode, walk.skipped.stage, walk.skipped.reason);
      return 'skipped';
    }
    if (walk.next) {
      await this.advance(episode, walk.next.stage.name as EpisodeJobStage, walk.next.fingerprint);
      return 'redirected';
    }
    const fingerprint = projectFingerprint(walk.inputs);
    const t0 = performance.now();
    await stageRuns.start(episodeKey, 'project', fingerprint);
    const final: { state: EpisodeStateName; reason: string | null; failedStage: string | null } = walk.blocked
      ? { state: 'skipped', reason: `not configured: ${walk.blocked.stage}: ${walk.blocked.reason}`, failedStage: walk.blocked.stage }
      : { state: 'done', reason: null, failedStage: null };
    try {
      ctx.signal.throwIfAborted();
      // The run's end commits with the episode's state: whoever sees the episode done sees its project run done.
      const durationMs = await database.transaction(async (trx) => {
        await projectEpisode(trx, this.deps.store, episode, walk.inputs);
        await episodes.setState(episodeKey, final, trx);
        const ms = Math.round(performance.now() - t0);
        await stageRuns.finish(episodeKey, 'project', fingerprint, { status: 'done', durationMs: ms }, trx);
        return ms;
      });
      recordStageRun('project', 'ok', durationMs);
    } catch (e) {
      const message = errorMessage(e);
      await stageRuns.finish(episodeKey, 'project', fingerprint, { status: 'failed', durationMs: Math.round(performance.now() - t0), error: message });
      recordStageRun('project', 'failed');
      log.warn({ episode_key: episodeKey, err: message }, 'projection failed');
      await this.failIfLastAttempt(episode, 'project', message, ctx);
      throw e;
    }
    await events.publish({ episode_key: episodeKey, feed_id: episode.feedId, state: final.state, stage: 'project', ...(final.reason ? { reason: final.reason } : {}) });
    // Best effort and not awaited: matching the saved searches never fails nor slows the job.
    if (final.state === 'done') {
      try {
        this.deps.savedSearches?.episodeProjected(episodeKey);
      } catch (e) {
        log.warn({ episode_key: episodeKey, err: errorMessage(e) }, 'saved searches not told of the episode');
      }
    }
    return 'projected';
  }

  private async skip(episode: FeedEpisode, stage: string, reason: string): Promise<void> {
    await this.deps.episodes.setState(episode.episodeKey, { state: 'skipped', reason, failedStage: stage });
    await this.deps.events.publish({ episode_key: episode.episodeKey, feed_id: episode.feedId, state: 'skipped', stage, reason });
  }

  private async failIfLastAttempt(episode: FeedEpisode, stage: string, error: string, ctx: { attempt: number; maxAttempts: number }): Promise<void> {
    if (ctx.attempt < ctx.maxAttempts) return;
    // The reason says why, not only that it failed (last_error keeps the bare message).
    const reason = `${stage} failed after ${ctx.attempt} attempt(s): ${error}`;
    await this.deps.episodes.setState(episode.episodeKey, { state: 'failed', failedStage: stage, error, attempts: ctx.attempt, reason });
    await this.deps.events.publish({ episode_key: episode.episodeKey, feed_id: episode.feedId, state: 'failed', stage, reason, error });
  }
}
