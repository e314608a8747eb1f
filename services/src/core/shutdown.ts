/**
 * Bounded shutdown (issue 12): a SIGTERM ends the process within SHUTDOWN_GRACE_MS plus
 * SHUTDOWN_MARGIN_MS whatever Redis and Postgres are doing. Running jobs get the grace
 * period; every step after it (aborted jobs settling, closing queue workers, connections,
 * servers) gets a short budget of its own and is abandoned when that runs out: a command
 * queued on a lost Redis connection (BullMQ's connections retry forever) never settles.
 * main.ts keeps a last-resort timer at grace + margin in case a step is not bounded here.
 *
 * The budgets after the grace period add up to less than the margin.
 */
export const SHUTDOWN_BUDGET_MS = {
  /** No job runs any more but the queue workers have not closed (Redis unreachable): stop waiting after this. */
  idleClose: 1500,
  /** Aborted jobs get this long to record their failure. */
  abortSettle: 1500,
  /** Each connection or server close (queues, Redis, Postgres pool, HTTP). */
  close: 1000,
  /** An in-flight scheduler tick (it may wait on Redis or Postgres). */
  schedulerTick: 2000,
} as const;

/** main.ts exits with code 1 this long after the grace period if the graceful stop has not finished. */
export const SHUTDOWN_MARGIN_MS = 5000;

export type Settled = 'done' | 'failed' | 'timeout';

/**
 * Waits for `p` at most `ms`; never rejects. `done` / `failed`: it settled in time (fulfilled /
 * rejected), `timeout`: it did not (it is left running; its late rejection is swallowed).
 */
export async function settleWithin(p: Promise<unknown> | undefined | null, ms: number): Promise<Settled> {
  if (!p) return 'done';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([p.then(() => 'done' as const, () => 'failed' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
