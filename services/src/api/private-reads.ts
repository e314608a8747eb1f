import type { Config } from '../config/config';
import { ConfigError } from '../config/config';

/**
 * Whether DOMAIN names a host reachable beyond the LAN. Caddy's own default is the bare
 * address ":80" (docker-compose.yml passes it when DOMAIN is unset), which is not a domain.
 */
export function isPublicDomain(domain: string): boolean {
  const d = (domain || '').trim();
  return d !== '' && !d.startsWith(':');
}

/** AUTH_READS: true/false as set; auto = closed when the box is exposed (DOMAIN set). */
export function readsArePrivate(config: Pick<Config, 'authReads' | 'domain'>): boolean {
  if (config.authReads === 'true') return true;
  if (config.authReads === 'false') return false;
  return isPublicDomain(config.domain);
}

/**
 * The api refuses to start when reads should be private but there is no key to open them with:
 * serving an exposed box's library to anyone because a key was forgotten is the failure this
 * setting exists to prevent. AUTH_READS=false is the explicit way to keep reads public.
 */
export function assertReadAccessConfigured(config: Pick<Config, 'authReads' | 'domain' | 'authApiKey'>): void {
  if (!readsArePrivate(config) || config.authApiKey) return;
  const why = config.authReads === 'true' ? 'AUTH_READS=true' : `DOMAIN=${config.domain} (AUTH_READS=auto: reads are private on a box reachable beyond the LAN)`;
  throw new ConfigError([
    `${why} needs AUTH_API_KEY: set AUTH_API_KEY (e.g. \`openssl rand -hex 32\`) so the viewer can sign in, or set AUTH_READS=false to serve the library, transcripts and audio to anyone who can reach the box`,
  ]);
}
