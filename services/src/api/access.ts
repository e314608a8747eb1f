import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';

/**
 * Who may call a route (ARCHITECTURE §8), declared on the route — never derived from its path,
 * which Express may match in other spellings (`/API/ADMIN/config`):
 *  - public: never needs a key (/healthz and /metrics: compose healthchecks, Prometheus);
 *  - read: open unless reads are private (AUTH_READS, api/private-reads.ts): then the deployment
 *    key, a tenant key or a session cookie (api/session.ts); a tenant key still selects its tenant;
 *  - write: needs the deployment key or a tenant key when AUTH_API_KEY is set;
 *  - admin: needs the deployment key when AUTH_API_KEY is set.
 * ApiKeyGuard reads it with the Reflector (a method's declaration overrides its controller's);
 * a route that declares nothing is treated as admin (closed, not open, when someone forgets).
 */
export type AccessLevel = 'public' | 'read' | 'write' | 'admin';

export const ACCESS_KEY = 'podbrain:access';

/** The level of an undeclared route. */
export const UNDECLARED_ACCESS: AccessLevel = 'admin';

/** Declares the level; also shows it in the OpenAPI document (`x-podbrain-access`, Bearer auth for write/admin). */
function Access(level: AccessLevel): MethodDecorator & ClassDecorator {
  const decorators: (MethodDecorator & ClassDecorator)[] = [SetMetadata(ACCESS_KEY, level), ApiExtension('x-podbrain-access', level)];
  if (level === 'write' || level === 'admin') decorators.push(ApiBearerAuth());
  return applyDecorators(...decorators);
}

/** Never needs a key. */
export const Public = () => Access('public');
/** A read: open unless reads are closed. */
export const Reads = () => Access('read');
/** A write (`{ admin: true }`: an admin route, deployment key only). */
export const Authenticated = (opts: { admin?: boolean } = {}) => Access(opts.admin ? 'admin' : 'write');

export const WEBHOOK_TOKEN_KEY = 'podbrain:webhook-token';

/**
 * An admin route that Alertmanager calls: besides the deployment key it accepts AGENT_WEBHOOK_TOKEN
 * as the Bearer (when set), so Alertmanager's config holds a token that can do nothing else.
 */
export const AlertWebhook = () => applyDecorators(Access('admin'), SetMetadata(WEBHOOK_TOKEN_KEY, true), ApiExtension('x-podbrain-webhook-token', true));

export const SESSION_WRITE_KEY = 'podbrain:session-write';

/**
 * A write that a signed-in viewer's session cookie may make as well as a key (the listener's own
 * playback state, nothing else): the cookie otherwise opens reads only. Refused when another site
 * starts the request (Origin); SameSite=Strict already keeps the cookie off such requests.
 */
export const SessionWrite = () => applyDecorators(Access('write'), SetMetadata(SESSION_WRITE_KEY, true), ApiExtension('x-podbrain-session-write', true));
