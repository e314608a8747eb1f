/**
 * One retry loop for calls to HTTP services (the OpenAI-compatible ASR, LLM and embeddings
 * clients). The openai SDK's own retries are switched off in those clients (`maxRetries: 0`),
 * so this is the only retry layer and every retry is counted.
 *
 * - attempts: the first one plus `retries` more;
 * - backoff: `baseMs · 2^(attempt−1)`, capped at `maxDelayMs`, jittered to 50–100 %;
 * - a server's wait request (`retry-after-ms`, `Retry-After` in seconds or as an HTTP date)
 *   is honoured as the least wait, also capped at `maxDelayMs`;
 * - only retryable failures are retried: HTTP 408, 409, 429, 5xx, network errors and
 *   timeouts (the caller's `classify` says which, with `isRetryableStatus` for statuses);
 * - an abort (the signal) ends it at once, during an attempt or a wait, with the signal's reason.
 */

export interface RetryVerdict {
  /** Worth another attempt. */
  retryable: boolean;
  /** How long the server asked to wait (see `retryAfterMs`), if it did. */
  retryAfterMs?: number | null;
}

export interface RetryFailure<V extends RetryVerdict> {
  error: unknown;
  verdict: V;
  /** 1-based number of the attempt that failed. */
  attempt: number;
}

export interface RetryOptions<V extends RetryVerdict> {
  /** Retries after the first attempt (at most retries + 1 attempts). */
  retries: number;
  /** The first backoff; doubles with every attempt. */
  baseMs: number;
  /** Cap on one wait, for the backoff and for the server's Retry-After alike. */
  maxDelayMs: number;
  signal?: AbortSignal;
  /** Random source in [0, 1) for the jitter (tests pin it). */
  random?: () => number;
  /** Judges a failed attempt; null: not a transport failure (not counted, thrown as it is). */
  classify: (error: unknown) => V | null;
  /** Every classified failure, the last one included (for error metrics). */
  onError?: (failure: RetryFailure<V>) => void;
  /** Before waiting `delayMs` for the next attempt (for retry metrics and logs). */
  onRetry?: (failure: RetryFailure<V> & { delayMs: number }) => void;
  /** The error to throw for the failure that ends the loop (not retryable, or out of retries); default: the error itself. */
  giveUp?: (failure: RetryFailure<V>) => unknown;
}

/** HTTP statuses worth another attempt: request timeout, conflict (e.g. a lock), rate limit, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

type HeaderSource = Headers | Record<string, string | string[] | undefined> | null | undefined;

function header(headers: HeaderSource, name: string): string | null {
  if (!headers) return null;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const rec = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : rec[key];
  return (Array.isArray(v) ? v[0] : v) ?? null;
}

/**
 * The wait a server asked for, in ms: `retry-after-ms` (OpenAI's), else `Retry-After` as
 * delta-seconds (fractions tolerated) or an HTTP date (a past date: 0). Null when absent or unreadable.
 */
export function retryAfterMs(headers: HeaderSource, now: number = Date.now()): number | null {
  const ms = header(headers, 'retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Number(ms);
  const ra = header(headers, 'retry-after')?.trim();
  if (!ra) return null;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = /[a-z]/i.test(ra) ? Date.parse(ra) : NaN; // an HTTP date names its day and month; Date.parse('-5') is a year
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** The wait before attempt `attempt + 1`: the jittered, capped backoff, or the server's capped Retry-After when longer. */
export function retryDelayMs(
  attempt: number,
  retryAfter: number | null | undefined,
  opts: { baseMs: number; maxDelayMs: number; random?: () => number },
): number {
  const backoff = Math.min(opts.maxDelayMs, opts.baseMs * 2 ** (attempt - 1));
  return Math.max(backoff * (0.5 + (opts.random ?? Math.random)() / 2), Math.min(retryAfter ?? 0, opts.maxDelayMs));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attempt` until it succeeds, a failure is not retryable, the retries are spent, or the signal aborts. */
export async function withRetries<T, V extends RetryVerdict>(attempt: (n: number) => Promise<T>, opts: RetryOptions<V>): Promise<T> {
  const { signal } = opts;
  for (let n = 1; ; n++) {
    if (signal?.aborted) throw signal.reason;
    try {
      return await attempt(n);
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      const verdict = opts.classify(error);
      if (!verdict) throw error;
      const failure = { error, verdict, attempt: n };
      opts.onError?.(failure);
      if (!verdict.retryable || n > opts.retries) throw opts.giveUp ? opts.giveUp(failure) : error;
      const delayMs = retryDelayMs(n, verdict.retryAfterMs, opts);
      opts.onRetry?.({ ...failure, delayMs });
      await abortableSleep(delayMs, signal);
    }
  }
}
