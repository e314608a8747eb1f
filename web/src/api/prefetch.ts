// Reads a page is about to make, started by the router while the page's code is still loading, so
// the route's chunk and its data arrive in parallel instead of one after the other. A page takes
// each started read once (a later reload asks the server again); one nobody took within
// PREFETCH_TTL_MS (an aborted navigation) is dropped rather than served stale.
export const PREFETCH_TTL_MS = 5_000;

const started = new Map<string, { at: number; read: unknown }>();

export function prefetch(id: string, read: () => Promise<unknown>): void {
  const now = Date.now();
  for (const [k, v] of started) if (now - v.at > PREFETCH_TTL_MS) started.delete(k);
  if (started.has(id)) return;
  const p = read();
  p.catch(() => undefined); // a failed read is reported by the page that takes it, not as an unhandled rejection
  started.set(id, { at: now, read: p });
}

/** The read `prefetch` started for `id` (once, while fresh), else `read()` now. */
export function take<T>(id: string, read: () => T): T {
  const hit = started.get(id);
  started.delete(id);
  return hit && Date.now() - hit.at <= PREFETCH_TTL_MS ? (hit.read as T) : read();
}
