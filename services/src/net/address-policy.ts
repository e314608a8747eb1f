import { isIP } from 'node:net';

/**
 * Which IP addresses a fetch may connect to. Everything that reaches "inside" the box or
 * its network is refused unless `net.allowPrivateNetwork` is set: loopback, RFC 1918,
 * CGNAT, ULA, unspecified, multicast/broadcast/reserved, and the IPv4-mapped / NAT64 IPv6
 * spellings of those. Link-local addresses (169.254.0.0/16, fe80::/10 and their IPv6
 * spellings) are where cloud metadata services live (169.254.169.254 hands out instance
 * credentials): opening the LAN for home feeds must not open them, so they have their own
 * switch, `net.allowLinkLocalNetwork`.
 */

const LINK_LOCAL = 'a link-local address';

export interface AddressPolicy {
  allowPrivateNetwork: boolean;
  /** Link-local stays refused under allowPrivateNetwork unless this is set too. */
  allowLinkLocalNetwork?: boolean;
}

export interface AddressRefusal {
  /** "a link-local address", "a loopback address"… */
  reason: string;
  /** The setting that would allow it. */
  setting: 'ALLOW_PRIVATE_NETWORK' | 'ALLOW_LINK_LOCAL_NETWORK';
}

/** Why `ip` must not be reached under `policy` and what would allow it, or null when it may be reached. */
export function policyRefusal(ip: string, policy: AddressPolicy): AddressRefusal | null {
  const reason = refusalReason(ip);
  if (reason === null) return null;
  if (reason.includes(LINK_LOCAL)) return policy.allowLinkLocalNetwork ? null : { reason, setting: 'ALLOW_LINK_LOCAL_NETWORK' };
  return policy.allowPrivateNetwork ? null : { reason, setting: 'ALLOW_PRIVATE_NETWORK' };
}

/** How to allow a refused address, for error messages. */
export function allowHint(refusal: AddressRefusal): string {
  return refusal.setting === 'ALLOW_LINK_LOCAL_NETWORK'
    ? 'link-local addresses (cloud metadata) stay refused even with ALLOW_PRIVATE_NETWORK=true; set ALLOW_LINK_LOCAL_NETWORK=true to allow them'
    : 'set ALLOW_PRIVATE_NETWORK=true to allow it';
}

/** Why `ip` must not be reached ("a loopback address"), or null when it is a public address. */
export function refusalReason(ip: string): string | null {
  const addr = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const family = isIP(addr);
  if (family === 4) return ipv4Reason(parseIpv4(addr));
  if (family === 6) return ipv6Reason(addr);
  return 'not an IP address';
}

function parseIpv4(ip: string): number[] {
  return ip.split('.').map(Number);
}

function ipv4Reason([a, b, c, d]: number[]): string | null {
  if (a === 0) return 'an unspecified ("this network") address';
  if (a === 127) return 'a loopback address';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'a private (RFC 1918) address';
  if (a === 100 && b >= 64 && b <= 127) return 'a carrier-grade NAT (100.64.0.0/10) address';
  if (a === 169 && b === 254) return LINK_LOCAL;
  if (a === 192 && b === 0 && c === 0) return 'an IETF protocol assignment (192.0.0.0/24) address';
  if (a >= 224 && a <= 239) return 'a multicast address';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'the broadcast address';
  if (a >= 240) return 'a reserved (240.0.0.0/4) address';
  return null;
}

/** Expands an IPv6 text form (with optional zone and dotted IPv4 tail) into 8 16-bit groups. */
function ipv6Groups(ip: string): number[] {
  let s = ip.split('%')[0].toLowerCase();
  const tail: number[] = [];
  const dotted = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const [a, b, c, d] = parseIpv4(dotted[1]);
    tail.push((a << 8) | b, (c << 8) | d);
    s = s.slice(0, -dotted[1].length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, null];
  const parse = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = rest === null ? [] : parse(rest);
  const fill = 8 - left.length - right.length - tail.length;
  return [...left, ...(rest === null ? [] : new Array<number>(fill).fill(0)), ...right, ...tail];
}

function ipv6Reason(ip: string): string | null {
  const g = ipv6Groups(ip);
  const zeroPrefix = (n: number) => g.slice(0, n).every((x) => x === 0);
  const embeddedV4 = () => [g[6] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff];
  if (zeroPrefix(8)) return 'an unspecified address';
  if (zeroPrefix(7) && g[7] === 1) return 'a loopback address';
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (deprecated compatible), 64:ff9b::a.b.c.d (NAT64): judge the IPv4 inside.
  const mapped = zeroPrefix(5) && g[5] === 0xffff;
  const compatible = zeroPrefix(6);
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0);
  if (mapped || compatible || nat64) {
    const inner = ipv4Reason(embeddedV4());
    return inner ? `${inner} (IPv4 inside IPv6)` : null;
  }
  if ((g[0] & 0xfe00) === 0xfc00) return 'a unique local (fc00::/7) address';
  if ((g[0] & 0xffc0) === 0xfe80) return LINK_LOCAL;
  if ((g[0] & 0xffc0) === 0xfec0) return 'a site-local (fec0::/10) address';
  if ((g[0] & 0xff00) === 0xff00) return 'a multicast address';
  return null;
}
