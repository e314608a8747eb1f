import { Controller, Delete, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiNoContentResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DEFAULT_TENANT } from '../../db/schema';
import { Authenticated } from '../access';
import { ApiContext } from '../context';
import { ApiError } from '../errors';
import { ApiAnswer, responses, type SessionView } from '../contract';
import { readsArePrivate } from '../private-reads';
import { cameOverHttps, clearedSessionCookie, crossSiteOrigin, keyHashOf, sessionCookie, signSession, type SessionClaims } from '../session';

type AuthedRequest = Request & { podbrainTenant?: string; podbrainActor?: string };

function refuseCrossSite(req: Request): void {
  const origin = crossSiteOrigin(req);
  if (origin !== null) throw new ApiError(403, 'forbidden', `a request started by another site (Origin ${origin}) cannot sign in or out`);
}

/** The viewer's session cookie (api/session.ts): what `<audio src>` and `EventSource` read with. */
@ApiTags('session')
@Controller('session')
export class SessionController {
  constructor(private readonly ctx: ApiContext) {}

  @Post()
  @Authenticated()
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Sign in: send the API key (deployment or tenant) as Bearer; answers with a session cookie (HttpOnly, SameSite=Strict, Secure over https, AUTH_SESSION_DAYS) that opens reads — audio and /api/events included — but no writes. Ends when it expires, on DELETE, when AUTH_API_KEY changes or the tenant key is revoked. 409 when the server has no AUTH_API_KEY (nothing to sign in to)',
  })
  @ApiAnswer(responses.session)
  signIn(@Req() req: AuthedRequest, @Res({ passthrough: true }) res: Response): SessionView {
    refuseCrossSite(req);
    const apiKey = this.ctx.config.authApiKey;
    if (!apiKey) throw new ApiError(409, 'conflict', 'this server has no AUTH_API_KEY: everything is open, there is nothing to sign in to');
    const exp = Math.floor(Date.now() / 1000) + this.ctx.config.authSessionDays * 86_400;
    const tenant = req.podbrainTenant;
    // The guard admitted the deployment key or a tenant key (it set podbrainTenant for the latter).
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization?.trim() ?? '')?.[1].trim() ?? '';
    const claims: SessionClaims = tenant ? { kind: 'tenant', keyHash: keyHashOf(bearer), exp } : { kind: 'admin', exp };
    res.setHeader('set-cookie', sessionCookie(signSession(apiKey, claims), exp - Math.floor(Date.now() / 1000), cameOverHttps(req)));
    res.setHeader('cache-control', 'no-store');
    return { kind: claims.kind, tenant: tenant ?? DEFAULT_TENANT, expires_at: new Date(exp * 1000).toISOString(), reads_private: readsArePrivate(this.ctx.config) };
  }

  @Delete()
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: "Sign out: clears this browser's session cookie (with the key as Bearer, like every write; refused when another site starts it)" })
  @ApiNoContentResponse({ description: 'the cookie is cleared' })
  signOut(@Req() req: Request, @Res({ passthrough: true }) res: Response): void {
    refuseCrossSite(req);
    res.setHeader('set-cookie', clearedSessionCookie(cameOverHttps(req)));
  }
}
