import { errorMessage } from '../../core/errors';
import { aggregate, type HealthModel } from './model';

/**
 * The unhealthy-exit rule (issue 14): a role whose own health stays unhealthy for N checks in a
 * row exits with UNHEALTHY_EXIT_CODE, so Docker's restart policy starts it afresh.
 *
 * "A check" is one evaluation of the role's health model (the same checks /healthz runs) every
 * HEALTH_CHECK_INTERVAL_S. Only `unhealthy` counts (`degraded` means the role still works) and
 * only through the checks about the role itself: a check marked `dependency` (Postgres, Redis,
 * the queue) is left out, because an outage there makes every role unhealthy at once, a restart
 * cannot fix it, and restarting all roles in a loop while Postgres is down only adds load and
 * noise — they recover by themselves when it is back. So: a missing ffmpeg/whisper/model, a
 * required GPU gone, worker-io's disk full count; Postgres down does not.
 * One healthy-or-degraded evaluation resets the count. limit 0 = off.
 */

export const UNHEALTHY_EXIT_CODE = 3;

export interface UnhealthyWatch {
  health: HealthModel;
  intervalMs: number;
  /** Unhealthy evaluations in a row that end the role; 0 = off. */
  limit: number;
  /** Called once, with why, when the limit is reached (the caller stops the role and exits). */
  onLimit: (reason: string) => void;
  /** Each evaluation that counts, e.g. for a warning log. */
  onUnhealthy?: (count: number, failing: string[]) => void;
}

/** Starts evaluating; returns its stop. The timer is unref'd and evaluations never overlap. */
export function watchUnhealthy(opts: UnhealthyWatch): () => void {
  if (opts.limit <= 0 || opts.intervalMs <= 0) return () => undefined;
  const own = (opts.health.checks ?? []).filter((c) => !c.dependency);
  let count = 0;
  let busy = false;
  let done = false;
  const evaluate = async () => {
    const report = await opts.health.report();
    if (done) return;
    const failing = own.filter((c) => report.checks[c.name]?.status === 'unhealthy' && c.impact === 'critical');
    if (aggregate(own, report.checks) !== 'unhealthy') {
      count = 0;
      return;
    }
    count++;
    const detail = failing.map((c) => `${c.name}: ${report.checks[c.name]?.detail ?? 'unhealthy'}`);
    opts.onUnhealthy?.(count, detail);
    if (count < opts.limit) return;
    done = true;
    clearInterval(timer);
    opts.onLimit(`unhealthy for ${count} checks in a row (every ${opts.intervalMs / 1000} s): ${detail.join('; ')}`);
  };
  const timer = setInterval(() => {
    if (busy || done) return;
    busy = true;
    evaluate()
      .catch((e) => opts.onUnhealthy?.(count, [`health report failed: ${errorMessage(e)}`]))
      .finally(() => (busy = false));
  }, opts.intervalMs);
  timer.unref();
  return () => {
    done = true;
    clearInterval(timer);
  };
}
