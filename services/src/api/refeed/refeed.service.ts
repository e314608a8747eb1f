import fs from 'node:fs/promises';
import { Injectable } from '@nestjs/common';
import { momentUrl } from '../../export/markdown';
import { toPodcastChaptersJson, type PodcastChaptersJson } from '../../chapters/podcast-json';
import { renderRss, showNotes, TRANSCRIPT_TYPES, type RefeedItem } from '../../refeed/rss';
import { toSrt, toTranscriptJson, toWebVtt } from '../../refeed/transcript-formats';
import { ChapterRepository } from '../../repositories/chapters.repository';
import { ContentRepository } from '../../repositories/content.repository';
import { FeedRepository } from '../../repositories/feeds.repository';
import { REFEED_TOKEN, RefeedRepository, type RefeedEpisodeRow, type RefeedScope } from '../../repositories/refeed.repository';
import { ApiContext } from '../context';
import type { RefeedLinkView } from '../contract';
import { EpisodeMediaService, playableEnclosureUrl, type AudioFile } from '../episodes/episode-media.service';
import { EpisodesService } from '../episodes/episodes.service';
import { ApiError, notFound } from '../errors';

/** Most items one re-feed lists (newest first): apps read the whole document on every refresh. */
export const REFEED_MAX_ITEMS = 500;

export type TranscriptFormat = keyof typeof TRANSCRIPT_TYPES;

/** The same answer for a token that never existed, one revoked, and one whose feed is no longer followed. */
const unknownToken = () => new ApiError(404, 'not_found', 'not found');

/**
 * The private re-feed (issue 17): podbrain's work in any podcast app through an RSS feed at a
 * secret-token URL. The management side (tenant-scoped: read the URL, rotate, revoke) and the
 * public side (the token is the credential: the feed and each episode's transcripts, chapters
 * and audio, only for episodes of the token's feed(s) that its tenant still follows).
 */
@Injectable()
export class RefeedService {
  constructor(
    private readonly repo: RefeedRepository,
    private readonly feeds: FeedRepository,
    private readonly content: ContentRepository,
    private readonly chapters: ChapterRepository,
    private readonly episodes: EpisodesService,
    private readonly media: EpisodeMediaService,
    private readonly ctx: ApiContext,
  ) {}

  /** Where links point: PUBLIC_URL when set, else the request's own origin. */
  base(origin: string): string {
    return (this.ctx.config.notify.publicUrl || origin).replace(/\/+$/, '');
  }

  /** The combined feed's token also opens the digests as RSS (a single feed's does not: digests span every followed feed). */
  private linkView(feedId: string | null, token: string | null, origin: string): RefeedLinkView {
    return { feed_id: feedId, url: token ? this.tokenUrl(origin, token) : null, digests_url: token && feedId === null ? this.tokenUrl(origin, token, 'digests.xml') : null };
  }

  private tokenUrl(origin: string, token: string, rest = 'feed.xml'): string {
    return `${this.base(origin)}/api/refeed/${token}/${rest}`;
  }

  private async requireFollowed(tenantId: string, feedId: string | null): Promise<void> {
    if (feedId !== null && !(await this.feeds.isSubscribed(tenantId, feedId))) throw notFound(`feed ${feedId}`);
  }

  // ------------------------------------------------------------------ management (tenant-scoped)

  /** The re-feed's URL, its token made on first need; null once revoked (until rotated). */
  async link(tenantId: string, feedId: string | null, origin: string): Promise<RefeedLinkView> {
    await this.requireFollowed(tenantId, feedId);
    const token = await this.repo.ensure({ tenantId, feedId });
    return this.linkView(feedId, token, origin);
  }

  /** A new URL; the old one answers 404 from now on. */
  async rotate(tenantId: string, feedId: string | null, origin: string): Promise<RefeedLinkView> {
    await this.requireFollowed(tenantId, feedId);
    const token = await this.repo.rotate({ tenantId, feedId });
    this.ctx.log.info({ tenant_id: tenantId, feed_id: feedId }, 're-feed URL rotated');
    return this.linkView(feedId, token, origin);
  }

  /** The URL stops working; none is made again until a rotation. */
  async revoke(tenantId: string, feedId: string | null): Promise<void> {
    await this.requireFollowed(tenantId, feedId);
    await this.repo.revoke({ tenantId, feedId });
    this.ctx.log.info({ tenant_id: tenantId, feed_id: feedId }, 're-feed URL revoked');
  }

  // ------------------------------------------------------------------ public (the token is the credential)

  private async scopeOf(token: string): Promise<RefeedScope> {
    // Compared by Postgres through the unique index; malformed ones are not even looked up.
    const scope = REFEED_TOKEN.test(token) ? await this.repo.resolve(token) : null;
    if (!scope) throw unknownToken();
    return scope;
  }

