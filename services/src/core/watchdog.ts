import { Worker } from 'node:worker_threads';

/**
 * Event-loop watchdog (issue 14): a worker thread that ends the process when the main thread's
 * event loop has not turned for longer than a limit (an endless loop, a synchronous call that
 * never returns). Nothing on the main thread can notice that (its timers do not run), so:
 *  - the main thread bumps a counter in shared memory every BEAT_MS (an unref'd timer);
 *  - the worker looks at the counter on its own clock (monotonic, so a wall-clock jump is no
 *    beat) and, once it has not moved for `limitMs`, writes one line straight to fd 2 (a
 *    worker's process.stderr is relayed through the blocked main thread) and sends the process
 *    SIGUSR2. No role handles SIGUSR2, so its default action ends the process: exit status
 *    WATCHDOG_EXIT_STATUS (128 + 12), distinct from SIGKILL/OOM (137) and the roles' own codes.
 *    A worker's process.exit() would only end the worker thread. Should a handler for SIGUSR2
 *    ever be installed (the blocked loop could never run it), SIGKILL follows a second later.
 * The worker is unref'd: it never keeps the process alive, and it ends with it. It gets no execArgv,
 * so the entrypoint's `--require telemetry/register.js` (OpenTelemetry) is not loaded into it again.
 */

export const WATCHDOG_EXIT_STATUS = 140;

/** How often the main thread beats. */
const BEAT_MS = 1000;

/** Plain JS, evaluated in the worker (no file to locate: works the same from dist/ and under vitest). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const beats = new Int32Array(workerData.shared);
const { limitMs, checkMs } = workerData;
let seen = Atomics.load(beats, 0);
let seenAt = performance.now();
setInterval(() => {
  const now = performance.now();
  const beat = Atomics.load(beats, 0);
  if (beat !== seen) { seen = beat; seenAt = now; return; }
  const stalledMs = now - seenAt;
  if (stalledMs <= limitMs) return;
  const line = JSON.stringify({ level: 60, time: Date.now(), pid: process.pid, msg: 'event loop blocked: exiting (watchdog)', stalled_ms: Math.round(stalledMs), limit_ms: limitMs, exit_status: ${WATCHDOG_EXIT_STATUS} });
  try { writeSync(2, line + '\\n'); } catch {}
  process.kill(process.pid, 'SIGUSR2');
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 1000);
}, checkMs);
`;

/**
 * Starts the watchdog; `limitMs` 0 = off. Returns its stop (idempotent). Start it once the role
 * runs: a worker thread needs the main loop to come up, so a loop blocked before that goes unseen.
 */
export function startEventLoopWatchdog(limitMs: number): () => void {
  if (limitMs <= 0) return () => undefined;
  const shared = new SharedArrayBuffer(4);
  const beats = new Int32Array(shared);
  const beat = setInterval(() => Atomics.add(beats, 0, 1), Math.min(BEAT_MS, limitMs / 4));
  beat.unref();
  const checkMs = Math.max(10, Math.min(BEAT_MS, limitMs / 4));
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { shared, limitMs, checkMs }, execArgv: [] });
  worker.unref();
  worker.on('error', () => undefined); // a watchdog that fails must not take the role down
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(beat);
    void worker.terminate();
  };
}
