import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Injectable, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ACCESS_KEY, type AccessLevel, SESSION_WRITE_KEY, UNDECLARED_ACCESS, WEBHOOK_TOKEN_KEY } from './access';
import { ApiContext } from './context';
import { ApiError } from './errors';
import { AuditRepository } from '../repositories/audit.repository';
import { recordAdminCall } from './admin/audit.interceptor';
import { readsArePrivate } from './private-reads';
import { crossSiteOrigin, sessionToken, verifySession } from './session';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Constant-time: both sides are hashed to equal length first, so neither length nor content leaks. */
function keyMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? '');
  return m ? m[1].trim() : null;
}

/**
 * Who may call what (ARCHITECTURE §8), by the level each route declares (api/access.ts) —
 * never by its path, which Express may match in other spellings:
 *  - AUTH_API_KEY unset: open (localhost default); a per-tenant key still selects its tenant.
 *  - AUTH_API_KEY set: every write needs a Bearer key — the deployment key or a tenant key
 *    (api_keys) — and every admin route needs the deployment key. Reads stay open unless they
 *    are private (AUTH_READS, api/private-reads.ts): then a read needs one of those keys or a
 *    session cookie (api/session.ts). The cookie opens reads only, and the few SessionWrite
 *    routes (the listener's playback state), never another write.
 * The caller's tenant is the tenant key's (or its session's), else the default tenant.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly ctx: ApiContext,
    private readonly reflector: Reflector,
    @Optional() private readonly audit?: AuditRepository,
  ) {}

  /**
   * The declared level of the route a request reached (undeclared: admin). A route that
   * changes something is never less than a write, whatever its controller declares.
   */
  levelOf(context: ExecutionContext, method: string): AccessLevel {
    const declared = this.reflector.getAllAndOverride<AccessLevel | undefined>(ACCESS_KEY, [context.getHandler(), context.getClass()]) ?? UNDECLARED_ACCESS;
    return (declared === 'read' || declared === 'public') && !READ_METHODS.has(method.toUpperCase()) ? 'write' : declared;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { podbrainTenant?: string; podbrainActor?: string }>();
    const level = this.levelOf(context, req.method);
    if (this.webhookTokenMatches(context, req)) return true;
    if (level === 'write' && (await this.sessionMayWrite(context, req))) return true;
    if (level !== 'admin') return this.check(req, level);
    try {
      return await this.check(req, level);
    } catch (e) {
      // A refused admin call is audited too (admitted ones by AdminAuditInterceptor).
      if (e instanceof ApiError && this.audit) recordAdminCall(this.audit, this.ctx, req, e.status);
      throw e;
    }
  }

  /** The route takes AGENT_WEBHOOK_TOKEN (api/access.ts AlertWebhook) and the request carries it. */
  private webhookTokenMatches(context: ExecutionContext, req: Request & { podbrainActor?: string }): boolean {
    const expected = this.ctx.config.agent.webhookToken;
    if (!expected || !this.reflector.getAllAndOverride<boolean | undefined>(WEBHOOK_TOKEN_KEY, [context.getHandler(), context.getClass()])) return false;
    const token = bearerToken(req.headers.authorization);
    if (token === null || !keyMatches(token, expected)) return false;
    req.podbrainActor = 'alertmanager';
    return true;
  }

  /**
   * A SessionWrite route (api/access.ts) called with a valid session cookie and no Bearer; one
   * that another site started is refused. Anything else goes on to the ordinary write check.
   */
  private async sessionMayWrite(context: ExecutionContext, req: Request & { podbrainTenant?: string; podbrainActor?: string }): Promise<boolean> {
    if (!this.reflector.getAllAndOverride<boolean | undefined>(SESSION_WRITE_KEY, [context.getHandler(), context.getClass()])) return false;
    if (bearerToken(req.headers.authorization) !== null || (await this.session(req)) !== 'valid') return false;
    const origin = crossSiteOrigin(req);
    if (origin !== null) throw new ApiError(403, 'forbidden', `a request started by another site (Origin ${origin}) cannot write with the session cookie`);
    return true;
  }

  private async check(req: Request & { podbrainTenant?: string; podbrainActor?: string }, level: AccessLevel): Promise<boolean> {
    if (level === 'public') return true;
    const expected = this.ctx.config.authApiKey;
    const token = bearerToken(req.headers.authorization);
    const isDeploymentKey = Boolean(expected) && token !== null && keyMatches(token, expected);
    const tenant = token !== null && !isDeploymentKey ? await this.tenantKey(token, level) : null;
    if (tenant) req.podbrainTenant = tenant;
    req.podbrainActor = isDeploymentKey ? 'admin-key' : tenant ? `tenant:${tenant}` : !expected ? 'open' : token !== null ? 'wrong-key' : 'anonymous';
    const session = level === 'read' && token === null ? await this.session(req) : 'none';
    if (session === 'valid' || !expected) return true;
    if (level === 'read' && !readsArePrivate(this.ctx.config)) return true;
    // A distinct code, so the viewer asks for the key on a private read and leaves admin 401s to their pages.
    if (level === 'read' && token === null) {
      throw new ApiError(401, 'sign_in_required', session === 'invalid' ? 'the session has expired or is no longer valid: sign in again with the API key (POST /api/session)' : 'reads on this server are private (AUTH_READS): send "Authorization: Bearer <AUTH_API_KEY>" or sign in (POST /api/session)');
    }
    if (level === 'read' && !isDeploymentKey && !tenant) throw new ApiError(401, 'sign_in_required', 'the API key is wrong (reads on this server are private: AUTH_READS)');
    if (token === null) throw new ApiError(401, 'unauthorized', 'this route needs the API key: send "Authorization: Bearer <AUTH_API_KEY>"');
    if (isDeploymentKey) return true;
    if (tenant && level !== 'admin') return true;
    if (tenant) throw new ApiError(403, 'forbidden', 'admin routes need the deployment key (AUTH_API_KEY), not a tenant key');
    throw new ApiError(401, 'unauthorized', 'the API key is wrong');
  }

  /**
   * The request's session cookie: 'valid' (its tenant and actor set), 'invalid' (tampered,
   * expired, signed with a rotated AUTH_API_KEY, or its tenant key revoked) or 'none'.
   */
  private async session(req: Request & { podbrainTenant?: string; podbrainActor?: string }): Promise<'valid' | 'invalid' | 'none'> {
    const raw = sessionToken(req);
    if (raw === null) return 'none';
    const claims = verifySession(this.ctx.config.authApiKey, raw);
    if (!claims) return 'invalid';
    if (claims.kind === 'admin') {
      req.podbrainActor = 'session:admin-key';
      return 'valid';
    }
    const tenant = await this.ctx.tenantForKeyHash(claims.keyHash!);
    if (!tenant) return 'invalid';
    req.podbrainTenant = tenant;
    req.podbrainActor = `session:tenant:${tenant}`;
    return 'valid';
  }

  /** A tenant key lookup needs Postgres; on routes that need no key a failed lookup is ignored. */
  private async tenantKey(token: string, level: AccessLevel): Promise<string | null> {
    try {
      return await this.ctx.tenantForKey(token);
    } catch (e) {
      if (!this.ctx.config.authApiKey || level === 'admin') return null;
      throw e;
    }
  }
}
