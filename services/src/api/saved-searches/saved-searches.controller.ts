import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConflictResponse, ApiNotFoundResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { safeFileName } from '../../export/markdown';
import { Authenticated, Reads } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas } from '../contract';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { SavedSearchesService } from './saved-searches.service';

@ApiTags('saved searches')
@Reads()
@Controller('saved-searches')
export class SavedSearchesController {
  constructor(
    private readonly service: SavedSearchesService,
    private readonly ctx: ApiContext,
  ) {}

  @Get()
  @ApiOperation({ summary: "The caller's saved searches (standing alerts), newest first, each with its hit counts and newest hit" })
  @ApiAnswer(responses.savedSearchList)
  async list(@Tenant() tenant: string) {
    return { items: await this.service.list(tenant), max: this.service.max };
  }

  @Post()
  @Authenticated()
  @ApiOperation({
    summary:
      'Save a search: each newly indexed episode of a subscribed feed is matched against it (semantic + keyword); its best moment at or above the threshold is kept and notified (at most once per min_interval_s; matches in between go out together). 409 when the tenant already has SAVED_SEARCH_MAX',
  })
  @ApiBody({ schema: openApiSchema(schemas.createSavedSearch, 'input') })
  @ApiAnswer(responses.savedSearch, { status: 201 })
  @ApiConflictResponse({ schema: openApiSchema(responses.apiError), description: 'the tenant has as many saved searches as it may keep' })
  async create(@Tenant() tenant: string, @Body() body: unknown) {
    return this.service.create(tenant, parseInput(schemas.createSavedSearch, body, 'body'));
  }

  @Get(':id')
  @ApiOperation({ summary: 'One saved search' })
  @ApiAnswer(responses.savedSearch)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.savedSearchId)
  async get(@Tenant() tenant: string, @Param('id') id: string) {
    return this.service.get(tenant, parseInput(schemas.savedSearchId, id, 'path'));
  }

  @Patch(':id')
  @Authenticated()
  @ApiOperation({ summary: 'Change a saved search (name, query, threshold, notify, min_interval_s); only the fields sent change' })
  @ApiBody({ schema: openApiSchema(schemas.updateSavedSearch, 'input') })
  @ApiAnswer(responses.savedSearch)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.savedSearchId)
  async update(@Tenant() tenant: string, @Param('id') id: string, @Body() body: unknown) {
    return this.service.update(tenant, parseInput(schemas.savedSearchId, id, 'path'), parseInput(schemas.updateSavedSearch, body, 'body'));
  }

  @Delete(':id')
  @Authenticated()
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a saved search and its hits (no more matching or notifications)' })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.savedSearchId)
  async remove(@Tenant() tenant: string, @Param('id') id: string) {
    await this.service.remove(tenant, parseInput(schemas.savedSearchId, id, 'path'));
  }

  @Get(':id/hits')
  @ApiOperation({ summary: "A saved search's hits, newest first: the episode, its feed, the quote, where it starts, its relevance, when it was found and notified" })
  @ApiAnswer(responses.savedSearchHitList)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.savedSearchId)
  @ApiQueryOf(schemas.savedSearchHits)
  async hits(@Tenant() tenant: string, @Param('id') id: string, @Query() query: unknown) {
    const { limit } = parseInput(schemas.savedSearchHits, query, 'query');
    return { items: await this.service.hits(tenant, parseInput(schemas.savedSearchId, id, 'path'), limit) };
  }

  @Get(':id/hits.md')
  @ApiProduces('text/markdown')
  @ApiOperation({ summary: "A saved search's hits as Markdown (YAML front matter; each quote a block quote with a timestamp link to the moment in the viewer)" })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('id', schemas.savedSearchId)
  async markdown(@Tenant() tenant: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    const viewer = this.ctx.config.notify.publicUrl || `${req.protocol}://${req.get('host')}`;
    const { name, body } = await this.service.markdown(tenant, parseInput(schemas.savedSearchId, id, 'path'), viewer);
    const file = `${safeFileName(name, 'saved-search')}.md`;
    res
      .status(200)
      .type('text/markdown; charset=utf-8')
      .set('Content-Disposition', `attachment; filename="${file.replace(/[^\x20-\x7e]|"/g, '_')}"; filename*=UTF-8''${encodeURIComponent(file)}`)
      .send(body);
  }
}
