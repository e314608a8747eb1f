import { errorMessage } from '../core/errors';
import { nextPollDelayS } from '../feeds/poll-schedule';
import { loadFeed, republishKey } from '../feeds/load';
import type { FeedEpisode } from '../feeds/types';
import type { Config } from '../config/config';
import { decideNewEpisodes, horizonOf } from '../feeds/policy';
import type { InitialEpisodeState } from '../repositories/episodes.repository';
import type { Feed } from '../repositories/feeds.repository';
import { childOutsideContext, currentCorrelationId } from '../telemetry/correlation';
import type { PipelineDeps, StageJobs } from './stage.jobs';

export interface PollOutcome {
  feedId: string;
  notModified: boolean;
  episodes: number;
  created: number;
  /** New items beyond FEED_MAX_NEW_EPISODES_PER_POLL, left for the next polls. */
  deferred?: number;
  /** Items under a new guid matched to a stored episode by enclosure URL + pubDate. */
  republished?: number;
  /** Items Postgres refused (left out; the rest of the feed is stored). */
  rejected?: number;
  /** New items stored as `skipped`: left out by the feed's policy (backfill, filters); nothing queued for them. */
  skipped?: number;
  /** The feed is paused (pause-feed): nothing was fetched, or what was fetched was not stored. */
  paused?: boolean;
  error?: string;
}

export interface PollPlan {
  /** Known episodes (metadata refresh), under their stored key. */
  known: FeedEpisode[];
  /** New episodes this poll adds, newest first. */
  create: FeedEpisode[];
  deferred: number;
  republished: number;
}

/**
 * Sorts a parsed feed against what is stored: an item whose key is stored is known; an item
 * under an unknown key whose enclosure URL and pubDate match a stored episode is that episode
 * re-published under a new guid (known, under the stored key); the rest is new, and at most
 * `maxNew` of it (the newest; items without a date after dated ones, in feed order) is created.
 */
export function planPoll(
  parsed: readonly FeedEpisode[],
  stored: readonly { episodeKey: string; enclosureUrl: string | null; published: string | null }[],
  maxNew: number,
): PollPlan {
  const storedKeys = new Set(stored.map((s) => s.episodeKey));
  const byRepublish = new Map<string, string>();
  for (const s of stored) {
    const k = republishKey({ enclosure: s.enclosureUrl ? { url: s.enclosureUrl } : null, published: s.published });
    if (k !== null && !byRepublish.has(k)) byRepublish.set(k, s.episodeKey);
  }
  const parsedKeys = new Set(parsed.map((p) => p.episodeKey));
  const used = new Set<string>();
  const known: FeedEpisode[] = [];
  const fresh: FeedEpisode[] = [];
  let republished = 0;
  for (const ep of parsed) {
    if (storedKeys.has(ep.episodeKey)) {
      if (!used.has(ep.episodeKey)) known.push(ep);
      used.add(ep.episodeKey);
      continue;
    }
    const k = republishKey(ep);
    const storedKey = k === null ? undefined : byRepublish.get(k);
    if (storedKey !== undefined) {
      // One row per key in a statement: a second item for the same stored episode is dropped.
      if (!used.has(storedKey) && !parsedKeys.has(storedKey)) known.push({ ...ep, episodeKey: storedKey });
      used.add(storedKey);
      republished++;
      continue;
    }
    fresh.push(ep);
  }
  const time = (ep: FeedEpisode) => (ep.published ? Date.parse(ep.published) : Number.NaN);
  const order = fresh.map((ep, i) => ({ ep, i, t: time(ep) }));
  order.sort((a, b) => {
    const an = Number.isNaN(a.t);
    const bn = Number.isNaN(b.t);
    if (an !== bn) return an ? 1 : -1;
    return an || a.t === b.t ? a.i - b.i : b.t - a.t;
  });
  const create = order.slice(0, maxNew).map((o) => o.ep);
  return { known, create, deferred: fresh.length - create.length, republished };
}

/**
 * The feed's policy over a poll's new items (feeds/policy.ts decideNewEpisodes): the ones it
 * leaves out are all stored as `skipped` (a row each, no job); of the ones it queues, at most
 * FEED_MAX_NEW_EPISODES_PER_POLL (the newest) are stored now and the rest deferred to later polls.
 */
export function applyPolicy(
  plan: PollPlan,
  feed: Pick<Feed, 'policy' | 'backfillHorizon'>,
  config: Pick<Config, 'feeds'>,
): PollPlan & { initial: Map<string, InitialEpisodeState> } {
  const decisions = decideNewEpisodes(plan.create, feed.policy, { horizon: feed.backfillHorizon, defaultBackfill: config.feeds.backfillDefault });
  const initial = new Map<string, InitialEpisodeState>();
  const create: FeedEpisode[] = [];
  let queued = 0;
  let deferred = plan.deferred;
  for (const ep of plan.create) {
    const d = decisions.get(ep.episodeKey)!;
    if ('skip' in d) initial.set(ep.episodeKey, { state: 'skipped', reason: d.skip });
    else if (queued < config.feeds.maxNewEpisodesPerPoll) {
      queued++;
      initial.set(ep.episodeKey, { state: 'pending', priorityClass: d.queue });
    } else {
      deferred++;
      continue;
    }
    create.push(ep);
  }
  return { ...plan, create, deferred, initial };
}

