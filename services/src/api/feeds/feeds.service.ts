import { Injectable } from '@nestjs/common';
import { PodbrainError, errorMessage } from '../../core/errors';
import { feedIdOf } from '../../core/identity';
import { normalizeFeedLocation, probeFeed } from '../../feeds/load';
import { parseOpml, toOpml } from '../../feeds/opml';
import { ApiContext } from '../context';
import type { ImportResult } from '../contract';
import { ApiError, notFound } from '../errors';
import { audioDefaultsOf, FeedRepository, type AudioDefaults, type FeedView } from '../../repositories/feeds.repository';
import { ControlPlane } from '../../control/control-plane';
import { applyPolicyInput, EMPTY_POLICY, PolicyError, type FeedPolicy, type PolicyInput } from '../../feeds/policy';

const IMPORT_CONCURRENCY = 4;

/** A policy the caller's input makes, or a 400 that says why not. */
function toPolicy(make: () => FeedPolicy): FeedPolicy {
  try {
    return make();
  } catch (e) {
    if (e instanceof PolicyError) throw new ApiError(400, 'invalid_request', e.message);
    throw e;
  }
}

@Injectable()
export class FeedsService {
  constructor(
    private readonly ctx: ApiContext,
    private readonly repo: FeedRepository,
    private readonly plane: ControlPlane,
  ) {}

  private get audioDefaults(): AudioDefaults {
    return audioDefaultsOf(this.ctx.config);
  }

  list(tenantId: string): Promise<FeedView[]> {
    return this.repo.listSubscribed(tenantId, this.audioDefaults);
  }

  /**
   * Adds a feed by URL. A feed already in the catalog is answered from it at once. A new one is
   * checked (SSRF guard, HTTP status, the first 64 KiB is RSS/Atom, not HTML: a 4xx with the
   * reason instead of a row that fails forever), then gets its catalog row, the tenant's
   * subscription and a poll job on the ingest queue. The feed is read and parsed by that job in
   * worker-io (which upserts the episodes and starts their pipeline), never in this request, so
   * a 50,000-item feed costs the api no more than a small one. `correlationId`: the request's;
   * the poll job and every job of the feed's new episodes carry it.
   */
  async add(tenantId: string, url: string, correlationId?: string, policyInput: PolicyInput = {}): Promise<{ feed: FeedView; created: boolean; subscribed: boolean }> {
    const location = normalizeFeedLocation(url);
    const feedId = feedIdOf(location);
    // A new feed starts with the given policy (backfill: FEED_BACKFILL_DEFAULT when not given); a feed
    // already in the catalog keeps its own (PATCH changes it).
    const policy = toPolicy(() => applyPolicyInput({ ...EMPTY_POLICY, backfill: this.ctx.config.feeds.backfillDefault }, policyInput));
    let created = false;
    if (!(await this.repo.exists(feedId))) {
      let probe;
      try {
        probe = await probeFeed(location, this.ctx.config);
      } catch (e) {
        if (e instanceof PodbrainError) throw new ApiError(422, e.code, e.message, e.details);
        throw new ApiError(422, 'feed_unreadable', `could not read the feed: ${errorMessage(e)}`);
      }
      created = await this.repo.ensureFeed({ id: feedId, url: location, title: probe.title, link: null, image: null, pollIntervalS: this.ctx.config.feeds.pollIntervalS, policy });
    }
    const subscribed = await this.repo.subscribe(tenantId, feedId);
    // Best effort: the feed is due at once, so the scheduler polls it anyway if Redis is down now.
    if (created) {
      await this.ctx
        .withRedis(() => this.ctx.queues.addPollJob(feedId, correlationId))
        .then(() => this.ctx.log.info({ correlation_id: correlationId, feed_id: feedId, url: location }, 'feed added; poll enqueued'))
        .catch((e: Error) => this.ctx.log.warn({ correlation_id: correlationId, err: e.message, feed_id: feedId }, 'poll job not enqueued; the scheduler will poll the feed'));
    }
    const feed = await this.repo.getSubscribed(tenantId, feedId, this.audioDefaults);
    if (!feed) throw new ApiError(409, 'conflict', 'the feed was removed while it was being added; try again');
    return { feed, created, subscribed };
  }

  /** One subscribed feed's view; 404 when the tenant does not follow it. */
  async get(tenantId: string, feedId: string): Promise<FeedView> {
    const feed = await this.repo.getSubscribed(tenantId, feedId, this.audioDefaults);
    if (!feed) throw notFound(`feed ${feedId}`);
    return feed;
  }

