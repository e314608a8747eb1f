import { promises as dns, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { PodbrainError } from '../core/errors';
import { allowHint, policyRefusal, type AddressRefusal } from './address-policy';

/** Name resolution, injectable so tests can make `feeds.example.test` resolve to any address. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

function refusedAddressError(what: string, address: string, refusal: AddressRefusal, url?: string): PodbrainError {
  const subject = what === address ? address : `${what} resolves to ${address}, which`;
  return new PodbrainError('url_refused', `${url ? `refusing ${url}: ` : ''}${subject} is ${refusal.reason}; ${allowHint(refusal)}`, {
    url,
    host: what,
    address,
    reason: refusal.reason,
    retryable: false,
  });
}

export interface GuardedLookupOptions {
  allowPrivateNetwork: boolean;
  /** Link-local (169.254.0.0/16, fe80::/10) needs this as well as, or instead of, allowPrivateNetwork. */
  allowLinkLocalNetwork?: boolean;
  resolve?: Resolver;
  /**
   * Tests only: the address to actually dial once `address` has passed the guard. It lets a
   * test stand a "public" host (e.g. 203.0.113.10) in front of a 127.0.0.1 fixture server
   * while the guard still judges the resolved public address. Production leaves it unset.
   */
  dial?: (address: string) => string;
}

/**
 * A `lookup` for net/tls.connect: resolves, refuses internal addresses, and hands the
 * checked addresses straight to connect. The socket connects to exactly the address that
 * was judged (no second DNS query, so no DNS-rebinding window), on every new connection.
 */
export function createGuardedLookup(opts: GuardedLookupOptions): LookupFunction {
  const resolve = opts.resolve ?? systemResolver;
  const dial = opts.dial ?? ((a: string) => a);
  return (hostname, options, callback) => {
    resolve(hostname)
      .then((found) => {
        if (!found.length) throw new PodbrainError('http_network', `${hostname} did not resolve to any address`, { host: hostname, retryable: true });
        const usable = found.filter((a) => policyRefusal(a.address, opts) === null);
        if (!usable.length) {
          const first = found[0];
          throw refusedAddressError(hostname, first.address, policyRefusal(first.address, opts) ?? { reason: 'refused', setting: 'ALLOW_PRIVATE_NETWORK' });
        }
        const family = typeof options === 'object' && options ? options.family : undefined;
        const wanted = family === 4 || family === 6 ? usable.filter((a) => a.family === family) : usable;
        const pick = (wanted.length ? wanted : usable).map((a) => ({ address: dial(a.address), family: a.family }));
        if (typeof options === 'object' && options?.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, pick);
        else callback(null, pick[0].address, pick[0].family);
      })
      .catch((e: NodeJS.ErrnoException) => callback(e, '', 0));
  };
}
