import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * One correlation id per episode/job (ARCHITECTURE §9): born at the API request (or the
 * scheduler tick that enqueues), carried in BullMQ job data as `correlation_id`, and put on
 * every log line (pino mixin, core/logger.ts) and every span (tracing.ts) of the work it
 * belongs to. AsyncLocalStorage keeps it across awaits without threading it by hand.
 *
 * Cost: on Node 20/22 an AsyncLocalStorage context per HTTP request cut a trivial handler's
 * throughput several-fold (BENCHMARKS.md, Appliance). Workers open one per job (negligible);
 * the API should take the id from the request (`correlationIdFromHeaders`), log with
 * `log.child({ correlation_id })` and pass it to `withCorrelationData(data, id)` instead.
 */

export interface LogContext {
  correlation_id: string;
  episode_key?: string;
  queue?: string;
  worker_id?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Header names accepted from callers (first match wins); we answer with the first. */
export const CORRELATION_HEADERS = ['x-correlation-id', 'x-request-id'] as const;

const ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

export function newCorrelationId(): string {
  return randomUUID();
}

/** A caller-supplied id is kept only if it looks like an id (no log injection, bounded length). */
function isValidCorrelationId(v: unknown): v is string {
  return typeof v === 'string' && ID_PATTERN.test(v);
}

export function correlationIdFromHeaders(headers: Record<string, string | string[] | undefined>): string {
  for (const name of CORRELATION_HEADERS) {
    const raw = headers[name];
    const v = Array.isArray(raw) ? raw[0] : raw;
    if (isValidCorrelationId(v)) return v;
  }
  return newCorrelationId();
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlation_id;
}

/** Runs `fn` with `ctx` merged over the current context (a nested call can add episode_key, queue…). */
export function withLogContext<T>(ctx: Partial<LogContext> & { correlation_id?: string }, fn: () => T): T {
  const parent = storage.getStore();
  const merged: LogContext = {
    ...parent,
    ...Object.fromEntries(Object.entries(ctx).filter(([, v]) => v !== undefined)),
    correlation_id: ctx.correlation_id ?? parent?.correlation_id ?? newCorrelationId(),
  };
  return storage.run(merged, fn);
}

/**
 * A child logger binding only those `fields` the current log context does not already put on
 * every line: pino writes a child's bindings and the mixin's fields side by side, so binding
 * `episode_key` inside a job would print the key twice.
 */
export function childOutsideContext<L extends { child(bindings: Record<string, unknown>): L }>(log: L, fields: Partial<Record<keyof LogContext, string | undefined>> & Record<string, unknown>): L {
  const ctx = storage.getStore() as Record<string, unknown> | undefined;
  const missing = Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== undefined && ctx?.[k] === undefined));
  return Object.keys(missing).length ? log.child(missing) : log;
}

/** pino `mixin`: the current context's fields on every log line (nothing outside a context). */
export function logContextMixin(): Partial<LogContext> {
  return storage.getStore() ?? {};
}

/**
 * Job data as enqueued: keeps an id the data already has, else `correlationId` (the API passes
 * its request's id explicitly), else the current context's, else a fresh one.
 */
export function withCorrelationData<T extends object>(data: T, correlationId?: string): T & { correlation_id: string } {
  const existing = (data as { correlation_id?: unknown }).correlation_id;
  if (isValidCorrelationId(existing)) return { ...data, correlation_id: existing };
  return { ...data, correlation_id: isValidCorrelationId(correlationId) ? correlationId : (currentCorrelationId() ?? newCorrelationId()) };
}

/** The correlation id a job carries; a job enqueued by older code without one gets a fresh id. */
export function correlationIdOfJob(data: unknown): string {
  const v = data && typeof data === 'object' ? (data as { correlation_id?: unknown }).correlation_id : undefined;
  return isValidCorrelationId(v) ? v : newCorrelationId();
}