/**
 * The ingest queue's feed job: conditional GET via loadFeed (the feed is parsed here, in
 * worker-io, never in the api), upsert episodes, enqueue the first stage of each new one, at
 * most FEED_MAX_NEW_EPISODES_PER_POLL per poll. Errors are kept on the feed row and push the
 * next poll out (exponential backoff); they never throw, so one broken feed never blocks the queue.
 */
export async function pollFeedJob(deps: PipelineDeps, stageJobs: StageJobs, feedId: string, signal: AbortSignal): Promise<PollOutcome> {
  const feed = await deps.feeds.get(feedId);
  if (!feed) return { feedId, notModified: false, episodes: 0, created: 0, error: 'feed no longer exists' };
  const log = childOutsideContext(deps.log, { feed_id: feedId, queue: 'ingest' });
  const paused = (): PollOutcome => {
    log.info('feed is paused: poll left without storing anything');
    return { feedId, notModified: false, episodes: 0, created: 0, paused: true };
  };
  if (feed.paused) return paused();
  try {
    const loaded = await loadFeed(feed.url, deps.config, { etag: feed.etag, lastModified: feed.lastModified }, { signal });
    const next = new Date(Date.now() + nextPollDelayS(feed.pollIntervalS, 0) * 1000);
    if (loaded.notModified || !loaded.episodes || !loaded.feed) {
      await deps.feeds.markPolled(feedId, { validators: loaded.validators, feed: null, nextPollAt: next });
      log.debug('feed not modified');
      return { feedId, notModified: true, episodes: 0, created: 0 };
    }
    // Paused while the feed was being fetched: nothing new is stored or queued (the next poll after a resume takes it).
    if (await deps.feeds.isPaused(feedId)) return paused();
    const { known, create, initial, deferred, republished } = applyPolicy(planPoll(loaded.episodes, await deps.episodes.knownOfFeed(feedId), Number.MAX_SAFE_INTEGER), feed, deps.config);
    const plan = { known, create, deferred, republished };
    // New episodes keep the poll's correlation id (the reconciler re-enqueues them under it).
    const { created, rejected } = await deps.episodes.upsertFromFeed([...plan.known, ...plan.create], currentCorrelationId(), initial);
    if (feed.backfillHorizon === null) await deps.feeds.setBackfillHorizon(feedId, horizonOf(loaded.episodes));
    for (const r of rejected) log.warn({ episode_key: r.episodeKey, title: r.title, err: r.error }, 'feed item refused by the database: left out, the rest of the feed is stored');
    const { episodes: _e, ...meta } = loaded.feed;
    // Older items left for later: forget the validators so the next poll reads the feed again (not a 304) and takes the next ones.
    const validators = plan.deferred > 0 ? {} : loaded.validators;
    await deps.feeds.markPolled(feedId, { validators, feed: meta, nextPollAt: next });
    const fresh = new Set(created);
    let skipped = 0;
    for (const ep of plan.create) {
      if (!fresh.has(ep.episodeKey)) continue;
      const init = initial.get(ep.episodeKey);
      if (init?.state === 'pending') await stageJobs.advanceFromArtifacts(ep, { state: 'pending', priorityClass: init.priorityClass });
      else skipped++;
    }
    const outcome: PollOutcome = {
      feedId,
      notModified: false,
      episodes: loaded.episodes.length,
      created: created.length,
      deferred: plan.deferred,
      republished: plan.republished,
      rejected: rejected.length,
      skipped,
    };
    if (plan.deferred > 0) {
      log.info({ ...outcome, max_new_per_poll: deps.config.feeds.maxNewEpisodesPerPoll }, 'feed polled; older new episodes left for the next polls (FEED_MAX_NEW_EPISODES_PER_POLL)');
    } else log.info({ episodes: outcome.episodes, created: outcome.created, skipped, republished: plan.republished }, 'feed polled');
    return outcome;
  } catch (e) {
    const message = errorMessage(e);
    const errors = (feed.errorCount ?? 0) + 1;
    const next = new Date(Date.now() + nextPollDelayS(feed.pollIntervalS, errors) * 1000);
    await deps.feeds.markPollFailed(feedId, message, next);
    log.warn({ err: message, error_count: errors, next_poll_at: next.toISOString() }, 'feed poll failed');
    return { feedId, notModified: false, episodes: 0, created: 0, error: message };
  }
}
