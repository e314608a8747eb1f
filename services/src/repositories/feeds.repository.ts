import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database } from '../db/database';
import type { FeedRow } from '../db/schema';
import type { FeedCacheValidators } from '../feeds/load';
import type { ParsedFeed } from '../feeds/types';
import type { FeedView } from '../api/contract/responses';
import { plainText } from '../text/show-notes';
import { formatAudioRetention, type AudioRetention } from '../audio/retention-policy';
import { effectiveAudioDownload, effectiveAudioRetention, readStoredPolicy, type AudioDownload, type FeedPolicy } from '../feeds/policy';

/** The appliance's AUDIO_RETENTION and AUDIO_DOWNLOAD, for what a feed without its own has in effect. */
export interface AudioDefaults {
  retention: AudioRetention;
  download: AudioDownload;
}

export const audioDefaultsOf = (config: { retention: { audio: AudioRetention }; audio: { download: AudioDownload } }): AudioDefaults => ({ retention: config.retention.audio, download: config.audio.download });

/** A feed as the api answers with it (the API contract's). */
export type { FeedView } from '../api/contract/responses';

/** A catalog feed as the scheduler and the poll job use it. */
export interface Feed {
  /** `feedIdOf(url)` from core/identity. */
  id: string;
  url: string;
  title: string | null;
  link: string | null;
  image: string | null;
  etag: string | null;
  lastModified: string | null;
  lastPolledAt: Date | null;
  nextPollAt: Date;
  pollIntervalS: number;
  errorCount: number;
  lastError: string | null;
  /** Polling stopped by an admin (pause-feed): the scheduler skips it, a poll of it stores nothing new. */
  paused: boolean;
  /** What gets processed (feeds/policy.ts). */
  policy: FeedPolicy;
  /** The newest publication time at the first poll; null until the first poll stored episodes. */
  backfillHorizon: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

function toFeed(r: FeedRow): Feed {
  return {
    id: r.id,
    url: r.url,
    title: r.title,
    link: r.link,
    image: r.image,
    etag: r.etag,
    lastModified: r.last_modified,
    lastPolledAt: r.last_polled_at,
    nextPollAt: r.next_poll_at,
    pollIntervalS: r.poll_interval_s,
    errorCount: r.error_count,
    lastError: r.last_error,
    paused: r.paused,
    policy: readStoredPolicy(r.policy),
    backfillHorizon: r.backfill_horizon,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const now = () => sql<Date>`now()`;

/** Feeds (global catalog) and who follows them (subscriptions, tenant-scoped); for the workers and the api. */
@Injectable()
export class FeedRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async get(id: string): Promise<Feed | null> {
    const row = await this.db.selectFrom('feeds').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toFeed(row) : null;
  }

  async exists(feedId: string): Promise<boolean> {
    return (await this.db.selectFrom('feeds').select('id').where('id', '=', feedId).executeTakeFirst()) !== undefined;
  }

  /**
   * Inserts the catalog row (or finds it) for a canonical feed URL. Due at once: the scheduler
   * polls it on its next tick even if the api's own poll job could not be enqueued. Returns
   * whether it was new.
   */
  async ensureFeed(p: { id: string; url: string; title: string | null; link: string | null; image: string | null; pollIntervalS: number; policy?: FeedPolicy }): Promise<boolean> {
    const row = await this.db
      .insertInto('feeds')
      .values({ id: p.id, url: p.url, title: p.title, link: p.link, image: p.image, poll_interval_s: p.pollIntervalS, next_poll_at: now(), ...(p.policy ? { policy: JSON.stringify(p.policy) } : {}) })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          title: eb.fn.coalesce('excluded.title', 'feeds.title'),
          link: eb.fn.coalesce('excluded.link', 'feeds.link'),
          image: eb.fn.coalesce('excluded.image', 'feeds.image'),
          updated_at: now(),
        })),
      )
      .returning(sql<boolean>`(xmax = 0)`.as('inserted'))
      .executeTakeFirst();
    return Boolean(row?.inserted);
  }

  // ------------------------------------------------------------------ subscriptions (tenant-scoped)

  /** Subscribes the tenant; false when it already was. */
  async subscribe(tenantId: string, feedId: string): Promise<boolean> {
    const rows = await this.db
      .insertInto('subscriptions')
      .values({ tenant_id: tenantId, feed_id: feedId })
      .onConflict((oc) => oc.doNothing())
      .returning('feed_id')
      .execute();
    return rows.length > 0;
  }

  async isSubscribed(tenantId: string, feedId: string): Promise<boolean> {
    const row = await this.db.selectFrom('subscriptions').select('feed_id').where('tenant_id', '=', tenantId).where('feed_id', '=', feedId).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Ends the tenant's subscription. A feed nobody follows any more leaves the catalog with its
   * episodes (rows cascade); artifacts on disk stay for reuse if someone subscribes again.
   */
  async unsubscribe(tenantId: string, feedId: string): Promise<{ removed: boolean; feedDeleted: boolean }> {
    const removed = await this.db.deleteFrom('subscriptions').where('tenant_id', '=', tenantId).where('feed_id', '=', feedId).returning('feed_id').execute();
    if (!removed.length) return { removed: false, feedDeleted: false };
    const deleted = await this.db
      .deleteFrom('feeds')
      .where('id', '=', feedId)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('subscriptions').select('feed_id').where('feed_id', '=', feedId))))
      .returning('id')
      .execute();
    return { removed: true, feedDeleted: deleted.length > 0 };
  }

  /** The feeds the tenant subscribes to, by title (else URL). `defaults`: the appliance's audio settings (the feed view shows what is in effect). */
  async listSubscribed(tenantId: string, defaults: AudioDefaults): Promise<FeedView[]> {
    const rows = await this.subscribedViews(tenantId)
      .orderBy((eb) => eb.fn('lower', [eb.fn.coalesce('f.title', 'f.url')]))
      .orderBy('f.id')
      .execute();
    return rows.map((r) => toView(r, defaults));
  }

  async getSubscribed(tenantId: string, feedId: string, defaults: AudioDefaults): Promise<FeedView | null> {
    const row = await this.subscribedViews(tenantId).where('f.id', '=', feedId).executeTakeFirst();
    return row ? toView(row, defaults) : null;
  }

  private subscribedViews(tenantId: string) {
    return this.db
      .selectFrom('feeds as f')
      .innerJoin('subscriptions as s', (join) => join.onRef('s.feed_id', '=', 'f.id').on('s.tenant_id', '=', tenantId))
      .select((eb) => [
        'f.id',
        'f.url',
        'f.title',
        'f.image',
        'f.link',
        'f.description',
        'f.last_polled_at',
        'f.last_error',
        'f.error_count',
        'f.paused',
        'f.policy',
        eb.selectFrom('episodes as e').select((eb) => eb.fn.countAll<string>().as('n')).whereRef('e.feed_id', '=', 'f.id').as('episode_count'),
        eb.selectFrom('episodes as e').select((eb) => eb.fn.countAll<string>().as('n')).whereRef('e.feed_id', '=', 'f.id').where('e.state', '=', 'skipped').as('skipped_count'),
      ]);
  }

  // ------------------------------------------------------------------ polling (scheduler, worker-io)

  /**
   * Claims the feeds whose poll is due (paused ones never are): pushes their next_poll_at a full
   * interval ahead in the same statement (the poll job sets the real next time), so a tick never
   * claims twice. `intervalS`: the runtime poll interval (feeds.poll_interval_s), stored on the
   * feed so its poll job schedules the next poll with it; without it the feed keeps its own.
   */
  async claimDue(limit: number, intervalS?: number): Promise<string[]> {
    const interval = intervalS ?? sql<number>`poll_interval_s`;
    const rows = await this.db
      .updateTable('feeds')
      .set({ poll_interval_s: interval, next_poll_at: sql<Date>`now() + make_interval(secs => ${interval})`, updated_at: now() })
      .where('id', 'in', (eb) => eb.selectFrom('feeds').select('id').where('next_poll_at', '<=', now()).where('paused', '=', false).orderBy('next_poll_at').limit(limit).forUpdate().skipLocked())
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * A new poll interval for every feed, now: a feed without errors is next polled one interval
   * after its last poll (sooner than planned when the interval shrank; a feed in error backoff
   * keeps its backoff). Returns how many feeds changed.
   */
  async applyPollInterval(intervalS: number): Promise<number> {
    const rows = await this.db
      .updateTable('feeds')
      .set({
        poll_interval_s: intervalS,
        next_poll_at: sql<Date>`CASE WHEN error_count = 0 AND last_polled_at IS NOT NULL THEN last_polled_at + make_interval(secs => ${intervalS}) ELSE next_poll_at END`,
        updated_at: now(),
      })
      .returning('id')
      .execute();
    return rows.length;
  }

  /** Pauses or resumes polling; false when there is no such feed. */
  async setPaused(id: string, paused: boolean): Promise<boolean> {
    const rows = await this.db.updateTable('feeds').set({ paused, updated_at: now() }).where('id', '=', id).returning('id').execute();
    return rows.length > 0;
  }

  /** Replaces the feed's policy; false when there is no such feed. */
  async setPolicy(id: string, policy: FeedPolicy): Promise<boolean> {
    const rows = await this.db.updateTable('feeds').set({ policy: JSON.stringify(policy), updated_at: now() }).where('id', '=', id).returning('id').execute();
    return rows.length > 0;
  }

  /** Set once, by the first poll that stores episodes (a later call leaves it). */
  async setBackfillHorizon(id: string, horizon: Date): Promise<void> {
    await this.db.updateTable('feeds').set({ backfill_horizon: horizon }).where('id', '=', id).where('backfill_horizon', 'is', null).execute();
  }

  async isPaused(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('feeds').select('paused').where('id', '=', id).executeTakeFirst();
    return Boolean(row?.paused);
  }

  async markPolled(id: string, p: { validators: FeedCacheValidators; feed: Omit<ParsedFeed, 'episodes'> | null; nextPollAt: Date }): Promise<void> {
    await this.db
      .updateTable('feeds')
      .set((eb) => ({
        etag: p.validators.etag ?? null,
        last_modified: p.validators.lastModified ?? null,
        last_polled_at: now(),
        next_poll_at: p.nextPollAt,
        error_count: 0,
        last_error: null,
        title: eb.fn.coalesce(eb.val(p.feed?.title ?? null), 'title'),
        link: eb.fn.coalesce(eb.val(p.feed?.link ?? null), 'link'),
        image: eb.fn.coalesce(eb.val(p.feed?.image ?? null), 'image'),
        description: eb.fn.coalesce(eb.val(plainText(p.feed?.description)), 'description'),
        updated_at: now(),
      }))
      .where('id', '=', id)
      .execute();
  }

  async markPollFailed(id: string, error: string, nextPollAt: Date): Promise<number> {
    const row = await this.db
      .updateTable('feeds')
      .set((eb) => ({ error_count: eb('error_count', '+', 1), last_error: error, last_polled_at: now(), next_poll_at: nextPollAt, updated_at: now() }))
      .where('id', '=', id)
      .returning('error_count')
      .executeTakeFirst();
    return row?.error_count ?? 0;
  }
}

