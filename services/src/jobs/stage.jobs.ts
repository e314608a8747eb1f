import type { DataSource } from 'typeorm';
import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage, PodbrainError } from '../core/errors';
import { hashOf } from '../core/hash';
import type { Logger } from '../core/logger';
import { EpisodeEventPublisher } from '../episodes/events';
import { EpisodeRepository, StageRunRepository } from '../episodes/episodes.repository';
import { FeedRepository } from '../episodes/feeds.repository';
import { STATE_OF_STAGE, type EpisodeStateName } from '../episodes/state';
import type { FeedEpisode } from '../feeds/types';
import { stageFingerprint } from '../pipeline/runner';
import { EpisodeSkipped, isNotConfiguredError, type Stage, type StageName } from '../pipeline/stage';
import { type EpisodeJobStage, type Queues, stageJobId } from '../queue/queues';
import { childOutsideContext } from '../telemetry/correlation';
import { metrics } from '../telemetry/metrics';
import { projectEpisode, PROJECTION_VERSION } from '../projection/project';

/** Everything a stage-mode worker needs; built once per process (roles/context.ts). */
export interface PipelineDeps {
  config: Config;
  ds: DataSource;
  store: ArtifactStore;
  /** The same stage chain as atomic mode: `buildStages(config)`. */
  stages: readonly Stage[];
  queues: Queues;
  events: EpisodeEventPublisher;
  log: Logger;
  episodes: EpisodeRepository;
  stageRuns: StageRunRepository;
  feeds: FeedRepository;
}

/** Where an episode stands along the chain, recomputed from plans + committed artifacts (never trusted from Redis). */
export interface ChainWalk {
  inputs: Partial<Record<StageName, ArtifactRef>>;
  /** The first stage that is not configured here (the chain stops before it). */
  blocked?: { stage: StageName; reason: string };
  /** The first configured stage without a committed artifact. */
  next?: { stage: Stage; fingerprint: string };
  /** A stage's plan said this episode cannot be processed by design (e.g. no enclosure). */
  skipped?: { stage: StageName; reason: string };
}

/**
 * Plans stages in order, using committed artifacts as inputs, exactly like the atomic
 * runner (same `plan`, same `stageFingerprint`, same store). Stops at `until` (returned as
 * `next` whether or not its artifact exists), at the first missing artifact, or at the
 * first stage that is not configured.
 */
export async function walkChain(deps: Pick<PipelineDeps, 'config' | 'store' | 'stages'>, episode: FeedEpisode, until?: StageName): Promise<ChainWalk> {
  const inputs: ChainWalk['inputs'] = {};
  for (const stage of deps.stages) {
    let plan;
    try {
      plan = await stage.plan({ config: deps.config, episode, inputs });
    } catch (e) {
      if (e instanceof EpisodeSkipped) return { inputs, skipped: { stage: stage.name, reason: e.reason } };
      throw e;
    }
    if (!plan.configured) return { inputs, blocked: { stage: stage.name, reason: plan.reason } };
    const fingerprint = stageFingerprint(stage, plan.parts, inputs);
    if (stage.name === until) return { inputs, next: { stage, fingerprint } };
    const ref = await deps.store.find(episode.feedId, episode.episodeKey, stage.name, fingerprint);
    if (!ref) return { inputs, next: { stage, fingerprint } };
    inputs[stage.name] = ref;
  }
  return { inputs };
}

/** The project step's fingerprint: what it projects (every input's fingerprint) and how. */
export function projectFingerprint(inputs: ChainWalk['inputs']): string {
  return hashOf({ stage: 'project', version: PROJECTION_VERSION, inputs: Object.entries(inputs).map(([k, r]) => [k, r?.fingerprint]) });
}

export type StageJobOutcome = 'done' | 'reused' | 'skipped' | 'redirected' | 'gone' | 'projected';

export class StagePipeline {
  constructor(private readonly deps: PipelineDeps) {}

  /**
   * Commits the episode's next state and job id in Postgres, publishes it, then enqueues the
   * job (deterministic id: a double enqueue is a no-op). A crash between commit and enqueue
   * is repaired by the scheduler's reconciler, which finds the state without its job.
   */
  async advance(episode: FeedEpisode, to: EpisodeJobStage, fingerprint: string, opts: { state?: EpisodeStateName } = {}): Promise<string> {
    const state = to === 'ingest' && opts.state ? opts.state : STATE_OF_STAGE[to];
    const jobId = stageJobId(to, episode.episodeKey, fingerprint);
    await this.deps.episodes.setState(episode.episodeKey, { state, jobId });
    await this.deps.events.publish({ episode_key: episode.episodeKey, feed_id: episode.feedId, state, stage: to });
    await this.deps.queues.addStageJob(to, { episodeKey: episode.episodeKey, feedId: episode.feedId, fingerprint });
    return jobId;
  }

  /** Enqueues whatever comes next for the episode according to its artifacts (new episode, reconciler, next stage). */
  async advanceFromArtifacts(episode: FeedEpisode, opts: { state?: EpisodeStateName } = {}): Promise<string | null> {
    const walk = await walkChain(this.deps, episode);
    if (walk.skipped) {
      await this.skip(episode, walk.skipped.stage, walk.skipped.reason);
      return null;
    }
    if (walk.next) return this.advance(episode, walk.next.stage.name as EpisodeJobStage, walk.next.fingerprint, opts);
    return this.advance(episode, 'project', projectFingerprint(walk.inputs), opts);
  }

