import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import { hashOf } from '../core/hash';
import type { Logger } from '../core/logger';
import type { FeedEpisode } from '../feeds/types';
import { EpisodeSkipped, isNotConfiguredError, type Stage, type StageName } from './stage';

export type StageStatus = 'done' | 'reused' | 'not_configured' | 'failed' | 'skipped';
export type EpisodeState = 'done' | 'failed' | 'skipped' | 'incomplete';

export interface StageReport {
  stage: StageName;
  status: StageStatus;
  fingerprint?: string;
  durationMs: number;
  /** Why: the error for `failed`, the reason for `skipped` / `not_configured`. */
  reason?: string;
  ref?: ArtifactRef;
}

export interface EpisodeReport {
  feedId: string;
  episodeKey: string;
  title: string;
  state: EpisodeState;
  /**
   * Why the episode is not `done`, as stage mode words it in `episodes.state_reason`:
   * `<stage>: <error>` (failed), `<stage>: <reason>` (skipped), `not configured: <stage>: <reason>` (incomplete).
   */
  reason?: string;
  stages: StageReport[];
}

export type RunnerEvent =
  | { type: 'stage-start'; episode: FeedEpisode; stage: StageName }
  | { type: 'stage-progress'; episode: FeedEpisode; stage: StageName; fraction: number; note?: string }
  | { type: 'stage-end'; episode: FeedEpisode; report: StageReport };

export function stageFingerprint(stage: Stage, parts: Record<string, unknown>, inputs: Partial<Record<StageName, ArtifactRef>>): string {
  return hashOf({ stage: stage.name, parts, inputs: stage.needs.map((n) => inputs[n]?.fingerprint ?? null) });
}

function episodeState(reports: StageReport[]): EpisodeState {
  if (reports.some((r) => r.status === 'failed')) return 'failed';
  if (reports.some((r) => r.status === 'skipped')) return 'skipped';
  if (reports.some((r) => r.status === 'not_configured')) return 'incomplete';
  return 'done';
}

function episodeReason(reports: StageReport[]): string | undefined {
  const r = reports.find((s) => s.status === 'failed') ?? reports.find((s) => s.status === 'skipped') ?? reports.find((s) => s.status === 'not_configured');
  if (!r) return undefined;
  return `${r.status === 'not_configured' ? 'not configured: ' : ''}${r.stage}: ${r.reason ?? r.status}`;
}

/** Atomic mode: runs every stage of one episode in this process, reusing committed artifacts. */
export class PipelineRunner {
  /** Stage executions that did real work (not reused); the idempotency tests count these. */
  readonly stats = { executed: 0, reused: 0, failed: 0 };

  constructor(
    private readonly deps: {
      config: Config;
      store: ArtifactStore;
      log: Logger;
      stages: readonly Stage[];
      onEvent?: (e: RunnerEvent) => void;
    },
  ) {}

  async runEpisode(episode: FeedEpisode, signal: AbortSignal = new AbortController().signal): Promise<EpisodeReport> {
    const { config, store, stages, onEvent } = this.deps;
    const log = this.deps.log.child({ episode_key: episode.episodeKey, correlation_id: episode.episodeKey });
    const inputs: Partial<Record<StageName, ArtifactRef>> = {};
    const reports: StageReport[] = [];

    for (const stage of stages) {
      const t0 = performance.now();
      const finish = (r: Omit<StageReport, 'stage' | 'durationMs'>) => {
        const report: StageReport = { stage: stage.name, durationMs: Math.round(performance.now() - t0), ...r };
        reports.push(report);
        onEvent?.({ type: 'stage-end', episode, report });
        return report;
      };
      signal.throwIfAborted();
      onEvent?.({ type: 'stage-start', episode, stage: stage.name });

      let plan;
      try {
        plan = await stage.plan({ config, episode, inputs });
      } catch (e) {
        // Skips known from the feed alone (no enclosure) cost no stage work, now or on the next run.
        if (e instanceof EpisodeSkipped) {
          finish({ status: 'skipped', reason: e.reason });
          break;
        }
        this.stats.failed++;
        finish({ status: 'failed', reason: `plan: ${errorMessage(e)}` });
        break;
      }
      if (!plan.configured) {
        finish({ status: 'not_configured', reason: plan.reason });
        break;
      }
      const fingerprint = stageFingerprint(stage, plan.parts, inputs);
      const existing = await store.find(episode.feedId, episode.episodeKey, stage.name, fingerprint);
      if (existing) {
        this.stats.reused++;
        inputs[stage.name] = existing;
        finish({ status: 'reused', fingerprint, ref: existing });
        continue;
      }

      const staging = await store.stage(episode.feedId, episode.episodeKey, stage.name, fingerprint);
      const slog = log.child({ stage: stage.name });
      try {
        this.stats.executed++;
        const outcome = await stage.run(
          {
            config,
            episode,
            inputs,
            store,
            log: slog,
            signal,
            progress: (fraction, note) => onEvent?.({ type: 'stage-progress', episode, stage: stage.name, fraction, note }),
          },
          staging,
        );
        const ref = await store.commit(staging, {
          episode_key: episode.episodeKey,
          feed_id: episode.feedId,
          stage: stage.name,
          fingerprint,
          duration_ms: Math.round(performance.now() - t0),
          info: outcome.info,
        });
        inputs[stage.name] = ref;
        finish({ status: 'done', fingerprint, ref });
      } catch (e) {
        await store.discard(staging);
        if (e instanceof EpisodeSkipped) {
          finish({ status: 'skipped', fingerprint, reason: e.reason });
        } else if (isNotConfiguredError(e) && !signal.aborted) {
          slog.info({ reason: errorMessage(e) }, 'stage not configured for this episode');
          finish({ status: 'not_configured', fingerprint, reason: errorMessage(e) });
        } else {
          this.stats.failed++;
          slog.warn({ err: errorMessage(e) }, 'stage failed');
          finish({ status: 'failed', fingerprint, reason: errorMessage(e) });
        }
        break;
      }
    }
    const state = episodeState(reports);
    return { feedId: episode.feedId, episodeKey: episode.episodeKey, title: episode.title, state, ...(state === 'done' ? {} : { reason: episodeReason(reports) }), stages: reports };
  }
}
