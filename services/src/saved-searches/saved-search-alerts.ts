import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { Database } from '../db/database';
import { createEmbeddingProvider, resolveEmbeddings } from '../index/embeddings';
import { SearchService, vectorIndexFromConfig, type FusedHit } from '../index/search.service';
import { NotificationService } from '../notifications/notification.service';
import { ChunkRepository } from '../repositories/chunks.repository';
import { SavedSearchRepository, type SavedSearchRow } from '../repositories/saved-searches.repository';
import { CachedEmbeddings } from './cached-embeddings';
import { SavedSearchNotifier } from './notifier';

/** Saved searches read and matched per page (a feed followed by many tenants with many searches). */
const PAGE = 100;
/** Searches of one page matched at once (each is a Postgres full-text query and a few hundred dot products). */
const PARALLEL = 4;
/** Hits the core returns per saved search within the episode; the best relevance of them is kept. */
const K = 5;

/** A saved search's query as the search core searches it (trimmed, inner whitespace collapsed): the embedding cache's key. */
export const normalizeQuery = (q: string) => q.trim().replace(/\s+/g, ' ');

export interface EpisodeMatch {
  episodeKey: string;
  /** Saved searches looked at (those of the tenants subscribed to the episode's feed). */
  searches: number;
  /** New hits stored (a re-projection stores none: one per search and episode). */
  hits: number;
  /** Notifications sent right away (the others wait for their search's interval). */
  notified: number;
  durationMs: number;
}

/**
 * Standing alerts (issue 17, ARCHITECTURE "Saved searches"): when an episode is projected done,
 * each saved search of each tenant subscribed to its feed is run through the hybrid search core
 * scoped to that one episode; the episode's best hit at or above the search's threshold is
 * stored (saved_search_hits, once per search and episode) and notified subject to the search's
 * interval (SavedSearchNotifier). Runs in the process that projected, after the commit, one
 * episode at a time, never failing the caller; `sweep` (the scheduler leader's) sends what an
 * interval held back.
 */
export class SavedSearchAlerts {
  private readonly repo: SavedSearchRepository;
  private readonly chunks: ChunkRepository;
  private readonly log: Logger;
  private core: { search: SearchService; embeddings: CachedEmbeddings | null } | null = null;
  private notificationsOwned: NotificationService | null = null;
  private notifierInstance: SavedSearchNotifier | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly deps: {
      config: Config;
      database: Database;
      log: Logger;
      /** Default: NotificationService.fromConfig (closed by close()). */
      notifications?: NotificationService;
    },
  ) {
    this.repo = new SavedSearchRepository(deps.database);
    this.chunks = new ChunkRepository(deps.database);
    this.log = deps.log.child({ component: 'saved-searches' });
  }

  /** Queues the episode's matching (one episode at a time in this process); never throws, never waits. */
  episodeProjected(episodeKey: string): void {
    if (this.closed) return;
    this.chain = this.chain.then(() =>
      this.matchEpisode(episodeKey).catch((e) => this.log.warn({ episode_key: episodeKey, err: errorMessage(e) }, 'saved searches not matched against the episode')),
    );
  }

  /** Resolves once every queued match has run (tests, the benchmark, shutdown). */
  async idle(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.chain;
      await seen;
    } while (seen !== this.chain);
  }

  /** Matches the episode against the saved searches of every tenant subscribed to its feed. */
  async matchEpisode(episodeKey: string): Promise<EpisodeMatch> {
    const t0 = performance.now();
    const episode = await this.deps.database.db.selectFrom('episodes').select(['episode_key', 'feed_id', 'state']).where('episode_key', '=', episodeKey).executeTakeFirst();
    const result: EpisodeMatch = { episodeKey, searches: 0, hits: 0, notified: 0, durationMs: 0 };
    if (!episode || episode.state !== 'done') return result;
    const scope = { feeds: new Set([episode.feed_id]), episodes: new Set([episodeKey]) };
    const core = this.searchCore();
    const matched: string[] = [];
    for (let after: string | null = null; ; ) {
      const page: SavedSearchRow[] = await this.repo.searchesForFeed(episode.feed_id, after, PAGE);
      if (!page.length) break;
      after = page[page.length - 1].id;
      result.searches += page.length;
      // One batch embeds the page's queries not cached yet; each find() below reads them from the cache.
      await core.embeddings?.warm(page.map((s) => normalizeQuery(s.query))).catch((e) => this.log.warn({ err: errorMessage(e) }, 'saved queries not embedded ahead'));
      for (let i = 0; i < page.length; i += PARALLEL) {
        await Promise.all(
          page.slice(i, i + PARALLEL).map(async (s) => {
            try {
              const best = await this.bestHit(core.search, s, scope);
              if (!best) return;
              const added = await this.repo.addHit({ savedSearchId: s.id, episodeKey, chunkNo: best.chunk.chunk_no, score: best.relevance, text: best.excerpt.text, startMs: best.start_ms });
              if (added) {
                result.hits++;
                if (s.notify) matched.push(s.id);
              }
            } catch (e) {
              this.log.warn({ saved_search_id: s.id, episode_key: episodeKey, err: errorMessage(e) }, 'saved search not matched');
            }
          }),
        );
      }
      if (page.length < PAGE) break;
    }
    if (matched.length) result.notified = await this.notifier().deliverDue(matched);
    result.durationMs = Math.round(performance.now() - t0);
    this.log.info({ episode_key: episodeKey, searches: result.searches, hits: result.hits, notified: result.notified, duration_ms: result.durationMs }, 'saved searches matched');
    return result;
  }

  /** Sends the hits whose search's interval has passed since its last notification (the scheduler leader, every tick). */
  sweep(): Promise<number> {
    return this.notifier().deliverDue();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    await this.notificationsOwned?.close();
  }

  private async bestHit(search: SearchService, s: SavedSearchRow, scope: { feeds: Set<string>; episodes: Set<string> }): Promise<FusedHit | null> {
    const r = await search.find(s.query, { k: K, scope });
    let best: FusedHit | null = null;
    for (const h of r.hits) if (h.relevance >= s.threshold && (!best || h.relevance > best.relevance)) best = h;
    return best;
  }

  private notifier(): SavedSearchNotifier {
    if (this.notifierInstance) return this.notifierInstance;
    const notifications = this.deps.notifications ?? (this.notificationsOwned = NotificationService.fromConfig(this.deps.config, this.log));
    return (this.notifierInstance = new SavedSearchNotifier({ config: this.deps.config, repo: this.repo, notifications, log: this.log }));
  }

  /** The hybrid search core as the api builds it (api/search), its query embeddings cached; keywords alone where embeddings are off. */
  private searchCore(): { search: SearchService; embeddings: CachedEmbeddings | null } {
    if (this.core) return this.core;
    const { config } = this.deps;
    const resolved = resolveEmbeddings(config);
    if (resolved.unavailable) this.log.info({ reason: resolved.unavailable }, 'saved searches match by keywords only');
    const embeddings = resolved.unavailable ? null : new CachedEmbeddings(createEmbeddingProvider(config, this.log));
    const search = new SearchService({
      dataDir: config.dataDir,
      vectors: embeddings && { provider: embeddings, store: vectorIndexFromConfig(config, embeddings, this.log, { onForeignSpace: 'ignore' }) },
      keywords: this.chunks,
      chunks: this.chunks,
      timeline: this.chunks,
      requireVectors: false,
      log: this.log,
    });
    return (this.core = { search, embeddings });
  }
}
