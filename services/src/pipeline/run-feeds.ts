import { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { pollFeed } from '../feeds/load';
import type { FeedEpisode } from '../feeds/types';
import { syncVectorIndex } from '../index/search.service';
import { httpClientFor } from '../net/http-client';
import { PipelineRunner, type EpisodeReport, type RunnerEvent } from './runner';
import type { Stage } from './stage';
import { buildStages } from './stages';

export interface EpisodeSelection {
  /** Keep the N most recent episodes of each feed. */
  limit?: number;
  /** Keep episodes published at or after this instant (undated episodes are kept only without `since`). */
  since?: Date;
}

export interface FeedRunReport {
  location: string;
  feedId: string | null;
  title: string | null;
  episodes: number;
  selected: number;
  notModified: boolean;
  warnings: string[];
  error?: string;
}

export interface RunReport {
  feeds: FeedRunReport[];
  episodes: EpisodeReport[];
  /** Stage executions that did work / were reused / failed (the idempotency tests count these). */
  stats: { executed: number; reused: number; failed: number };
  failed: boolean;
}

export interface RunHooks {
  feedLoaded?(report: FeedRunReport): void;
  selected?(total: number): void;
  event?(e: RunnerEvent): void;
  episodeDone?(r: EpisodeReport): void;
}

/** Most recent first; `since` and `limit` apply per feed. */
function selectEpisodes(episodes: readonly FeedEpisode[], sel: EpisodeSelection): FeedEpisode[] {
  const time = (e: FeedEpisode) => (e.published ? Date.parse(e.published) : Number.NEGATIVE_INFINITY);
  let list = [...episodes].sort((a, b) => time(b) - time(a));
  if (sel.since) {
    const since = sel.since.getTime();
    list = list.filter((e) => time(e) >= since);
  }
  if (sel.limit !== undefined) list = list.slice(0, sel.limit);
  return list;
}

/**
 * Atomic mode (ARCHITECTURE §1): polls every feed, then runs every stage of every selected
 * episode in this process. Feeds are polled concurrently (FEED_POLL_CONCURRENCY); episodes
 * go one at a time, since transcription dominates and wants the whole machine.
 */
export async function runFeeds(opts: {
  config: Config;
  locations: readonly string[];
  selection?: EpisodeSelection;
  log: Logger;
  hooks?: RunHooks;
  signal?: AbortSignal;
  stages?: readonly Stage[];
}): Promise<RunReport> {
  const { config, log, hooks = {} } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const store = new ArtifactStore(config.dataDir);
  const client = httpClientFor(config);
  const feeds: FeedRunReport[] = new Array(opts.locations.length);
  const work: FeedEpisode[][] = new Array(opts.locations.length);

  let next = 0;
  const poller = async () => {
    while (next < opts.locations.length) {
      const i = next++;
      const location = opts.locations[i];
      try {
        const polled = await pollFeed(location, config, store, { client, signal });
        const selected = selectEpisodes(polled.episodes, opts.selection ?? {});
        work[i] = selected;
        feeds[i] = {
          location: polled.location,
          feedId: polled.feedId,
          title: polled.feed.title,
          episodes: polled.episodes.length,
          selected: selected.length,
          notModified: polled.notModified,
          warnings: polled.warnings,
        };
      } catch (e) {
        work[i] = [];
        feeds[i] = { location, feedId: null, title: null, episodes: 0, selected: 0, notModified: false, warnings: [], error: errorMessage(e) };
        log.warn({ feed: location, err: errorMessage(e) }, 'feed failed');
      }
      hooks.feedLoaded?.(feeds[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.feeds.pollConcurrency, opts.locations.length) }, poller));

  const episodes = work.flat();
  hooks.selected?.(episodes.length);
  const runner = new PipelineRunner({ config, store, log, stages: opts.stages ?? buildStages(config), onEvent: hooks.event });
  const reports: EpisodeReport[] = [];
  for (const episode of episodes) {
    signal.throwIfAborted();
    const report = await runner.runEpisode(episode, signal);
    reports.push(report);
    hooks.episodeDone?.(report);
  }
  // Index artifacts that were reused (or written by an earlier, interrupted run) join the global index here.
  if (reports.some((r) => r.stages.some((s) => s.stage === 'index' && (s.status === 'done' || s.status === 'reused')))) {
    await syncVectorIndex(config, log);
  }
  const failed = feeds.some((f) => f.error) || reports.some((r) => r.state === 'failed');
  return { feeds, episodes: reports, stats: { ...runner.stats }, failed };
}
