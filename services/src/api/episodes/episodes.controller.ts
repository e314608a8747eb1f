import fs from 'node:fs/promises';
import path from 'node:path';
import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Reads } from '../access';
import { ApiContext } from '../context';
import { ApiError, notFound } from '../errors';
import { ApiQueryOf, openApiSchema, responses, schemas } from '../contract';
import { parseInput } from '../validation';
import { ApiContentRepository } from './content.repository';
import { ApiEpisodesRepository } from './episodes.repository';

const notYet = (what: string, key: string) => new ApiError(404, 'not_found', `episode ${key} has no ${what} yet`);

@ApiTags('episodes')
@Reads()
@ApiServiceUnavailableResponse({ description: 'Postgres unreachable', schema: openApiSchema(responses.apiError) })
@Controller()
export class EpisodesController {
  private readonly episodes: ApiEpisodesRepository;
  private readonly content: ApiContentRepository;

  constructor(private readonly ctx: ApiContext) {
    this.episodes = new ApiEpisodesRepository(ctx.db);
    this.content = new ApiContentRepository(ctx.db);
  }

  @Get('episodes')
  @ApiOperation({ summary: 'Episodes of the subscribed feeds, newest first; cursor pagination (Page{items,next_cursor})' })
  @ApiQueryOf(schemas.episodeList)
  @ApiOkResponse({ schema: openApiSchema(responses.episodePage) })
  @ApiBadRequestResponse({ schema: openApiSchema(responses.apiError) })
  list(@Req() req: Request, @Query() query: unknown) {
    const q = parseInput(schemas.episodeList, query, 'query');
    return this.episodes.list(this.ctx.tenantOf(req), { limit: q.limit, cursor: q.cursor, feedId: q.feed_id, state: q.state });
  }

  @Get('episodes/:key')
  @ApiOkResponse({ schema: openApiSchema(responses.episodeDetail) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  async detail(@Req() req: Request, @Param('key') key: string) {
    const d = await this.episodes.detail(this.ctx.tenantOf(req), parseInput(schemas.key, key, 'path'));
    if (!d) throw notFound(`episode ${key}`);
    // The player streams our copy once the ingest stage has it (no third-party request, seekable).
    if (await this.audioFile(key)) d.audio_url = `/api/episodes/${encodeURIComponent(key)}/audio`;
    return d;
  }

  @Get('episodes/:key/audio')
  @ApiOperation({ summary: 'The downloaded audio (HTTP ranges supported); 404 until the ingest stage ran' })
  async audio(@Req() req: Request, @Param('key') key: string, @Res() res: Response): Promise<void> {
    await this.visible(req, key);
    const file = await this.audioFile(key);
    if (!file) throw notYet('downloaded audio', key);
    await new Promise<void>((resolve, reject) => {
      res.sendFile(file.path, { headers: { 'content-type': file.contentType }, acceptRanges: true, cacheControl: false }, (err) => (err && !res.headersSent ? reject(err) : resolve()));
    });
  }

  @Get('episodes/:key/transcript')
  @ApiOperation({ summary: 'Transcript segments (404 until transcribed and projected)' })
  @ApiOkResponse({ schema: openApiSchema(responses.transcript) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  async transcript(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const t = await this.content.transcript(key, await this.episodes.artifactDir(key, 'transcribe'));
    if (!t) throw notYet('transcript', key);
    return t;
  }

  @Get('episodes/:key/summary')
  @ApiOkResponse({ schema: openApiSchema(responses.summary) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  async summary(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const s = await this.content.summary(key, await this.episodes.artifactDir(key, 'enrich'));
    if (!s) throw notYet('summary', key);
    return s;
  }

  @Get('episodes/:key/insights')
  @ApiOkResponse({ schema: openApiSchema(responses.insightList) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  async insights(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const i = await this.content.insights(key);
    if (!i) throw notYet('insights', key);
    return { insights: i };
  }

  @Get('episodes/:key/graph')
  @ApiOkResponse({ schema: openApiSchema(responses.graph) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  async graph(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const g = await this.content.episodeGraph(key);
    if (!g) throw notYet('graph', key);
    return g;
  }

  @Get('graph')
  @ApiOperation({ summary: 'Knowledge graph across the subscribed episodes' })
  @ApiOkResponse({ schema: openApiSchema(responses.graph) })
  corpusGraph(@Req() req: Request) {
    return this.content.corpusGraph(this.ctx.tenantOf(req));
  }

  /** The ingest artifact's audio file, if downloaded (its name is checked to stay inside the artifact). */
  private async audioFile(key: string): Promise<{ path: string; contentType: string } | null> {
    const dir = await this.episodes.artifactDir(key, 'ingest');
    if (!dir) return null;
    try {
      const meta = JSON.parse(await fs.readFile(path.join(dir, 'ingest.json'), 'utf8')) as { audio_file?: unknown; content_type?: unknown };
      if (typeof meta.audio_file !== 'string' || path.basename(meta.audio_file) !== meta.audio_file) return null;
      const file = path.join(dir, meta.audio_file);
      await fs.access(file);
      return { path: file, contentType: typeof meta.content_type === 'string' && meta.content_type.startsWith('audio/') ? meta.content_type : 'application/octet-stream' };
    } catch {
      return null;
    }
  }

  private async visible(req: Request, key: string): Promise<void> {
    if (!(await this.episodes.visible(this.ctx.tenantOf(req), parseInput(schemas.key, key, 'path')))) throw notFound(`episode ${key}`);
  }
}
