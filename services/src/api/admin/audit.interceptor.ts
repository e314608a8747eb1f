import { type CallHandler, type ExecutionContext, HttpException, Injectable, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { type Observable, tap } from 'rxjs';
import { AuditRepository } from '../../repositories/audit.repository';
import { ACCESS_KEY, type AccessLevel, UNDECLARED_ACCESS } from '../access';
import { ApiContext } from '../context';
import { ApiError } from '../errors';

/** A field whose name looks like it holds a secret; its value is never written. */
const SECRET_NAME = /pass(word|wd)?|secret|token|api[-_]?key|^key$|authorization|cookie|credential|private/i;
/** Caps on what one audit row keeps: each string, and the whole JSON (then only a cut preview is kept). */
const MAX_STRING = 500;
const MAX_JSON = 4000;

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth > 5) return '[nested]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_NAME.test(k) ? '[redacted]' : redact(v, depth + 1)]));
}

/** What an audit row keeps of a request: path parameters, query and body, secrets redacted, size-capped. */
export function auditParams(req: Pick<Request, 'params' | 'query' | 'body'>): unknown {
  const all: Record<string, unknown> = {};
  if (req.params && Object.keys(req.params).length) all.params = req.params;
  if (req.query && Object.keys(req.query).length) all.query = req.query;
  if (req.body !== undefined && req.body !== null && !(typeof req.body === 'object' && !Object.keys(req.body).length)) all.body = req.body;
  const out = redact(all);
  const json = JSON.stringify(out);
  return json.length > MAX_JSON ? { truncated: true, preview: json.slice(0, MAX_JSON) } : out;
}

/** The status an error becomes (api/errors.ts's filter answers the same). */
function statusOf(err: unknown): number {
  if (err instanceof ApiError) return err.status;
  if (err instanceof HttpException) return err.getStatus();
  return 500;
}

/** Writes one audit row in the background: never fails the request, a failed write is logged. */
export function recordAdminCall(audit: AuditRepository, ctx: ApiContext, req: Request & { podbrainActor?: string }, status: number): void {
  const entry = { actor: req.podbrainActor ?? 'anonymous', method: req.method, path: req.path, params: auditParams(req), status };
  audit.record(entry).catch((e: unknown) => ctx.log.warn({ err: e instanceof Error ? e.message : String(e), ...entry }, 'admin audit: could not record a call'));
}

/**
 * Records every call of an admin route (api/access.ts) in admin_audit: who (the guard's
 * podbrainActor), what (method, path, parameters) and the answer's status. The write happens
 * after the answer. Calls the guard refuses (401/403) never reach an interceptor: the guard
 * records those itself (api/auth.guard.ts).
 */
@Injectable()
export class AdminAuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditRepository,
    private readonly ctx: ApiContext,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const level = this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_KEY, [context.getHandler(), context.getClass()]) ?? UNDECLARED_ACCESS;
    if (level !== 'admin' || context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request & { podbrainActor?: string }>();
    const res = context.switchToHttp().getResponse<Response>();
    const write = (status: number) => recordAdminCall(this.audit, this.ctx, req, status);
    return next.handle().pipe(tap({ next: () => write(res.statusCode), error: (err: unknown) => write(statusOf(err)) }));
  }
}
