import type { EpisodeStateName } from '../db/schema';
import type { EpisodeJobStage } from '../queue/queues';

export type { EpisodeStateName };

/**
 * The episode lifecycle (ARCHITECTURE §1), shared by the workers, the scheduler and the API.
 *
 *   pending → downloading → transcribing → enriching → indexing → projecting → done
 *   any running state → failed (stage, attempts, last error kept) | skipped (reason)
 *   done | failed | skipped → pending (re-run asked for)
 *
 * A running state means "this stage's job is queued or active": the worker that finishes a
 * stage commits the next state (and its job id) before it enqueues the next job, so the
 * reconciler can re-enqueue any episode whose state says queued but whose job is gone.
 */
export const RUNNING_STATES = ['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting'] as const satisfies readonly EpisodeStateName[];
export type RunningState = (typeof RUNNING_STATES)[number];

export const STATE_OF_STAGE: Record<EpisodeJobStage, RunningState> = {
  ingest: 'downloading',
  transcribe: 'transcribing',
  enrich: 'enriching',
  index: 'indexing',
  project: 'projecting',
};

export const STAGE_OF_STATE: Record<RunningState, EpisodeJobStage> = {
  pending: 'ingest',
  downloading: 'ingest',
  transcribing: 'transcribe',
  enriching: 'enrich',
  indexing: 'index',
  projecting: 'project',
};

export function isRunningState(s: string): s is RunningState {
  return (RUNNING_STATES as readonly string[]).includes(s);
}

const ORDER: Record<EpisodeStateName, number> = { pending: 0, downloading: 1, transcribing: 2, enriching: 3, indexing: 4, projecting: 5, done: 6, failed: 6, skipped: 6 };

/** Forward moves, a stage repeating itself, any running state to a final one, and re-runs from a final state. */
export function canTransition(from: EpisodeStateName, to: EpisodeStateName): boolean {
  if (isRunningState(from)) return ORDER[to] >= ORDER[from];
  return to === 'pending' || to === from;
}
