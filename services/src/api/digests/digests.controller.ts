import { Body, Controller, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiNotFoundResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { safeFileName } from '../../export/markdown';
import { Authenticated, Reads } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas } from '../contract';
import { DIGEST_MAX_WINDOW_DAYS } from '../contract/digests';
import { ApiError } from '../errors';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { DigestsService, digestView } from './digests.service';

// Literal routes (latest, feed.xml, :id.md) come before :id: Nest matches in declaration order.
@ApiTags('digests')
@Reads()
@Controller('digests')
export class DigestsController {
  constructor(
    private readonly service: DigestsService,
    private readonly ctx: ApiContext,
  ) {}

  /** PUBLIC_URL when set, else the request's own origin: where the viewer's links point. */
  private viewer(req: Request): string {
    return this.ctx.config.notify.publicUrl || `${req.protocol}://${req.get('host')}`;
  }

  @Post()
  @Authenticated()
  @ApiOperation({
    summary:
      'Generate a digest now for a window (default: the last DIGEST_WINDOW_DAYS days up to now; ISO dates or date-times; from before to; at most 366 days) and store it: new episodes, story clusters across shows with their quotes, trends, one line per show',
  })
  @ApiBody({ schema: openApiSchema(schemas.createDigest, 'input') })
  @ApiAnswer(responses.digest, { status: 201 })
  async create(@Tenant() tenant: string, @Body() body: unknown) {
    const { from, to } = parseInput(schemas.createDigest, body ?? {}, 'body');
    // One edge given: the other is its default (now, or DIGEST_WINDOW_DAYS before `to`); the rules still hold.
    if (from && !to && from.getTime() >= Date.now()) throw new ApiError(400, 'invalid_request', 'invalid body: from: `from` must be before `to` (default: now)');
    if (from && !to && Date.now() - from.getTime() > DIGEST_MAX_WINDOW_DAYS * 86_400_000) throw new ApiError(400, 'invalid_request', `invalid body: from: the window is at most ${DIGEST_MAX_WINDOW_DAYS} days`);
    return this.service.generate(tenant, from, to);
  }

  @Get()
  @ApiOperation({ summary: 'The stored digests, newest first (window, trigger, counts), a page at a time' })
  @ApiAnswer(responses.digestList)
  @ApiQueryOf(schemas.digestList)
  async list(@Tenant() tenant: string, @Query() query: unknown) {
    const { limit, before } = parseInput(schemas.digestList, query, 'query');
    return this.service.list(tenant, limit, before);
  }

  @Get('latest')
  @ApiOperation({ summary: 'The newest digest (404 while there is none)' })
  @ApiAnswer(responses.digest)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'no digest yet' })
  async latest(@Tenant() tenant: string) {
    return digestView(await this.service.latest(tenant));
  }

  @Get('feed.xml')
  @ApiProduces('application/rss+xml')
  @ApiOperation({ summary: 'RSS 2.0 feed of the digests (newest 20): each item links to its page in the viewer, its description the digest as HTML' })
  async feed(@Tenant() tenant: string, @Req() req: Request, @Res() res: Response) {
    const self = `${req.protocol}://${req.get('host')}${req.originalUrl}`;
    res.status(200).type('application/rss+xml; charset=utf-8').send(await this.service.feed(tenant, this.viewer(req), self));
  }

  @Get(':id.md')
  @ApiProduces('text/markdown')
  @ApiOperation({ summary: 'A digest as Markdown (YAML front matter; quotes as block quotes with timestamp links to the moment in the viewer)' })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.digestId)
  async markdownDotMd(@Tenant() tenant: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    await this.sendMarkdown(tenant, id, req, res);
  }

  @Get(':id/markdown')
  @ApiProduces('text/markdown')
  @ApiOperation({ summary: 'A digest as Markdown (the same as /api/digests/{id}.md)' })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.digestId)
  async markdown(@Tenant() tenant: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    await this.sendMarkdown(tenant, id, req, res);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One digest' })
  @ApiAnswer(responses.digest)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.digestId)
  async get(@Tenant() tenant: string, @Param('id') id: string) {
    // Express matches paths case-insensitively: /digests/LATEST lands here, and is no digest.
    if (/^(latest|feed\.xml)$/i.test(id)) throw new ApiError(404, 'not_found', `no route GET /api/digests/${id} (paths are lower-case: /api/digests/${id.toLowerCase()})`);
    return digestView(await this.service.get(tenant, parseInput(schemas.digestId, id, 'path')));
  }

  private async sendMarkdown(tenant: string, id: string, req: Request, res: Response): Promise<void> {
    const d = await this.service.get(tenant, parseInput(schemas.digestId, id, 'path'));
    const file = `${safeFileName(`podbrain digest ${d.from.slice(0, 10)} to ${d.to.slice(0, 10)}`, 'digest')}.md`;
    res
      .status(200)
      .type('text/markdown; charset=utf-8')
      .set('Content-Disposition', `attachment; filename="${file.replace(/[^\x20-\x7e]|"/g, '_')}"; filename*=UTF-8''${encodeURIComponent(file)}`)
      .send(this.service.markdown(d, this.viewer(req)));
  }
}
