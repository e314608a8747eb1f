import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiNotFoundResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Authenticated, Reads } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas } from '../contract';
import { parseInput } from '../validation';
import { Tenant } from '../tenant.decorator';
import { EpisodesService } from './episodes.service';

@ApiTags('episodes')
@Reads()
@ApiServiceUnavailableResponse({ description: 'Postgres unreachable', schema: openApiSchema(responses.apiError) })
@Controller()
export class EpisodesController {
  constructor(
    private readonly episodes: EpisodesService,
    private readonly ctx: ApiContext,
  ) {}

  @Get('episodes')
  @ApiOperation({ summary: 'Episodes of the subscribed feeds, newest first; cursor pagination (Page{items,next_cursor})' })
  @ApiQueryOf(schemas.episodeList)
  @ApiAnswer(responses.episodePage)
  @ApiBadRequestResponse({ schema: openApiSchema(responses.apiError) })
  list(@Tenant() tenant: string, @Query() query: unknown) {
    const q = parseInput(schemas.episodeList, query, 'query');
    return this.episodes.list(tenant, { limit: q.limit, cursor: q.cursor, feedId: q.feed_id, state: q.state, played: q.played });
  }

  @Get('episodes/:key')
  @ApiAnswer(responses.episodeDetail)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  detail(@Tenant() tenant: string, @Param('key') key: string) {
    return this.episodes.detail(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Post('episodes/:key/process')
  @Authenticated()
  @HttpCode(202)
  @ApiOperation({ summary: 'Process now: a skipped or failed episode is queued ahead of the backlog (interactive priority); one already queued moves up; 409 when it is done' })
  @ApiAnswer(responses.processResult, { status: 202 })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiConflictResponse({ schema: openApiSchema(responses.apiError), description: 'already processed' })
  @ApiParamOf('key', schemas.key)
  process(@Tenant() tenant: string, @Param('key') key: string, @Req() req: Request) {
    return this.episodes.process(tenant, parseInput(schemas.key, key, 'path'), this.ctx.correlationOf(req));
  }

  @Get('episodes/:key/audio')
  @ApiOperation({ summary: 'The downloaded audio (HTTP ranges supported); without a local copy (transcript first, or deleted by retention) a 302 to the http(s) enclosure URL from the feed; 404 when neither exists' })
  @ApiParamOf('key', schemas.key)
  async audio(@Tenant() tenant: string, @Param('key') key: string, @Res() res: Response) {
    const file = await this.episodes.audio(tenant, parseInput(schemas.key, key, 'path'));
    if ('redirect' in file) {
      // Not cached: the local copy may appear (AUDIO_DOWNLOAD=always) or go (retention) later; no referrer to the publisher.
      res.set({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(302, file.redirect);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      res.sendFile(file.path, { headers: { 'content-type': file.contentType }, acceptRanges: true, cacheControl: false }, (err) => (err && !res.headersSent ? reject(err) : resolve()));
    });
  }

  @Get('episodes/:key/transcript')
  @ApiOperation({ summary: 'Transcript segments (404 until transcribed and projected)' })
  @ApiAnswer(responses.transcript)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  transcript(@Tenant() tenant: string, @Param('key') key: string) {
    return this.episodes.transcript(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Get('episodes/:key/summary')
  @ApiAnswer(responses.summary)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  summary(@Tenant() tenant: string, @Param('key') key: string) {
    return this.episodes.summary(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Get('episodes/:key/insights')
  @ApiAnswer(responses.insightList)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  insights(@Tenant() tenant: string, @Param('key') key: string) {
    return this.episodes.insights(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Get('episodes/:key/chapters')
  @ApiOperation({ summary: "The episode's chapters: the publisher's podcast:chapters, else generated from topic shifts ({source, items}; items [] when none)" })
  @ApiAnswer(responses.chapterList)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  chapters(@Tenant() tenant: string, @Param('key') key: string) {
    return this.episodes.chapters(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Get('episodes/:key/graph')
  @ApiAnswer(responses.graph)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  graph(@Tenant() tenant: string, @Param('key') key: string) {
    return this.episodes.graph(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Get('graph')
  @ApiOperation({ summary: 'Knowledge graph across the subscribed episodes' })
  @ApiAnswer(responses.graph)
  corpusGraph(@Tenant() tenant: string) {
    return this.episodes.corpusGraph(tenant);
  }
}
