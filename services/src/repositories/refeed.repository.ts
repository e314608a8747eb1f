import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { sql, type ExpressionBuilder } from 'kysely';
import { Database } from '../db/database';
import type { DB } from '../db/schema';
import type { Enclosure } from '../feeds/types';

/** Whose re-feed a token opens: a followed feed, or (feedId null) the combined feed of all of them. */
export interface RefeedScope {
  tenantId: string;
  feedId: string | null;
}

/** An episode as the re-feed lists it (the publisher's item, with what podbrain has of it). */
export interface RefeedEpisodeRow {
  episode_key: string;
  feed_id: string;
  feed_title: string | null;
  guid: string | null;
  title: string;
  published_at: Date | null;
  duration_s: number | null;
  enclosure: Enclosure | null;
  description: string | null;
  content_html: string | null;
  image: string | null;
  has_transcript: boolean;
  has_chapters: boolean;
}

export interface EpisodeNoteMeta {
  episode_key: string;
  title: string;
  show: string | null;
  published_at: Date | null;
  duration_s: number | null;
  url: string | null;
}

export interface RefeedExtras {
  summary: string[];
  insights: { text: string; start_ms: number | null }[];
}

/** A new token: 32 random bytes, base64url (43 characters). */
export const newRefeedToken = () => randomBytes(32).toString('base64url');

/** What a token can look like; anything else is not looked up. */
export const REFEED_TOKEN = /^[A-Za-z0-9_-]{43}$/;

const textOf = (v: unknown): string => (typeof v === 'string' ? v : v && typeof v === 'object' && 'text' in v && typeof v.text === 'string' ? v.text : '');

/**
 * refeed_tokens: the secret-token URLs of the private re-feeds (refeed/), and the reads the
 * re-feed and the Markdown export make (the scope's episodes with their summaries and insights). A token is found by the
 * unique index on `token` (no string comparison in JS); one live token per (tenant, feed).
 */
