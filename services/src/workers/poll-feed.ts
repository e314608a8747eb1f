import { errorMessage } from '../core/errors';
import { nextPollDelayS } from '../episodes/feeds.repository';
import { loadFeed } from '../feeds/load';
import { childOutsideContext, currentCorrelationId } from '../telemetry/correlation';
import type { PipelineDeps, StagePipeline } from './pipeline';

export interface PollOutcome {
  feedId: string;
  notModified: boolean;
  episodes: number;
  created: number;
  error?: string;
}

/**
 * The ingest queue's feed job: conditional GET via loadFeed, upsert episodes, enqueue the
 * first stage of each new one. Errors are kept on the feed row and push the next poll out
 * (exponential backoff); they never throw, so one broken feed never blocks the queue.
 */
export async function pollFeedJob(deps: PipelineDeps, pipeline: StagePipeline, feedId: string, signal: AbortSignal): Promise<PollOutcome> {
  const feed = await deps.feeds.get(feedId);
  if (!feed) return { feedId, notModified: false, episodes: 0, created: 0, error: 'feed no longer exists' };
  const log = childOutsideContext(deps.log, { feed_id: feedId, queue: 'ingest' });
  try {
    const loaded = await loadFeed(feed.url, deps.config, { etag: feed.etag, lastModified: feed.lastModified }, { signal });
    const next = new Date(Date.now() + nextPollDelayS(feed.pollIntervalS, 0) * 1000);
    if (loaded.notModified || !loaded.episodes || !loaded.feed) {
      await deps.feeds.markPolled(feedId, { validators: loaded.validators, feed: null, nextPollAt: next });
      log.debug('feed not modified');
      return { feedId, notModified: true, episodes: 0, created: 0 };
    }
    // New episodes keep the poll's correlation id (the reconciler re-enqueues them under it).
    const created = await deps.episodes.upsertFromFeed(loaded.episodes, currentCorrelationId());
    const { episodes: _e, ...meta } = loaded.feed;
    await deps.feeds.markPolled(feedId, { validators: loaded.validators, feed: meta, nextPollAt: next });
    const fresh = new Set(created);
    for (const ep of loaded.episodes) {
      if (fresh.has(ep.episodeKey)) await pipeline.advanceFromArtifacts(ep, { state: 'pending' });
    }
    log.info({ episodes: loaded.episodes.length, created: created.length }, 'feed polled');
    return { feedId, notModified: false, episodes: loaded.episodes.length, created: created.length };
  } catch (e) {
    const message = errorMessage(e);
    const errors = (feed.errorCount ?? 0) + 1;
    const next = new Date(Date.now() + nextPollDelayS(feed.pollIntervalS, errors) * 1000);
    await deps.feeds.markPollFailed(feedId, message, next);
    log.warn({ err: message, error_count: errors, next_poll_at: next.toISOString() }, 'feed poll failed');
    return { feedId, notModified: false, episodes: 0, created: 0, error: message };
  }
}
