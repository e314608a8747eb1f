import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Reads } from '../access';
import { ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas } from '../contract';
import { originOf } from '../refeed/refeed.controller';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { attachment, ExportService } from './export.service';

/** Markdown export (issue 17): an episode as an Obsidian note, a feed as a zip of notes. */
@ApiTags('export')
@Reads()
@Controller()
export class ExportController {
  constructor(private readonly service: ExportService) {}

  @Get('episodes/:key/export.md')
  @ApiProduces('text/markdown')
  @ApiOperation({ summary: 'The episode as a Markdown note (YAML front matter, summary, key insights with their quotes and timestamp links to the viewer, chapters, people; ?transcript=true adds the transcript)' })
  @ApiQueryOf(schemas.episodeExport)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'unknown or not subscribed' })
  @ApiParamOf('key', schemas.key)
  async episode(@Tenant() tenant: string, @Param('key') key: string, @Query() query: unknown, @Req() req: Request, @Res() res: Response) {
    const q = parseInput(schemas.episodeExport, query, 'query');
    const note = await this.service.episode(tenant, parseInput(schemas.key, key, 'path'), originOf(req), q.transcript === 'true' || q.transcript === '1');
    res.status(200).type('text/markdown; charset=utf-8').set('content-disposition', attachment(note.fileName)).send(note.markdown);
  }

  @Get('export/feeds/:id.zip')
  @ApiProduces('application/zip')
  @ApiOperation({ summary: "The feed's episodes as Markdown notes in a zip (one note each, and an index note for the show); streamed; the newest 5000 episodes" })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError), description: 'not subscribed' })
  @ApiParamOf('id', schemas.key)
  async feed(@Tenant() tenant: string, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    await this.service.feedZip(tenant, parseInput(schemas.key, id, 'path'), originOf(req), res);
  }
}
