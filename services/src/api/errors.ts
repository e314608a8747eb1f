import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { PodbrainError, errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { ApiErrorBody } from './contract/responses';
import { correlationIdOf } from './correlation';
import { isDatabaseUnreachable } from '../db/database';
import { ControlActionArgsError } from '../control/actions';

/** A PodbrainError with the HTTP status it answers with. */
export class ApiError extends PodbrainError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, details);
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);

/** Status of a PodbrainError thrown by shared code (feeds, net, search): bad input unless we know better. */
const STATUS_BY_CODE: Record<string, number> = {
  database_unavailable: 503,
  redis_unavailable: 503,
  embeddings_not_configured: 503,
  empty_corpus: 404,
  invalid_cursor: 400,
  // control/control-plane.ts ControlActionError
  not_found: 404,
  conflict: 409,
  no_workers: 503,
};

const NEST_CODES: Record<number, string> = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 409: 'conflict', 413: 'payload_too_large', 415: 'unsupported_media_type', 422: 'unprocessable' };

function toErrorResponse(e: unknown): { status: number; body: ApiErrorBody } {
  if (isDatabaseUnreachable(e)) {
    return { status: 503, body: { error: { code: 'database_unavailable', message: 'the database is unreachable right now; try again shortly' } } };
  }
  if (isRedisUnreachable(e)) {
    return { status: 503, body: { error: { code: 'redis_unavailable', message: 'the queue (Redis) is unreachable right now; try again shortly' } } };
  }
  const rejected = postgresRejectedInput(e);
  if (rejected) return { status: 400, body: { error: { code: 'invalid_request', message: `a value in the request is not acceptable: ${rejected}` } } };
  if (e instanceof ControlActionArgsError) return { status: 400, body: { error: { code: 'invalid_request', message: e.message, details: { action: e.action, issues: e.issues } } } };
  if (e instanceof ApiError) return { status: e.status, body: { error: withDetails(e.code, e.message, e.details) } };
  if (e instanceof PodbrainError) {
    return { status: STATUS_BY_CODE[e.code] ?? 422, body: { error: withDetails(e.code, e.message, e.details) } };
  }
  if (e instanceof HttpException) {
    const status = e.getStatus();
    const res = e.getResponse();
    const message = typeof res === 'string' ? res : String((res as { message?: unknown }).message ?? e.message);
    return { status, body: { error: { code: NEST_CODES[status] ?? `http_${status}`, message } } };
  }
  // body-parser style errors carry their own 4xx status (too large, bad encoding, …)
  const status = (e as { status?: unknown; statusCode?: unknown } | null)?.status ?? (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { error: { code: NEST_CODES[status] ?? `http_${status}`, message: errorMessage(e) } } };
  }
  return { status: 500, body: { error: { code: 'internal_error', message: 'internal error; see the api logs' } } };
}

/**
 * Postgres refused a value itself (class 22, data exception: a NUL byte, text that is not a
 * timestamp or number, a value out of range). Validation should have caught it; when it did not,
 * the caller still gets a 400 that says why instead of a 500.
 */
const DATA_EXCEPTIONS = new Set(['22P02', '22P05', '22021', '22007', '22008', '22003', '22001', '2201B', '22025']);
function postgresRejectedInput(e: unknown): string | null {
  const err = e as { code?: unknown; message?: unknown; driverError?: { code?: unknown } } | null;
  if (!err || typeof err !== 'object') return null;
  const code = typeof err.code === 'string' ? err.code : err.driverError?.code;
  return typeof code === 'string' && DATA_EXCEPTIONS.has(code) ? errorMessage(e) : null;
}

/** ioredis gave up on a command (Redis down): queue routes answer 503, not 500. */
function isRedisUnreachable(e: unknown): boolean {
  const err = e as { name?: unknown; message?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  return err.name === 'MaxRetriesPerRequestError' || (typeof err.message === 'string' && /^Connection is closed|Stream isn't writeable/.test(err.message));
}

function withDetails(code: string, message: string, details: Record<string, unknown>): ApiErrorBody['error'] {
  return Object.keys(details).length ? { code, message, details } : { code, message };
}

export function sendError(res: Response, e: unknown, log?: Logger): void {
  const { status, body } = toErrorResponse(e);
  if (status >= 500 && status !== 503) log?.error({ correlation_id: correlationIdOf(res.req), err: errorMessage(e), stack: (e as Error)?.stack }, 'request failed');
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(status).type('application/json').send(JSON.stringify(body));
}

/** Every thrown error → `{error:{code,message}}` with a 4xx/503 status; 500 only for real bugs. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly log?: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    sendError(host.switchToHttp().getResponse<Response>(), exception, this.log);
  }
}