  /** Subscribes to a feed already in the catalog; `created`: false when the tenant already was subscribed. */
  async subscribe(tenantId: string, feedId: string): Promise<{ feed: FeedView | null; created: boolean }> {
    if (!(await this.repo.exists(feedId))) throw new ApiError(404, 'not_found', `feed ${feedId} is not in the catalog; add it by URL with POST /api/feeds`);
    const created = await this.repo.subscribe(tenantId, feedId);
    return { feed: await this.repo.getSubscribed(tenantId, feedId, this.audioDefaults), created };
  }

  async remove(tenantId: string, feedId: string): Promise<void> {
    const r = await this.repo.unsubscribe(tenantId, feedId);
    if (!r.removed) throw notFound(`feed ${feedId}`);
  }

  /**
   * PATCH feeds/:id: pause/resume (the same ControlPlane actions as the admin routes) and the
   * policy. A new backfill applies to back catalogue later polls find; what the first poll left
   * out stays skipped (process it with process-skipped). Filters apply to episodes found from now on.
   */
  async update(tenantId: string, feedId: string, body: PolicyInput & { paused?: boolean }): Promise<FeedView> {
    if (!(await this.repo.isSubscribed(tenantId, feedId))) throw notFound(`feed ${feedId}`);
    const { paused, ...policyInput } = body;
    if (Object.keys(policyInput).length) {
      const feed = await this.repo.get(feedId);
      if (!feed) throw notFound(`feed ${feedId}`);
      await this.repo.setPolicy(feedId, toPolicy(() => applyPolicyInput(feed.policy, policyInput)));
    }
    if (paused !== undefined) await this.plane.setFeedPaused(feedId, paused);
    const view = await this.repo.getSubscribed(tenantId, feedId, this.audioDefaults);
    if (!view) throw notFound(`feed ${feedId}`);
    return view;
  }

  /** Queues every skipped episode of the feed at backfill priority. */
  async processSkipped(tenantId: string, feedId: string): Promise<{ feed_id: string; queued: number; episodes: number }> {
    if (!(await this.repo.isSubscribed(tenantId, feedId))) throw notFound(`feed ${feedId}`);
    const r = await this.ctx.withRedis(() => this.plane.processSkipped(feedId));
    this.ctx.log.info({ feed_id: feedId, ...r }, 'skipped episodes of the feed queued (backfill)');
    return { feed_id: feedId, ...r };
  }

  /** Polls now (the ingest queue's feed job); one pending poll per feed, so repeats are no-ops. */
  async refresh(tenantId: string, feedId: string, correlationId?: string): Promise<{ job_id: string }> {
    if (!(await this.repo.isSubscribed(tenantId, feedId))) throw notFound(`feed ${feedId}`);
    // A feed an admin paused answers 409 (its poll would store nothing).
    return { job_id: await this.ctx.withRedis(() => this.plane.refreshFeed(feedId, correlationId)) };
  }

  /** Every feed of one import is polled under the import request's correlation id. */
  async importOpml(tenantId: string, xml: string, correlationId?: string): Promise<ImportResult> {
    let entries;
    try {
      entries = parseOpml(xml);
    } catch (e) {
      throw new ApiError(400, e instanceof PodbrainError ? e.code : 'invalid_opml', `not a readable OPML document: ${errorMessage(e)}`);
    }
    const result: ImportResult = { added: 0, skipped: 0, errors: [] };
    const queue = [...entries];
    const worker = async () => {
      for (let entry = queue.shift(); entry; entry = queue.shift()) {
        const url = entry.url;
        if (!/^https?:\/\//i.test(url)) {
          result.errors.push(`${url}: only http(s) feed URLs can be added`);
          continue;
        }
        try {
          const r = await this.add(tenantId, url, correlationId);
          if (r.subscribed) result.added++;
          else result.skipped++;
        } catch (e) {
          result.errors.push(`${url}: ${errorMessage(e)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: IMPORT_CONCURRENCY }, worker));
    return result;
  }

  async exportOpml(tenantId: string): Promise<string> {
    const feeds = await this.repo.listSubscribed(tenantId, this.audioDefaults);
    return toOpml(feeds.map((f) => ({ url: f.url, title: f.title, htmlUrl: f.link })), { title: 'podbrain subscriptions' });
  }
}
