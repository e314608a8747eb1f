import { sha256 } from './hash';

/**
 * Identity (ARCHITECTURE §2). Keys are hex digests so they are safe as directory names,
 * stable across runs and machines, and short enough for job ids.
 */

/** Canonical form of a feed location: lower-case scheme/host, no fragment, no default port. */
export function canonicalFeedUrl(location: string): string {
  try {
    const u = new URL(location);
    u.hash = '';
    u.hostname = u.hostname.toLowerCase();
    return u.toString();
  } catch {
    return location;
  }
}

export function feedIdOf(location: string): string {
  return sha256(canonicalFeedUrl(location)).slice(0, 16);
}

/** episode_key = feed id + RSS guid; without a guid, sha256(feed url + title + pubDate). */
export function episodeKeyOf(args: { feedId: string; feedUrl: string; guid: string | null; title: string; published: string | null }): string {
  const guid = args.guid?.trim();
  const basis = guid ? `guid\u0000${args.feedId}\u0000${guid}` : `nog\u0000${canonicalFeedUrl(args.feedUrl)}\u0000${args.title}\u0000${args.published ?? ''}`;
  return sha256(basis).slice(0, 24);
}
