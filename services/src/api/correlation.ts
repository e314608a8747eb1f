import type { IncomingMessage, ServerResponse } from 'node:http';
import { CORRELATION_HEADERS, correlationIdFromHeaders, newCorrelationId } from '../telemetry/correlation';

/**
 * One correlation id per API request (ARCHITECTURE §9): the caller's `x-correlation-id` (or
 * `x-request-id`) when it is a sane token, else a new one; answered in `x-correlation-id`.
 * It is kept on the request object and passed explicitly to log lines and enqueues
 * (`Queues.addPollJob(feedId, id)`), not through an AsyncLocalStorage context per request,
 * which cost the API several-fold throughput (BENCHMARKS.md, Appliance).
 */

const CORRELATION_RESPONSE_HEADER = CORRELATION_HEADERS[0];

const KEY = Symbol.for('podbrain.correlationId');

type WithCorrelation = { [KEY]?: string };

export function correlationMiddleware() {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const id = correlationIdFromHeaders(req.headers);
    (req as WithCorrelation)[KEY] = id;
    res.setHeader(CORRELATION_RESPONSE_HEADER, id);
    next();
  };
}

/** The request's correlation id (a fresh one for a request the middleware never saw, e.g. in unit tests). */
export function correlationIdOf(req: unknown): string {
  const r = req as WithCorrelation | null | undefined;
  if (!r || typeof r !== 'object') return newCorrelationId();
  return (r[KEY] ??= newCorrelationId());
}
