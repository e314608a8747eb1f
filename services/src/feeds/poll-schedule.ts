/**
 * When to poll next: the feed's interval with ±10 % jitter (so feeds added together spread
 * out), doubled per consecutive error up to a day.
 */
export function nextPollDelayS(intervalS: number, errorCount: number, random = Math.random): number {
  const base = errorCount > 0 ? Math.min(intervalS * 2 ** Math.min(errorCount, 16), 24 * 3600) : intervalS;
  return Math.max(1, Math.round(base * (0.9 + 0.2 * random())));
}
