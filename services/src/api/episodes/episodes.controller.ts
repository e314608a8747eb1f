import { Controller, Get, Param, Query, Req } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ApiContext } from '../context';
import { ApiError, notFound } from '../errors';
import { parseInput, schemas } from '../validation';
import { ApiContentRepository } from './content.repository';
import { ApiEpisodesRepository } from './episodes.repository';

const notYet = (what: string, key: string) => new ApiError(404, 'not_found', `episode ${key} has no ${what} yet`);

@ApiTags('episodes')
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
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({ name: 'feed_id', required: false })
  @ApiQuery({ name: 'state', required: false })
  list(@Req() req: Request, @Query() query: unknown) {
    const q = parseInput(schemas.episodeList, query, 'query');
    return this.episodes.list(this.ctx.tenantOf(req), { limit: q.limit, cursor: q.cursor, feedId: q.feed_id, state: q.state });
  }

  @Get('episodes/:key')
  async detail(@Req() req: Request, @Param('key') key: string) {
    const d = await this.episodes.detail(this.ctx.tenantOf(req), parseInput(schemas.key, key, 'path'));
    if (!d) throw notFound(`episode ${key}`);
    return d;
  }

  @Get('episodes/:key/transcript')
  @ApiOperation({ summary: 'Transcript segments (404 until transcribed and projected)' })
  async transcript(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const t = await this.content.transcript(key, await this.episodes.artifactDir(key, 'transcribe'));
    if (!t) throw notYet('transcript', key);
    return t;
  }

  @Get('episodes/:key/summary')
  async summary(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const s = await this.content.summary(key, await this.episodes.artifactDir(key, 'enrich'));
    if (!s) throw notYet('summary', key);
    return s;
  }

  @Get('episodes/:key/insights')
  async insights(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const i = await this.content.insights(key);
    if (!i) throw notYet('insights', key);
    return { insights: i };
  }

  @Get('episodes/:key/graph')
  async graph(@Req() req: Request, @Param('key') key: string) {
    await this.visible(req, key);
    const g = await this.content.episodeGraph(key);
    if (!g) throw notYet('graph', key);
    return g;
  }

  @Get('graph')
  @ApiOperation({ summary: 'Knowledge graph across the subscribed episodes' })
  corpusGraph(@Req() req: Request) {
    return this.content.corpusGraph(this.ctx.tenantOf(req));
  }

  private async visible(req: Request, key: string): Promise<void> {
    if (!(await this.episodes.visible(this.ctx.tenantOf(req), parseInput(schemas.key, key, 'path')))) throw notFound(`episode ${key}`);
  }
}
