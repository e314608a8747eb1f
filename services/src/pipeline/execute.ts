import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import { hashOf } from '../core/hash';
import type { Logger } from '../core/logger';
import type { FeedEpisode } from '../feeds/types';
import { metrics } from '../telemetry/metrics';
import { EpisodeSkipped, isNotConfiguredError, type Stage, type StageName } from './stage';

/**
 * The one stage executor (ARCHITECTURE §2): plan → fingerprint → find → run → commit/discard →
 * classify. Atomic mode (pipeline/runner.ts, the CLI) and stage mode (jobs/stage.jobs.ts, the
 * queue handlers) both drive stages through here; what they add is only their bookkeeping
 * (the CLI's report, or Postgres state, events and the next job).
 */

/** Committed artifacts of the stages planned so far, by stage: the next stages' inputs. */
export type StageInputs = Partial<Record<StageName, ArtifactRef>>;

function stageFingerprint(stage: Stage, parts: Record<string, unknown>, inputs: StageInputs): string {
  return hashOf({ stage: stage.name, parts, inputs: stage.needs.map((n) => inputs[n]?.fingerprint ?? null) });
}

/** The hash of a stage's recipe (StagePlan.recipe) recorded with each of its runs (stage_runs.recipe). */
export function stageRecipe(stage: StageName, recipe: Record<string, unknown>): string {
  return hashOf({ stage, recipe });
}

/** Per stage that declares its recipes (Stage.recipes), the recipe hashes the configuration can plan now. */
export function currentRecipes(config: Config, stages: readonly Stage[]): Partial<Record<StageName, string[]>> {
  const out: Partial<Record<StageName, string[]>> = {};
  for (const stage of stages) {
    if (stage.recipes) out[stage.name] = [...new Set(stage.recipes(config).map((r) => stageRecipe(stage.name, r)))];
  }
  return out;
}

/** What a stage's plan says for this episode, with the stage fingerprint (and recipe hash) when it would run. */
export type PlannedStage =
  | { kind: 'planned'; fingerprint: string; recipe: string }
  /** Not configured here (the chain stops before this stage; the episode is incomplete). */
  | { kind: 'not_configured'; reason: string }
  /** The episode cannot be processed by design (e.g. no enclosure), known from the feed alone. */
  | { kind: 'skipped'; reason: string };

/** Plans one stage; throws what its plan throws, except EpisodeSkipped (→ `skipped`). */
export async function planStage(config: Config, stage: Stage, episode: FeedEpisode, inputs: StageInputs): Promise<PlannedStage> {
  let plan;
  try {
    plan = await stage.plan({ config, episode, inputs });
  } catch (e) {
    if (e instanceof EpisodeSkipped) return { kind: 'skipped', reason: e.reason };
    throw e;
  }
  if (!plan.configured) return { kind: 'not_configured', reason: plan.reason };
  return { kind: 'planned', fingerprint: stageFingerprint(stage, plan.parts, inputs), recipe: stageRecipe(stage.name, plan.recipe ?? plan.parts) };
}

/** Where an episode stands along the chain, recomputed from plans + committed artifacts (never trusted from Redis). */
export interface ChainWalk {
  inputs: StageInputs;
  /** The recipe hash of every stage planned (those with an artifact, and `next`). */
  recipes: Partial<Record<StageName, string>>;
  /** The first stage that is not configured here (the chain stops before it). */
  blocked?: { stage: StageName; reason: string };
  /** The first configured stage without a committed artifact. */
  next?: { stage: Stage; fingerprint: string; recipe: string };
  /** A stage's plan said this episode cannot be processed by design (e.g. no enclosure). */
  skipped?: { stage: StageName; reason: string };
}

/**
 * Plans stages in order, using committed artifacts as inputs (the same `planStage`, the same
 * store, for both modes). Stops at `until` (returned as `next` whether or not its artifact
 * exists), at the first missing artifact, or at the first stage that is not configured.
 */
export async function walkChain(deps: { config: Config; store: ArtifactStore; stages: readonly Stage[] }, episode: FeedEpisode, until?: StageName): Promise<ChainWalk> {
  const inputs: StageInputs = {};
  const recipes: ChainWalk['recipes'] = {};
  for (const stage of deps.stages) {
    const planned = await planStage(deps.config, stage, episode, inputs);
    if (planned.kind === 'skipped') return { inputs, recipes, skipped: { stage: stage.name, reason: planned.reason } };
    if (planned.kind === 'not_configured') return { inputs, recipes, blocked: { stage: stage.name, reason: planned.reason } };
    const { fingerprint, recipe } = planned;
    recipes[stage.name] = recipe;
    if (stage.name === until) return { inputs, recipes, next: { stage, fingerprint, recipe } };
    const ref = await deps.store.find(episode.feedId, episode.episodeKey, stage.name, fingerprint);
    if (!ref) return { inputs, recipes, next: { stage, fingerprint, recipe } };
    inputs[stage.name] = ref;
  }
  return { inputs, recipes };
}

