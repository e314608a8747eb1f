import path from 'node:path';
import { readJson, writeJsonAtomic } from '../artifacts/store';
import type { FeedCacheValidators, FeedEpisode, ParsedFeed } from './types';

/**
 * Atomic-mode memory of a feed between polls: `$DATA_DIR/feeds/<feed_id>.json` holds the
 * validators of the last 200 and what it parsed to, so a 304 can still hand the runner
 * the episode list. Written with temp + rename; an unreadable file counts as absent.
 */

export interface FeedState {
  schema_version: 1;
  location: string;
  feed_id: string;
  fetched_at: string;
  /** Final URL after redirects, when fetched over HTTP. */
  final_url: string | null;
  validators: FeedCacheValidators;
  feed: Omit<ParsedFeed, 'episodes'>;
  episodes: FeedEpisode[];
  warnings: string[];
}

export function feedStatePath(dataDir: string, feedId: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(feedId)) throw new Error(`bad feed id ${feedId}`);
  return path.join(dataDir, 'feeds', `${feedId}.json`);
}

export async function readFeedState(dataDir: string, feedId: string): Promise<FeedState | null> {
  try {
    const state = await readJson<FeedState>(feedStatePath(dataDir, feedId));
    return state.schema_version === 1 && state.feed_id === feedId && Array.isArray(state.episodes) ? state : null;
  } catch {
    return null;
  }
}

export async function writeFeedState(dataDir: string, state: FeedState): Promise<void> {
  await writeJsonAtomic(feedStatePath(dataDir, state.feed_id), state);
}
