import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiNotFoundResponse, ApiOperation, ApiProduces, ApiTags, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Authenticated, Reads } from '../access';
import { ApiContext } from '../context';
import { ApiError } from '../errors';
import { ApiAnswer, ApiParamOf, openApiSchema, responses, schemas } from '../contract';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { FeedsService } from './feeds.service';
import { originOf } from '../refeed/refeed.controller';
import { RefeedService } from '../refeed/refeed.service';

@ApiTags('feeds')
@Reads()
@Controller('feeds')
export class FeedsController {
  constructor(
    private readonly feeds: FeedsService,
    private readonly ctx: ApiContext,
    private readonly refeed: RefeedService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Feeds the caller subscribes to' })
  @ApiAnswer(responses.feedList)
  async list(@Tenant() tenant: string) {
    return { items: await this.feeds.list(tenant) };
  }

  @Post()
  @Authenticated()
  @ApiOperation({
    summary:
      'Add a feed by URL, with its policy (backfill: how much back catalogue to process, default newest 3; title include/exclude filters; duration bounds; episodes left out are stored as skipped): a new feed is checked (SSRF guard, status, the first 64 KiB is RSS/Atom), subscribed and its poll job queued (202; the worker reads and parses it); a feed already in the catalog is subscribed at once (201, or 200 when already subscribed); 422 with the reason when refused or unreadable',
  })
  @ApiBody({ schema: openApiSchema(schemas.addFeed, 'input') })
  @ApiAnswer(responses.feed, { status: 202, description: 'new feed: subscribed, first poll queued (title may be null until it has run)' })
  @ApiAnswer(responses.feed, { status: 201, description: 'subscribed to a feed already in the catalog (200 when already subscribed)' })
  @ApiUnprocessableEntityResponse({ schema: openApiSchema(responses.apiError), description: 'refused (SSRF guard), unreachable or not a feed; the message says why' })
  async add(@Tenant() tenant: string, @Req() req: Request, @Body() body: unknown, @Res({ passthrough: true }) res: Response) {
    const { url, ...policy } = parseInput(schemas.addFeed, body, 'body');
    const r = await this.feeds.add(tenant, url, this.ctx.correlationOf(req), policy);
    res.status(r.created ? 202 : r.subscribed ? 201 : 200);
    return r.feed;
  }

  @Get('export')
  @ApiProduces('text/x-opml')
  @ApiOperation({ summary: 'OPML export of the subscriptions' })
  async export(@Tenant() tenant: string, @Res() res: Response) {
    const xml = await this.feeds.exportOpml(tenant);
    res.status(200).type('text/x-opml; charset=utf-8').set('Content-Disposition', 'attachment; filename="podbrain.opml"').send(xml);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One subscribed feed (as in the list) with refeed_url: its private RSS feed for podcast apps (made on first need)' })
  @ApiAnswer(responses.feed.extend({ refeed_url: responses.refeedUrl }))
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not subscribed' })
  @ApiParamOf('id', schemas.key)
  async get(@Tenant() tenant: string, @Param('id') id: string, @Req() req: Request) {
    const feed = await this.feeds.get(tenant, parseInput(schemas.key, id, 'path'));
    return { ...feed, refeed_url: (await this.refeed.link(tenant, feed.id, originOf(req))).url };
  }

  @Post('import')
  @Authenticated()
  @ApiConsumes('text/xml')
  @ApiOperation({ summary: 'OPML import (text/xml body): adds every feed; per-feed failures are listed in errors' })
  @ApiBody({ schema: openApiSchema(schemas.opml, 'input') })
  @HttpCode(200)
  @ApiAnswer(responses.importResult)
  async import(@Tenant() tenant: string, @Req() req: Request, @Body() body: unknown) {
    if (typeof body !== 'string' || !body.trim()) {
      throw new ApiError(415, 'unsupported_media_type', 'send the OPML document as the request body with Content-Type: text/xml');
    }
    return this.feeds.importOpml(tenant, parseInput(schemas.opml, body, 'body'), this.ctx.correlationOf(req));
  }

  @Delete(':id')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Unsubscribe (a feed nobody follows leaves the catalog)' })
  @ApiParamOf('id', schemas.key)
  async remove(@Tenant() tenant: string, @Param('id') id: string) {
    await this.feeds.remove(tenant, parseInput(schemas.key, id, 'path'));
  }

  @Patch(':id')
  @Authenticated()
  @ApiOperation({ summary: 'Pause/resume the feed (paused: no polls, nothing new queued) and change its policy; only the fields sent change' })
  @ApiBody({ schema: openApiSchema(schemas.updateFeed, 'input') })
  @ApiAnswer(responses.feed)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not subscribed' })
  @ApiParamOf('id', schemas.key)
  async update(@Tenant() tenant: string, @Param('id') id: string, @Body() body: unknown) {
    return this.feeds.update(tenant, parseInput(schemas.key, id, 'path'), parseInput(schemas.updateFeed, body, 'body'));
  }

  @Post(':id/process-skipped')
  @Authenticated()
  @HttpCode(202)
  @ApiOperation({ summary: 'Queue every skipped episode of the feed (back catalogue priority: after new episodes)' })
  @ApiAnswer(responses.processSkippedResult, { status: 202 })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not subscribed' })
  @ApiParamOf('id', schemas.key)
  async processSkipped(@Tenant() tenant: string, @Param('id') id: string) {
    return this.feeds.processSkipped(tenant, parseInput(schemas.key, id, 'path'));
  }

  @Post(':id/refresh')
  @Authenticated()
  @HttpCode(202)
  @ApiOperation({ summary: 'Poll the feed now' })
  @ApiAnswer(responses.refreshResult, { status: 202 })
  @ApiParamOf('id', schemas.key)
  async refresh(@Tenant() tenant: string, @Req() req: Request, @Param('id') id: string) {
    return this.feeds.refresh(tenant, parseInput(schemas.key, id, 'path'), this.ctx.correlationOf(req));
  }
}

@ApiTags('subscriptions')
@Reads()
@Controller('subscriptions')
export class SubscriptionsController {
  constructor(private readonly feeds: FeedsService) {}

  @Get()
  @ApiOperation({ summary: 'The caller’s subscriptions (the feeds with their state)' })
  @ApiAnswer(responses.feedList)
  async list(@Tenant() tenant: string) {
    return { items: await this.feeds.list(tenant) };
  }

  @Post()
  @Authenticated()
  @ApiOperation({ summary: 'Subscribe to a feed already in the catalog (attaches to its processed episodes)' })
  @ApiBody({ schema: openApiSchema(schemas.subscribe, 'input') })
  @ApiAnswer(responses.feed.nullable(), { status: 201, description: 'subscribed (200 when already subscribed); null if the feed left the catalog meanwhile' })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not in the catalog' })
  async subscribe(@Tenant() tenant: string, @Body() body: unknown, @Res({ passthrough: true }) res: Response) {
    const { feed_id } = parseInput(schemas.subscribe, body, 'body');
    const { feed, created } = await this.feeds.subscribe(tenant, feed_id);
    res.status(created ? 201 : 200);
    return feed;
  }

  @Delete(':feedId')
  @Authenticated()
  @HttpCode(204)
  @ApiParamOf('feedId', schemas.key)
  async unsubscribe(@Tenant() tenant: string, @Param('feedId') feedId: string) {
    await this.feeds.remove(tenant, parseInput(schemas.key, feedId, 'path'));
  }
}
