import { createHash } from 'node:crypto';
import { Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Authenticated, Public, Reads } from '../access';
import { ApiAnswer, ApiParamOf, openApiSchema, responses, schemas } from '../contract';
import { sendEpisodeAudio } from '../episodes/episode-media.service';
import { cameOverHttps } from '../session';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { DigestsService } from '../digests/digests.service';
import { ApiContext } from '../context';
import { RefeedService, type TranscriptFormat } from './refeed.service';

/** The request's own origin (links when PUBLIC_URL is not set): https also behind Caddy terminating TLS (X-Forwarded-Proto). */
export const originOf = (req: Request) => `${cameOverHttps(req) ? 'https' : 'http'}://${req.get('host')}`;

/** Headers of everything a token URL answers: private to the one listener, never indexed, no referrer carrying the token. */
const PRIVATE_HEADERS = { 'cache-control': 'private, no-cache', 'x-robots-tag': 'noindex, nofollow', 'referrer-policy': 'no-referrer' };

/**
 * The private re-feed (issue 17). Management: the combined feed's URL under /api/refeed, each
 * followed feed's under /api/feeds/:id/refeed (and GET /api/feeds/:id's refeed_url). Public: the
 * token URLs under /api/refeed/:token/ — podcast apps cannot send headers, so the token is the
 * credential; an unknown, revoked or unfollowed one is a plain 404.
 */
@ApiTags('re-feed')
@Reads()
@Controller()
export class RefeedController {
  constructor(
    private readonly service: RefeedService,
    private readonly digests: DigestsService,
    private readonly ctx: ApiContext,
  ) {}

  @Get('refeed')
  @ApiOperation({ summary: "The combined re-feed's private URL (every followed feed in one RSS feed for podcast apps); made on first need; url null once revoked" })
  @ApiAnswer(responses.refeedLink)
  combined(@Tenant() tenant: string, @Req() req: Request) {
    return this.service.link(tenant, null, originOf(req));
  }

  @Post('refeed/rotate')
  @Authenticated()
  @HttpCode(200)
  @ApiOperation({ summary: "A new URL for the combined re-feed; the old one stops working at once" })
  @ApiAnswer(responses.refeedLink)
  rotateCombined(@Tenant() tenant: string, @Req() req: Request) {
    return this.service.rotate(tenant, null, originOf(req));
  }

  @Delete('refeed')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke the combined re-feed URL (404 from now on); POST refeed/rotate makes a new one' })
  async revokeCombined(@Tenant() tenant: string) {
    await this.service.revoke(tenant, null);
  }

  @Post('feeds/:id/refeed/rotate')
  @Authenticated()
  @HttpCode(200)
  @ApiOperation({ summary: "A new URL for the feed's re-feed; the old one stops working at once" })
  @ApiAnswer(responses.refeedLink)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not subscribed' })
  @ApiParamOf('id', schemas.key)
  rotate(@Tenant() tenant: string, @Param('id') id: string, @Req() req: Request) {
    return this.service.rotate(tenant, parseInput(schemas.key, id, 'path'), originOf(req));
  }