/** How one stage execution ended. */
export type StageExecution =
  /** Its artifact for this fingerprint was already committed: nothing ran. */
  | { status: 'reused'; fingerprint: string; ref: ArtifactRef }
  | { status: 'done'; fingerprint: string; ref: ArtifactRef; durationMs: number; info: Record<string, unknown> }
  /** The stage found the episode cannot be processed by design (EpisodeSkipped). */
  | { status: 'skipped'; fingerprint: string; reason: string; durationMs: number }
  /** The stage found while running that nothing configured here can do it (notConfiguredError); `reason` is its message. */
  | { status: 'not_configured'; fingerprint: string; reason: string; durationMs: number }
  /** `message`: the error's, prefixed `aborted: <why>` when the run's signal fired. */
  | { status: 'failed'; fingerprint: string; error: unknown; message: string; durationMs: number };

export interface ExecuteStage {
  config: Config;
  store: ArtifactStore;
  /** Bound to the episode (the stage's own log gets `stage` added). */
  log: Logger;
  episode: FeedEpisode;
  stage: Stage;
  fingerprint: string;
  inputs: StageInputs;
  signal: AbortSignal;
  progress?(fraction: number, note?: string): void;
  /** Called once the stage will really run (its artifact is not committed), before its staging directory exists. */
  beforeRun?(): Promise<void>;
  /** Called after the commit; a throw here counts as the stage failing (as a failed commit does). */
  afterCommit?(ref: ArtifactRef, durationMs: number): Promise<void>;
  /** Extra fields for the `stage failed` log line (stage mode: attempt, max_attempts). */
  failureLogFields?: Record<string, unknown>;
}

/**
 * Runs one planned stage unless its artifact is committed: stage → run → commit, or discard on
 * any error, then classifies the outcome. Never throws for the stage's own failure (it is
 * returned as `failed`); throws only when the store cannot even find or stage (or `beforeRun` throws).
 */
export async function executeStage(x: ExecuteStage): Promise<StageExecution> {
  const { config, store, episode, stage, fingerprint, inputs, signal } = x;
  const existing = await store.find(episode.feedId, episode.episodeKey, stage.name, fingerprint);
  if (existing) return { status: 'reused', fingerprint, ref: existing };

  const t0 = performance.now();
  await x.beforeRun?.();
  const staging = await store.stage(episode.feedId, episode.episodeKey, stage.name, fingerprint);
  const slog = x.log.child({ stage: stage.name });
  try {
    const outcome = await stage.run({ config, episode, inputs, store, log: slog, signal, progress: x.progress ?? (() => undefined) }, staging);
    const durationMs = Math.round(performance.now() - t0);
    const ref = await store.commit(staging, { episode_key: episode.episodeKey, feed_id: episode.feedId, stage: stage.name, fingerprint, duration_ms: durationMs, info: outcome.info });
    await x.afterCommit?.(ref, durationMs);
    recordStageRun(stage.name, outcome.info.status === 'degraded' ? 'degraded' : 'ok', durationMs);
    return { status: 'done', fingerprint, ref, durationMs, info: outcome.info };
  } catch (e) {
    await store.discard(staging);
    const durationMs = Math.round(performance.now() - t0);
    if (e instanceof EpisodeSkipped) {
      recordStageRun(stage.name, 'skipped');
      return { status: 'skipped', fingerprint, reason: e.reason, durationMs };
    }
    // Not when the run was aborted (timeout, shutdown): what the abort broke says nothing about the configuration.
    if (isNotConfiguredError(e) && !signal.aborted) {
      const reason = errorMessage(e);
      recordStageRun(stage.name, 'skipped');
      slog.info({ reason: `not configured: ${stage.name}: ${reason}` }, 'stage not configured for this episode');
      return { status: 'not_configured', fingerprint, reason, durationMs };
    }
    const message = signal.aborted ? `aborted: ${errorMessage(signal.reason ?? e)}` : errorMessage(e);
    recordStageRun(stage.name, 'failed');
    slog.warn({ err: message, ...x.failureLogFields }, 'stage failed');
    return { status: 'failed', fingerprint, error: e, message, durationMs };
  }
}

/**
 * The one place stage executions are counted (podbrain_episodes_processed_total{stage,status})
 * and, when they did their work, timed (podbrain_episode_stage_duration_seconds{stage}).
 * `project` (stage mode's last step, jobs/stage.jobs.ts) is recorded here too.
 */
export function recordStageRun(stage: StageName, status: 'ok' | 'degraded' | 'skipped' | 'failed', durationMs?: number): void {
  metrics.episodesProcessedTotal.inc({ stage, status });
  if (durationMs !== undefined && (status === 'ok' || status === 'degraded')) metrics.episodeStageDurationSeconds.observe({ stage }, durationMs / 1000);
}
