import type { ArtifactRef, ArtifactStore, StagingDir } from '../artifacts/store';
import { PodbrainError } from '../core/errors';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { FeedEpisode } from '../feeds/types';
import type { StageName } from './stage-names';

export { EPISODE_STAGES, type EpisodeStageName, type StageName } from './stage-names';

export interface PlanContext {
  config: Config;
  episode: FeedEpisode;
  /** Committed artifacts of the stages this one needs. */
  inputs: Partial<Record<StageName, ArtifactRef>>;
}

export interface StageContext extends PlanContext {
  store: ArtifactStore;
  log: Logger;
  signal: AbortSignal;
  /** Report progress inside the stage (0..1), for ETAs. */
  progress(fraction: number, note?: string): void;
}

/**
 * What a stage would do for this episode. `parts` is everything that changes its output
 * (engine, model, prompt version, schema version, options); together with the inputs'
 * fingerprints it makes the stage fingerprint (ARCHITECTURE §2). `recipe` is the part of `parts`
 * that comes from the configuration alone (model, prompt, settings — no title, enclosure or
 * publisher transcript URL): the same for every episode planned alike, so finished episodes made
 * with a recipe the configuration no longer produces can be counted in SQL (stale, §2a).
 * Default: all of `parts`.
 */
export type StagePlan = { configured: true; parts: Record<string, unknown>; recipe?: Record<string, unknown> } | { configured: false; reason: string };

export interface StageOutcome {
  /** Stored in meta.json (engine, model, status such as `degraded`, counts...). */
  info: Record<string, unknown>;
}

export interface Stage {
  readonly name: StageName;
  readonly needs: readonly StageName[];
  plan(ctx: PlanContext): StagePlan | Promise<StagePlan>;
  /**
   * Every recipe this configuration can plan (transcribe: one per ASR engine, since which one an
   * episode gets depends on the episode); [] when the stage is not configured. Without it the
   * stage's runs are never counted stale.
   */
  recipes?(config: Config): Record<string, unknown>[];
  /** Writes its artifacts into `out`; throws on failure (the runner records it). */
  run(ctx: StageContext, out: StagingDir): Promise<StageOutcome>;
}

/** Thrown by a stage when the episode cannot be processed by design (e.g. no enclosure). */
export class EpisodeSkipped extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'EpisodeSkipped';
  }
}

/**
 * A stage's `run` found that nothing configured here can do its work for this episode (e.g. the
 * publisher transcript could not be used and the Whisper model the fallback needs is missing).
 * Like a plan that says `configured: false`: the runner reports the stage `not_configured` and
 * the episode `incomplete`, not `failed` — configuring the missing piece completes it.
 */
export function notConfiguredError(code: string, message: string, details: Record<string, unknown> = {}): PodbrainError {
  return new PodbrainError(code, message, { ...details, notConfigured: true });
}

export function isNotConfiguredError(e: unknown): e is PodbrainError {
  return e instanceof PodbrainError && e.details.notConfigured === true;
}
