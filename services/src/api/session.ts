import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

/**
 * Viewer sessions (ARCHITECTURE §8): `<audio src>` and `EventSource` cannot send an
 * Authorization header, so POST /api/session turns the API key into a cookie that opens reads.
 * The token is stateless: `v1.<payload>.<HMAC-SHA256>` with a secret derived from AUTH_API_KEY,
 * so rotating that key ends every session; a tenant key's session names the key's hash and ends
 * when that key is revoked (the guard looks it up on each request). The cookie authorizes no
 * write but the listener's own playback state (SessionWrite, api/access.ts): writes need the
 * Bearer header, which a cross-site page cannot set.
 */
export const SESSION_COOKIE = 'podbrain_session';
const VERSION = 'v1';

export interface SessionClaims {
  /** 'admin': made with the deployment key; 'tenant': with a tenant key (its sha256 in `keyHash`). */
  kind: 'admin' | 'tenant';
  keyHash?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function secretOf(apiKey: string): Buffer {
  return createHmac('sha256', apiKey).update('podbrain session v1').digest();
}

function signature(apiKey: string, payload: string): Buffer {
  return createHmac('sha256', secretOf(apiKey)).update(`${VERSION}.${payload}`).digest();
}

export const keyHashOf = (key: string) => createHash('sha256').update(key).digest('hex');

export function signSession(apiKey: string, claims: SessionClaims): string {
  const payload = b64url(JSON.stringify(claims));
  return `${VERSION}.${payload}.${b64url(signature(apiKey, payload))}`;
}

/** The claims of a token signed with this key and not expired; null for anything else. */
export function verifySession(apiKey: string, token: string, nowMs = Date.now()): SessionClaims | null {
  if (!apiKey || token.length > 1024) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return null;
  const [, payload, sig] = parts;
  const given = Buffer.from(sig, 'base64url');
  const expected = signature(apiKey, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  const c = claims as Partial<SessionClaims>;
  if (typeof c.exp !== 'number' || c.exp * 1000 <= nowMs) return null;
  if (c.kind === 'admin') return { kind: 'admin', exp: c.exp };
  if (c.kind === 'tenant' && typeof c.keyHash === 'string' && /^[0-9a-f]{64}$/.test(c.keyHash)) return { kind: 'tenant', keyHash: c.keyHash, exp: c.exp };
  return null;
}

/** The session cookie's value in a request (the first one named so), or null. */
export function sessionToken(req: Pick<Request, 'headers'>): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** Over TLS itself, or behind Caddy terminating it (it sets X-Forwarded-Proto). */
export function cameOverHttps(req: Pick<Request, 'headers' | 'secure'>): boolean {
  const proto = req.headers['x-forwarded-proto'];
  return req.secure || (typeof proto === 'string' && proto.split(',')[0].trim().toLowerCase() === 'https');
}

/**
 * HttpOnly (scripts never see it), SameSite=Strict (never sent by a request another site starts),
 * Path=/api (only the api needs it), Secure whenever the viewer came over https.
 */
export function sessionCookie(token: string, maxAgeS: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/api; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/api; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/**
 * A browser names the page that started a request in Origin; one from another site is refused on
 * the session routes (SameSite=Strict already keeps the cookie off such requests). No Origin
 * (curl, a same-origin GET) passes.
 */
export function crossSiteOrigin(req: Pick<Request, 'headers'>): string | null {
  const origin = req.headers.origin;
  if (!origin || origin === 'null') return origin === 'null' ? origin : null;
  const host = (req.headers['x-forwarded-host'] as string | undefined)?.split(',')[0].trim() || req.headers.host;
  try {
    return new URL(origin).host === host ? null : origin;
  } catch {
    return origin;
  }
}