  /**
   * The tenant of a combined re-feed token (its digests feed). A single feed's token opens only that
   * feed: the digests, which span every followed feed, are the combined token's.
   */
  async combinedTenantOf(token: string): Promise<string> {
    const scope = await this.scopeOf(token);
    if (scope.feedId !== null) throw unknownToken();
    return scope.tenantId;
  }

  private async episodeScope(token: string, key: string): Promise<RefeedScope> {
    const scope = await this.scopeOf(token);
    if (!(await this.repo.episodeInScope(scope, key))) throw notFound(`episode ${key}`);
    return scope;
  }

  /** The RSS document of the token's re-feed. */
  async feedXml(token: string, origin: string): Promise<string> {
    const scope = await this.scopeOf(token);
    const base = this.base(origin);
    const feed = await this.repo.feed(scope);
    const rows = await this.repo.episodes(scope, REFEED_MAX_ITEMS);
    const extras = await this.repo.extras(rows.map((r) => r.episode_key));
    const items: RefeedItem[] = [];
    for (const r of rows) items.push(await this.item(r, token, origin, base, extras.get(r.episode_key), scope.feedId === null));
    const title = feed ? `${feed.title || feed.url} (podbrain)` : 'All my shows (podbrain)';
    return renderRss(
      {
        title,
        link: base,
        selfUrl: this.tokenUrl(origin, token),
        description: feed
          ? `${feed.title || feed.url} with podbrain's transcripts, chapters, summaries and key insights. A private feed: do not share its address.`
          : "Every show followed in podbrain, with podbrain's transcripts, chapters, summaries and key insights. A private feed: do not share its address.",
        image: feed?.image ?? null,
        language: null,
      },
      items,
    );
  }

  private async item(r: RefeedEpisodeRow, token: string, origin: string, base: string, extra: { summary: string[]; insights: { text: string; start_ms: number | null }[] } | undefined, combined: boolean): Promise<RefeedItem> {
    const ep = (rest: string) => this.tokenUrl(origin, token, `episodes/${encodeURIComponent(r.episode_key)}/${rest}`);
    const viewerUrl = momentUrl(base, r.episode_key);
    return {
      title: combined && r.feed_title ? `${r.feed_title}: ${r.title}` : r.title,
      // The publisher's guid, so an app that also has the original feed sees the same episode.
      guid: r.guid?.trim() || r.episode_key,
      link: viewerUrl,
      published: r.published_at,
      durationS: r.duration_s,
      enclosure: await this.enclosure(r, ep('audio')),
      showNotes: showNotes(r.content_html || r.description, {
        summary: extra?.summary ?? [],
        insights: (extra?.insights ?? []).map((i) => ({ ...i, url: i.start_ms != null ? momentUrl(base, r.episode_key, i.start_ms) : null })),
        viewerUrl,
      }),
      transcripts: r.has_transcript ? (Object.keys(TRANSCRIPT_TYPES) as TranscriptFormat[]).map((f) => ({ url: ep(`transcript.${f}`), type: TRANSCRIPT_TYPES[f], language: null })) : [],
      chaptersUrl: r.has_chapters ? ep('chapters.json') : null,
      image: r.image && playableEnclosureUrl(r.image) ? r.image : null,
    };
  }

  /** The publisher's enclosure when it is http(s); else podbrain's own copy through the token's audio URL; else none. */
  private async enclosure(r: RefeedEpisodeRow, audioUrl: string): Promise<RefeedItem['enclosure']> {
    const original = r.enclosure;
    const url = playableEnclosureUrl(original?.url);
    if (url) return { url, type: original?.type || 'audio/mpeg', length: original?.length ?? 0 };
    const file = await this.media.audioFile(r.episode_key);
    if (!file) return null;
    const size = await fs.stat(file.path).then(
      (s) => s.size,
      () => 0,
    );
    return { url: audioUrl, type: file.contentType, length: size };
  }

  async transcript(token: string, key: string, format: TranscriptFormat): Promise<{ body: string; type: string }> {
    await this.episodeScope(token, key);
    const t = await this.content.transcript(key, null);
    if (!t) throw new ApiError(404, 'not_found', `episode ${key} has no transcript yet`);
    const body = format === 'vtt' ? toWebVtt(t.segments) : format === 'srt' ? toSrt(t.segments) : JSON.stringify(toTranscriptJson(t.segments));
    return { body, type: TRANSCRIPT_TYPES[format] };
  }

  async chaptersOf(token: string, key: string): Promise<PodcastChaptersJson> {
    await this.episodeScope(token, key);
    const chapters = await this.chapters.forEpisode(key);
    if (!chapters.length) throw new ApiError(404, 'not_found', `episode ${key} has no chapters`);
    return toPodcastChaptersJson(chapters);
  }

  /** What the episodes' own audio route serves (podbrain's copy with ranges, else a redirect to the enclosure). */
  async audio(token: string, key: string): Promise<AudioFile | { redirect: string }> {
    const scope = await this.episodeScope(token, key);
    return this.episodes.audio(scope.tenantId, key);
  }
}