@Injectable()
export class RefeedRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  private static ofScope(s: RefeedScope) {
    return (eb: ExpressionBuilder<DB, 'refeed_tokens'>) => eb.and([eb('tenant_id', '=', s.tenantId), s.feedId === null ? eb('feed_id', 'is', null) : eb('feed_id', '=', s.feedId)]);
  }

  /** The live token, made on first need: only when the scope never had one (a revoked re-feed stays off until rotated). */
  async ensure(scope: RefeedScope): Promise<string | null> {
    await sql`INSERT INTO refeed_tokens (tenant_id, feed_id, token)
      SELECT ${scope.tenantId}, ${scope.feedId}, ${newRefeedToken()}
      WHERE NOT EXISTS (SELECT 1 FROM refeed_tokens WHERE tenant_id = ${scope.tenantId} AND feed_id IS NOT DISTINCT FROM ${scope.feedId})
      ON CONFLICT DO NOTHING`.execute(this.db);
    return this.live(scope);
  }

  async live(scope: RefeedScope): Promise<string | null> {
    const r = await this.db.selectFrom('refeed_tokens').select('token').where(RefeedRepository.ofScope(scope)).where('revoked_at', 'is', null).executeTakeFirst();
    return r?.token ?? null;
  }

  /** A new live token; the old one is dead when this returns. */
  async rotate(scope: RefeedScope): Promise<string> {
    return this.db.transaction().execute(async (trx) => {
      // Two rotations at once would both insert a live token: one waits for the other.
      await sql`SELECT pg_advisory_xact_lock(hashtext('refeed'), hashtext(${`${scope.tenantId}/${scope.feedId ?? ''}`}))`.execute(trx);
      await trx.updateTable('refeed_tokens').set({ revoked_at: new Date() }).where(RefeedRepository.ofScope(scope)).where('revoked_at', 'is', null).execute();
      const token = newRefeedToken();
      await trx.insertInto('refeed_tokens').values({ tenant_id: scope.tenantId, feed_id: scope.feedId, token }).execute();
      return token;
    });
  }

  /** Kills the live token; false when there was none. */
  async revoke(scope: RefeedScope): Promise<boolean> {
    const r = await this.db.updateTable('refeed_tokens').set({ revoked_at: new Date() }).where(RefeedRepository.ofScope(scope)).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** The scope of a live token whose feed the tenant still follows; null for anything else. */
  async resolve(token: string): Promise<RefeedScope | null> {
    const r = await this.db
      .selectFrom('refeed_tokens as t')
      .select(['t.tenant_id', 't.feed_id'])
      .where('t.token', '=', token)
      .where('t.revoked_at', 'is', null)
      .where((eb) => eb.or([eb('t.feed_id', 'is', null), eb.exists(eb.selectFrom('subscriptions as s').select('s.feed_id').whereRef('s.tenant_id', '=', 't.tenant_id').whereRef('s.feed_id', '=', 't.feed_id'))]))
      .executeTakeFirst();
    return r ? { tenantId: r.tenant_id, feedId: r.feed_id } : null;
  }

  private feedsOf(scope: RefeedScope) {
    let q = this.db.selectFrom('subscriptions').select('feed_id').where('tenant_id', '=', scope.tenantId);
    if (scope.feedId !== null) q = q.where('feed_id', '=', scope.feedId);
    return q;
  }

  /** The feed of a per-feed scope (null for the combined one or one not followed). */
  async feed(scope: RefeedScope): Promise<{ id: string; title: string | null; link: string | null; image: string | null; url: string } | null> {
    if (scope.feedId === null) return null;
    const r = await this.db.selectFrom('feeds').select(['id', 'title', 'link', 'image', 'url']).where('id', 'in', this.feedsOf(scope)).executeTakeFirst();
    return r ?? null;
  }

  /** The scope's episodes, newest first (undated last), at most `limit`. */
  async episodes(scope: RefeedScope, limit: number): Promise<RefeedEpisodeRow[]> {
    const rows = await this.db
      .selectFrom('episodes as e')
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .select((eb) => [
        'e.episode_key',
        'e.feed_id',
        'f.title as feed_title',
        'e.guid',
        'e.title',
        'e.published_at',
        'e.duration_s',
        'e.enclosure',
        sql<string | null>`e.source->>'description'`.as('description'),
        sql<string | null>`e.source->>'contentHtml'`.as('content_html'),
        sql<string | null>`e.source->>'image'`.as('image'),
        eb.exists(eb.selectFrom('transcript_segments as t').select('t.episode_key').whereRef('t.episode_key', '=', 'e.episode_key')).as('has_transcript'),
        eb.exists(eb.selectFrom('chapters as c').select('c.episode_key').whereRef('c.episode_key', '=', 'e.episode_key')).as('has_chapters'),
      ])
      .where('e.feed_id', 'in', this.feedsOf(scope))
      .orderBy(sql`e.published_at DESC NULLS LAST`)
      .orderBy('e.episode_key', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, has_transcript: Boolean(r.has_transcript), has_chapters: Boolean(r.has_chapters) }));
  }

  /** Summary bullets and the best `maxInsights` insights (with their first quote's time) of each episode. */
  async extras(keys: readonly string[], maxInsights = 5): Promise<Map<string, RefeedExtras>> {
    const out = new Map<string, RefeedExtras>();
    if (!keys.length) return out;
    const get = (k: string) => out.get(k) ?? (out.set(k, { summary: [], insights: [] }).get(k) as RefeedExtras);
    const summaries = await this.db.selectFrom('summaries').select(['episode_key', 'bullets']).where('episode_key', 'in', keys).execute();
    for (const s of summaries) get(s.episode_key).summary = (Array.isArray(s.bullets) ? s.bullets : []).map(textOf).filter(Boolean);
    const insights = await this.db
      .selectFrom('insights as i')
      .select((eb) => [
        'i.episode_key',
        'i.text',
        eb
          .selectFrom('insight_support as s')
          .innerJoin('quotes as q', (j) => j.onRef('q.episode_key', '=', 's.episode_key').onRef('q.id', '=', 's.quote_id'))
          .select((e) => e.fn.min('q.start_ms').as('m'))
          .whereRef('s.episode_key', '=', 'i.episode_key')
          .whereRef('s.insight_id', '=', 'i.id')
          .as('start_ms'),
      ])
      .where('i.episode_key', 'in', keys)
      .orderBy('i.episode_key')
      .orderBy('i.confidence', (o) => o.desc().nullsLast())
      .orderBy('i.id')
      .execute();
    for (const i of insights) {
      const e = get(i.episode_key);
      if (e.insights.length < maxInsights) e.insights.push({ text: i.text, start_ms: i.start_ms ?? null });
    }
    return out;
  }

  /** What an exported note says of an episode (null when the scope does not hold it). */
  async noteMeta(scope: RefeedScope, key: string): Promise<EpisodeNoteMeta | null> {
    const r = await this.db
      .selectFrom('episodes as e')
      .innerJoin('feeds as f', 'f.id', 'e.feed_id')
      .select(['e.episode_key', 'e.title', 'f.title as show', 'e.published_at', 'e.duration_s', sql<string | null>`COALESCE(e.source->>'link', e.enclosure->>'url')`.as('url')])
      .where('e.episode_key', '=', key)
      .where('e.feed_id', 'in', this.feedsOf(scope))
      .executeTakeFirst();
    return r ?? null;
  }

  /** The scope's episode keys, newest first (undated last), at most `limit`: what a bulk export walks. */
  async episodeKeys(scope: RefeedScope, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('episodes as e')
      .select('e.episode_key')
      .where('e.feed_id', 'in', this.feedsOf(scope))
      .orderBy(sql`e.published_at DESC NULLS LAST`)
      .orderBy('e.episode_key', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => r.episode_key);
  }

  /** The episode when the scope holds it (its feed is the token's, or any followed feed for the combined one). */
  async episodeInScope(scope: RefeedScope, key: string): Promise<boolean> {
    const r = await this.db.selectFrom('episodes').select('episode_key').where('episode_key', '=', key).where('feed_id', 'in', this.feedsOf(scope)).executeTakeFirst();
    return r !== undefined;
  }
}
