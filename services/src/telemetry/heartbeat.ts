import { metrics } from './metrics';

/**
 * podbrain_heartbeat_timestamp_seconds: "this role's loop is alive", plotted by the GPU &
 * Worker Health dashboard as seconds since the last beat, per role.
 *
 * Who beats (the cut, ARCHITECTURE §9):
 *  - every role with a telemetry server (scheduler, workers: `startTelemetryServer`) beats
 *    every HEARTBEAT_INTERVAL_MS while it runs: a stalled event loop (a synchronous hot
 *    loop, a blocked process) shows as a growing age while `up` may still be 1 from the
 *    last scrape;
 *  - a worker also beats when a job ends, ok or failed (`runJobWithTelemetry`), so the
 *    beat follows real work as well as the timer.
 * The api role serves its own /metrics from Nest and has no loop of its own to watch.
 */
export const HEARTBEAT_INTERVAL_MS = 15_000;

export function heartbeat(now = Date.now()): void {
  metrics.heartbeatTimestampSeconds.set(now / 1000);
}

/** Beats now and every `intervalMs` (unref'd: it never keeps a process alive). Returns a stop function. */
export function startHeartbeat(intervalMs = HEARTBEAT_INTERVAL_MS): () => void {
  heartbeat();
  const timer = setInterval(() => heartbeat(), intervalMs).unref();
  return () => clearInterval(timer);
}
