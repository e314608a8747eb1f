import { Injectable } from '@nestjs/common';
import type { EpisodeStateName } from '../../db/schema';
import { EpisodeRepository, type EpisodeDetailView, type EpisodePage } from '../../repositories/episodes.repository';
import { StageRunRepository } from '../../repositories/stage-runs.repository';
import { ApiError, notFound } from '../errors';
import { ContentRepository } from '../../repositories/content.repository';
import { EpisodeMediaService, playableEnclosureUrl, type AudioFile } from './episode-media.service';
import { ControlPlane } from '../../control/control-plane';
import { ApiContext } from '../context';
import { ChapterRepository } from '../../repositories/chapters.repository';
import type { ChapterListView } from '../contract/chapters';
import { audioUnplayable } from './episode-failure';

const notYet = (what: string, key: string) => new ApiError(404, 'not_found', `episode ${key} has no ${what} yet`);

/** The Library and an episode's pages, scoped to the caller's tenant (other tenants' episodes are 404). */
@Injectable()
export class EpisodesService {
  constructor(
    private readonly episodes: EpisodeRepository,
    private readonly stageRuns: StageRunRepository,
    private readonly content: ContentRepository,
    private readonly media: EpisodeMediaService,
    private readonly plane: ControlPlane,
    private readonly ctx: ApiContext,
    private readonly chapterRows: ChapterRepository,
  ) {}

  /**
   * "Process now": a skipped (left out by the feed's policy) or failed episode is queued ahead of
   * the backlog (interactive); one already on its way is moved up to interactive. Opening an
   * episode (GET) never queues anything; only this does.
   */
  async process(tenantId: string, key: string, correlationId?: string) {
    await this.requireVisible(tenantId, key);
    const r = await this.ctx.withRedis(() => this.plane.processEpisode(key, 'interactive'));
    this.ctx.log.info({ correlation_id: correlationId, episode_key: key, queued: r.queued, state: r.state }, 'episode asked for (process now)');
    return { episode_key: key, queued: r.queued, state: r.state as EpisodeStateName, priority_class: r.priorityClass, job_id: r.jobId };
  }

  list(tenantId: string, p: { limit: number; cursor?: string; feedId?: string; state?: EpisodeStateName; played?: boolean }): Promise<EpisodePage> {
    return this.episodes.list(tenantId, p);
  }

  async detail(tenantId: string, key: string): Promise<EpisodeDetailView> {
    const d = await this.episodes.detail(tenantId, key);
    if (!d) throw notFound(`episode ${key}`);
    // The player streams our copy once the ingest stage has it (no third-party request, seekable);
    // without one (transcript first, or deleted by retention) the publisher's http(s) enclosure.
    // Not when the download failed because the publisher's file is gone or unreachable: the
    // player would fetch the same URL and show a dead 0:00 (the page says why instead).
    const ours = await this.media.audioFile(key);
    d.audio_url = ours ? `/api/episodes/${encodeURIComponent(key)}/audio` : audioUnplayable(d.failure) ? null : playableEnclosureUrl(d.enclosure_url);
    return d;
  }

  /** Our copy of the audio, else where the publisher serves it (the route redirects there), else 404. */
  async audio(tenantId: string, key: string): Promise<AudioFile | { redirect: string }> {
    const d = await this.episodes.detail(tenantId, key);
    if (!d) throw notFound(`episode ${key}`);
    const file = await this.media.audioFile(key);
    if (file) return file;
    const url = playableEnclosureUrl(d.enclosure_url);
    if (url) return { redirect: url };
    throw notYet('downloaded audio', key);
  }

  async transcript(tenantId: string, key: string) {
    await this.requireVisible(tenantId, key);
    const t = await this.content.transcript(key, await this.stageRuns.artifactDir(key, 'transcribe'));
    if (!t) throw notYet('transcript', key);
    return t;
  }

  async summary(tenantId: string, key: string) {
    await this.requireVisible(tenantId, key);
    const s = await this.content.summary(key, await this.stageRuns.artifactDir(key, 'enrich'));
    if (!s) throw notYet('summary', key);
    return s;
  }

  async insights(tenantId: string, key: string) {
    await this.requireVisible(tenantId, key);
    const i = await this.content.insights(key);
    if (!i) throw notYet('insights', key);
    return { insights: i };
  }

  async graph(tenantId: string, key: string) {
    await this.requireVisible(tenantId, key);
    const g = await this.content.episodeGraph(key);
    if (!g) throw notYet('graph', key);
    return g;
  }

  /** Chapters as projected: [] (source null) when none, not 404 — the player simply shows no list. */
  async chapters(tenantId: string, key: string): Promise<ChapterListView> {
    await this.requireVisible(tenantId, key);
    const items = await this.chapterRows.forEpisode(key);
    return { source: items[0]?.source ?? null, items };
  }

  corpusGraph(tenantId: string) {
    return this.content.corpusGraph(tenantId);
  }

  private async requireVisible(tenantId: string, key: string): Promise<void> {
    if (!(await this.episodes.visible(tenantId, key))) throw notFound(`episode ${key}`);
  }
}