  @Delete('feeds/:id/refeed')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: "Revoke the feed's re-feed URL (404 from now on); POST …/refeed/rotate makes a new one" })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not subscribed' })
  @ApiParamOf('id', schemas.key)
  async revoke(@Tenant() tenant: string, @Param('id') id: string) {
    await this.service.revoke(tenant, parseInput(schemas.key, id, 'path'));
  }

  // ------------------------------------------------------------------ the token URLs

  @Get('refeed/:token/feed.xml')
  @Public()
  @ApiProduces('application/rss+xml')
  @ApiOperation({ summary: 'The re-feed (RSS 2.0 + Podcasting 2.0): the original enclosures and guids, podbrain transcripts and chapters, show notes with the summary and key insights; newest 500 episodes' })
  @ApiNotFoundResponse({ description: 'unknown or revoked token' })
  @ApiParamOf('token', schemas.refeedToken)
  async feed(@Param('token') token: string, @Req() req: Request, @Res() res: Response) {
    const xml = await this.service.feedXml(token, originOf(req));
    // The api turns Express's ETag off; apps poll feeds often, so this one answers conditional GETs.
    res.set(PRIVATE_HEADERS).set('etag', `"${createHash('sha256').update(xml).digest('base64url').slice(0, 32)}"`);
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    res.status(200).type('application/rss+xml; charset=utf-8').send(xml);
  }

  @Get('refeed/:token/digests.xml')
  @Public()
  @ApiProduces('application/rss+xml')
  @ApiOperation({ summary: "The digests as RSS through the combined re-feed's token (for feed readers that cannot send a key while reads are private); a single feed's token is a 404" })
  @ApiNotFoundResponse({ description: 'unknown or revoked token, or not the combined re-feed token' })
  @ApiParamOf('token', schemas.refeedToken)
  async digestsFeed(@Param('token') token: string, @Req() req: Request, @Res() res: Response) {
    const tenant = await this.service.combinedTenantOf(token);
    const origin = originOf(req);
    const xml = await this.digests.feed(tenant, this.ctx.config.notify.publicUrl || origin, `${origin}${req.originalUrl}`);
    res.status(200).set(PRIVATE_HEADERS).type('application/rss+xml; charset=utf-8').send(xml);
  }

  @Get('refeed/:token/episodes/:key/transcript.vtt')
  @Public()
  @ApiProduces('text/vtt')
  @ApiNotFoundResponse({ description: 'unknown or revoked token, episode not in the re-feed, or no transcript' })
  @ApiParamOf('token', schemas.refeedToken)
  @ApiParamOf('key', schemas.key)
  async vtt(@Param('token') token: string, @Param('key') key: string, @Res() res: Response) {
    await this.sendTranscript(res, token, key, 'vtt');
  }

  @Get('refeed/:token/episodes/:key/transcript.srt')
  @Public()
  @ApiProduces('application/x-subrip')
  @ApiNotFoundResponse({ description: 'unknown or revoked token, episode not in the re-feed, or no transcript' })
  @ApiParamOf('token', schemas.refeedToken)
  @ApiParamOf('key', schemas.key)
  async srt(@Param('token') token: string, @Param('key') key: string, @Res() res: Response) {
    await this.sendTranscript(res, token, key, 'srt');
  }

  @Get('refeed/:token/episodes/:key/transcript.json')
  @Public()
  @ApiProduces('application/json')
  @ApiNotFoundResponse({ description: 'unknown or revoked token, episode not in the re-feed, or no transcript' })
  @ApiParamOf('token', schemas.refeedToken)
  @ApiParamOf('key', schemas.key)
  async json(@Param('token') token: string, @Param('key') key: string, @Res() res: Response) {
    await this.sendTranscript(res, token, key, 'json');
  }

  @Get('refeed/:token/episodes/:key/chapters.json')
  @Public()
  @ApiProduces('application/json+chapters')
  @ApiNotFoundResponse({ description: 'unknown or revoked token, episode not in the re-feed, or no chapters' })
  @ApiParamOf('token', schemas.refeedToken)
  @ApiParamOf('key', schemas.key)
  async chapters(@Param('token') token: string, @Param('key') key: string, @Res() res: Response) {
    const doc = await this.service.chaptersOf(token, parseInput(schemas.key, key, 'path'));
    res.status(200).set(PRIVATE_HEADERS).type('application/json+chapters; charset=utf-8').send(JSON.stringify(doc));
  }

  @Get('refeed/:token/episodes/:key/audio')
  @Public()
  @ApiOperation({ summary: "podbrain's copy of the audio (HTTP ranges), else a 302 to the publisher's http(s) enclosure" })
  @ApiNotFoundResponse({ description: 'unknown or revoked token, episode not in the re-feed, or no audio' })
  @ApiParamOf('token', schemas.refeedToken)
  @ApiParamOf('key', schemas.key)
  async audio(@Param('token') token: string, @Param('key') key: string, @Res() res: Response) {
    await sendEpisodeAudio(res, await this.service.audio(token, parseInput(schemas.key, key, 'path')));
  }

  private async sendTranscript(res: Response, token: string, key: string, format: TranscriptFormat): Promise<void> {
    const t = await this.service.transcript(token, parseInput(schemas.key, key, 'path'), format);
    res.status(200).set(PRIVATE_HEADERS).type(`${t.type}; charset=utf-8`).send(t.body);
  }
}
