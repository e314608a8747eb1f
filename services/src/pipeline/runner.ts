import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { FeedEpisode } from '../feeds/types';
import { executeStage, planStage, type StageInputs } from './execute';
import type { Stage, StageName } from './stage';

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

/**
 * Atomic mode: runs every stage of one episode in this process through the stage executor
 * (pipeline/execute.ts), reusing committed artifacts, and reports each stage to the CLI.
 */
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
    const inputs: StageInputs = {};
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

      let planned;
      try {
        planned = await planStage(config, stage, episode, inputs);
      } catch (e) {
        this.stats.failed++;
        finish({ status: 'failed', reason: `plan: ${errorMessage(e)}` });
        break;
      }
      // Skips known from the feed alone (no enclosure) cost no stage work, now or on the next run.
      if (planned.kind === 'skipped') {
        finish({ status: 'skipped', reason: planned.reason });
        break;
      }
      if (planned.kind === 'not_configured') {
        finish({ status: 'not_configured', reason: planned.reason });
        break;
      }
      const { fingerprint } = planned;
      const run = await executeStage({
        config,
        store,
        log,
        episode,
        stage,
        fingerprint,
        inputs,
        signal,
        progress: (fraction, note) => onEvent?.({ type: 'stage-progress', episode, stage: stage.name, fraction, note }),
        beforeRun: async () => {
          this.stats.executed++;
        },
      });
      if (run.status === 'reused' || run.status === 'done') {
        if (run.status === 'reused') this.stats.reused++;
        inputs[stage.name] = run.ref;
        finish({ status: run.status, fingerprint, ref: run.ref });
        continue;
      }
      if (run.status === 'failed') {
        this.stats.failed++;
        finish({ status: 'failed', fingerprint, reason: errorMessage(run.error) });
      } else finish({ status: run.status, fingerprint, reason: run.reason });
      break;
    }
    const state = episodeState(reports);
    return { feedId: episode.feedId, episodeKey: episode.episodeKey, title: episode.title, state, ...(state === 'done' ? {} : { reason: episodeReason(reports) }), stages: reports };
  }
}
