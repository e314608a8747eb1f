import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiContext } from './context';
import { ApiError } from './errors';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a request needs the key: every write and every admin route (ARCHITECTURE §8). */
export function needsAuth(method: string, path: string): boolean {
  return !READ_METHODS.has(method.toUpperCase()) || isAdminPath(path);
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

/**
 * Who may call what (ARCHITECTURE §8):
 *  - AUTH_API_KEY unset: open (localhost default); a per-tenant key still selects its tenant.
 *  - AUTH_API_KEY set: every write needs a Bearer key — the deployment key or a tenant key
 *    (api_keys) — and every admin route needs the deployment key. Reads stay open.
 * The caller's tenant is the tenant key's, else the default tenant.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly ctx: ApiContext) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const expected = this.ctx.config.authApiKey;
    const req = context.switchToHttp().getRequest<Request & { podbrainTenant?: string }>();
    const token = bearerToken(req.headers.authorization);
    const isDeploymentKey = Boolean(expected) && token !== null && keyMatches(token, expected);
    const tenant = token !== null && !isDeploymentKey ? await this.tenantKey(token, req.path) : null;
    if (tenant) req.podbrainTenant = tenant;
    if (!expected || !needsAuth(req.method, req.path)) return true;
    if (token === null) throw new ApiError(401, 'unauthorized', 'this route needs the API key: send "Authorization: Bearer <AUTH_API_KEY>"');
    if (isDeploymentKey) return true;
    if (tenant && !isAdminPath(req.path)) return true;
    if (tenant) throw new ApiError(403, 'forbidden', 'admin routes need the deployment key (AUTH_API_KEY), not a tenant key');
    throw new ApiError(401, 'unauthorized', 'the API key is wrong');
  }

  /** A tenant key lookup needs Postgres; on routes that need no key a failed lookup is ignored. */
  private async tenantKey(token: string, path: string): Promise<string | null> {
    try {
      return await this.ctx.tenantForKey(token);
    } catch (e) {
      if (!this.ctx.config.authApiKey || isAdminPath(path)) return null;
      throw e;
    }
  }
}

function isAdminPath(path: string): boolean {
  return /^\/api\/admin(\/|$)/.test(path);
}