  /** Runs one per-episode stage job (ingest, transcribe, enrich, index). */
  async runStage(stageName: EpisodeJobStage, episodeKey: string, ctx: { signal: AbortSignal; attempt: number; maxAttempts: number }): Promise<StageJobOutcome> {
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
    const { stage, fingerprint } = walk.next;

    const existing = await store.find(episode.feedId, episodeKey, stage.name, fingerprint);
    if (existing) {
      await stageRuns.recordReuse(episodeKey, stage.name, fingerprint, existing.dir);
      // A late duplicate for a finished episode changes nothing; otherwise carry on down the chain.
      if (row.state !== 'done') await this.advanceFromArtifacts(episode);
      return 'reused';
    }

    const running = STATE_OF_STAGE[stageName];
    if (row.state !== running) {
      await episodes.setState(episodeKey, { state: running, jobId: row.jobId });
      await events.publish({ episode_key: episodeKey, feed_id: episode.feedId, state: running, stage: stageName });
    }

    const t0 = performance.now();
    await stageRuns.start(episodeKey, stage.name, fingerprint);
    const staging = await store.stage(episode.feedId, episodeKey, stage.name, fingerprint);
    const slog = log.child({ stage: stage.name });
    try {
      const outcome = await stage.run({ config, episode, inputs: walk.inputs, store, log: slog, signal: ctx.signal, progress: () => undefined }, staging);
      const durationMs = Math.round(performance.now() - t0);
      const ref = await store.commit(staging, { episode_key: episodeKey, feed_id: episode.feedId, stage: stage.name, fingerprint, duration_ms: durationMs, info: outcome.info });
      await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'done', durationMs, artifactPath: ref.dir });
      metrics.episodesProcessedTotal.inc({ stage: stage.name, status: outcome.info.status === 'degraded' ? 'degraded' : 'ok' });
      metrics.episodeStageDurationSeconds.observe({ stage: stage.name }, durationMs / 1000);
      slog.info({ duration_ms: durationMs, fingerprint }, 'stage done');
    } catch (e) {
      await store.discard(staging);
      const durationMs = Math.round(performance.now() - t0);
      if (e instanceof EpisodeSkipped) {
        await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'skipped', durationMs, error: e.reason });
        metrics.episodesProcessedTotal.inc({ stage: stage.name, status: 'skipped' });
        await this.skip(episode, stage.name, e.reason);
        return 'skipped';
      }
      if (isNotConfiguredError(e)) {
        // Nothing here can do this stage for this episode (e.g. an unusable publisher transcript and no
        // Whisper model): a retry cannot help. Same outcome as a plan that says not configured.
        const reason = `not configured: ${stage.name}: ${errorMessage(e)}`;
        await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'skipped', durationMs, error: reason });
        metrics.episodesProcessedTotal.inc({ stage: stage.name, status: 'skipped' });
        slog.info({ reason }, 'stage not configured for this episode');
        await this.skip(episode, stage.name, reason);
        return 'skipped';
      }
      const message = ctx.signal.aborted ? `aborted: ${errorMessage(ctx.signal.reason ?? e)}` : errorMessage(e);
      await stageRuns.finish(episodeKey, stage.name, fingerprint, { status: 'failed', durationMs, error: message });
      metrics.episodesProcessedTotal.inc({ stage: stage.name, status: 'failed' });
      slog.warn({ err: message, attempt: ctx.attempt, max_attempts: ctx.maxAttempts }, 'stage failed');
      await this.failIfLastAttempt(episode, stage.name, message, ctx);
      throw e;
    }
    await this.advanceFromArtifacts(episode);
    return 'done';
  }

  /** project: artifacts → Postgres, then the episode's final state in the same transaction. */
  async runProject(episodeKey: string, ctx: { signal: AbortSignal; attempt: number; maxAttempts: number }): Promise<StageJobOutcome> {
    const { ds, episodes, stageRuns, events, log } = this.deps;
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
      await ds.transaction(async (em) => {
        await projectEpisode(em, this.deps.store, episode, walk.inputs);
        await episodes.setState(episodeKey, final, em);
      });
      const durationMs = Math.round(performance.now() - t0);
      await stageRuns.finish(episodeKey, 'project', fingerprint, { status: 'done', durationMs });
      metrics.episodesProcessedTotal.inc({ stage: 'project', status: 'ok' });
      metrics.episodeStageDurationSeconds.observe({ stage: 'project' }, durationMs / 1000);
    } catch (e) {
      const message = errorMessage(e);
      await stageRuns.finish(episodeKey, 'project', fingerprint, { status: 'failed', durationMs: Math.round(performance.now() - t0), error: message });
      metrics.episodesProcessedTotal.inc({ stage: 'project', status: 'failed' });
      log.warn({ episode_key: episodeKey, err: message }, 'projection failed');
      await this.failIfLastAttempt(episode, 'project', message, ctx);
      throw e;
    }
    await events.publish({ episode_key: episodeKey, feed_id: episode.feedId, state: final.state, stage: 'project', ...(final.reason ? { reason: final.reason } : {}) });
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

export function assertEpisodeStage(name: string): asserts name is EpisodeJobStage {
  if (!['ingest', 'transcribe', 'enrich', 'index', 'project'].includes(name)) throw new PodbrainError('bad_stage', `not a per-episode stage: ${name}`);
}
