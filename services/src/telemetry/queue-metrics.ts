import { metrics } from './metrics';

/** What the sampler needs of a BullMQ `Queue` (`queue.name`, `queue.getJobCounts()`). */
export interface CountableQueue {
  name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

export const SAMPLED_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused', 'prioritized', 'waiting-children'] as const;

/** One sample of podbrain_queue_depth{queue,state} for every queue. */
export async function sampleQueueDepths(queues: readonly CountableQueue[]): Promise<void> {
  await Promise.all(
    queues.map(async (q) => {
      const counts = await q.getJobCounts(...SAMPLED_STATES);
      for (const state of SAMPLED_STATES) metrics.queueDepth.set({ queue: q.name, state }, counts[state] ?? 0);
    }),
  );
}

/**
 * Samples queue depths every `intervalMs` (the scheduler and the api do this; workers need
 * not). Errors go to `onError` and the next tick tries again. Returns a stop function.
 */
export function startQueueDepthSampler(queues: readonly CountableQueue[], opts: { intervalMs?: number; onError?: (e: unknown) => void } = {}): () => void {
  const intervalMs = opts.intervalMs ?? 10_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      await sampleQueueDepths(queues);
    } catch (e) {
      opts.onError?.(e);
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs).unref();
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Records one finished stage execution (throughput and duration panels, error-rate alerts). */
export function recordStageRun(stage: string, status: 'ok' | 'skipped' | 'failed' | 'degraded', seconds: number): void {
  metrics.episodesProcessedTotal.inc({ stage, status });
  metrics.episodeStageDurationSeconds.observe({ stage }, seconds);
}

/** Worker/scheduler loop heartbeat (podbrain_heartbeat_timestamp_seconds). */
export function heartbeat(now = Date.now()): void {
  metrics.heartbeatTimestampSeconds.set(now / 1000);
}