function toView(r: {
  id: string;
  url: string;
  title: string | null;
  image: string | null;
  link: string | null;
  description: string | null;
  last_polled_at: Date | null;
  last_error: string | null;
  error_count: number;
  paused: boolean;
  policy: unknown;
  episode_count: string | null;
  skipped_count: string | null;
}, defaults: AudioDefaults): FeedView {
  const policy = readStoredPolicy(r.policy);
  return {
    id: r.id,
    url: r.url,
    title: r.title,
    image: r.image,
    link: r.link,
    description: r.description,
    last_polled_at: r.last_polled_at ? new Date(r.last_polled_at).toISOString() : null,
    last_error: r.last_error,
    error_count: Number(r.error_count),
    paused: r.paused,
    policy: {
      backfill: policy.backfill,
      include: policy.include,
      exclude: policy.exclude,
      min_duration_s: policy.minDurationS,
      max_duration_s: policy.maxDurationS,
      audio_retention: policy.audioRetention,
      audio_download: policy.audioDownload,
    },
    audio: {
      retention: formatAudioRetention(effectiveAudioRetention(defaults.retention, policy.audioRetention)),
      retention_overridden: policy.audioRetention !== null,
      download: effectiveAudioDownload(defaults.download, policy.audioDownload),
      download_overridden: policy.audioDownload !== null,
    },
    episode_count: Number(r.episode_count),
    skipped_count: Number(r.skipped_count),
  };
}
