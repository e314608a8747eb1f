import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiContext } from './context';
import { ApiError } from './errors';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a request needs the key: every write and every admin route (ARCHITECTURE §8). */
export function needsAuth(method: string, path: string): boolean {
  return !READ_METHODS.has(method.toUpperCase()) || /^\/api\/admin(\/|$)/.test(path);
}

/** Constant-time: both sides are hashed to equal length first, so neither length nor content leaks. */
export function keyMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? '');
  return m ? m[1].trim() : null;
}

/** AUTH_API_KEY set → Bearer key required on writes and admin/*; unset → open (localhost default). */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly ctx: ApiContext) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.ctx.config.authApiKey;
    if (!expected) return true;
    const req = context.switchToHttp().getRequest<Request>();
    if (!needsAuth(req.method, req.path)) return true;
    const token = bearerToken(req.headers.authorization);
    if (token === null) throw new ApiError(401, 'unauthorized', 'this route needs the API key: send "Authorization: Bearer <AUTH_API_KEY>"');
    if (!keyMatches(token, expected)) throw new ApiError(401, 'unauthorized', 'the API key is wrong');
    return true;
  }
}
