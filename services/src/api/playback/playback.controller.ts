import { Body, Controller, Get, Header, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiNotFoundResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Reads, SessionWrite } from '../access';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas } from '../contract';
import { Tenant } from '../tenant.decorator';
import { parseInput } from '../validation';
import { PlaybackService } from './playback.service';

/**
 * Where the caller's listener left each episode and whether it is played (issue 18). The writes
 * take a key like every write, and also the viewer's session cookie (SessionWrite): a signed-in
 * viewer saves its position without holding a key that could change anything else.
 */
@ApiTags('playback')
@Reads()
@ApiServiceUnavailableResponse({ description: 'Postgres unreachable', schema: openApiSchema(responses.apiError) })
@Controller()
export class PlaybackController {
  constructor(private readonly playback: PlaybackService) {}

  @Get('playback')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: "The caller's saved playback states with their episodes, most recently saved first: in_progress (started, not played: \"continue listening\", the default), played or all; episodes of feeds it no longer follows are left out" })
  @ApiQueryOf(schemas.playbackList)
  @ApiAnswer(responses.playbackList)
  @ApiBadRequestResponse({ schema: openApiSchema(responses.apiError) })
  list(@Tenant() tenant: string, @Query() query: unknown) {
    return this.playback.list(tenant, parseInput(schemas.playbackList, query, 'query'));
  }

  @Get('episodes/:key/playback')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: "The caller's playback state of an episode (never saved: position 0, unplayed, updated_at null); 404 when it is not an episode of a subscribed feed" })
  @ApiAnswer(responses.playback)
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  read(@Tenant() tenant: string, @Param('key') key: string) {
    return this.playback.read(tenant, parseInput(schemas.key, key, 'path'));
  }

  @Put('episodes/:key/playback')
  @SessionWrite()
  @ApiOperation({
    summary:
      'Save the playback position (the player, every few seconds: one upsert); played marks it played or unplayed (unchanged when omitted). A key or the viewer\'s session cookie (the only write a session may make; not from another site). 404 when it is not an episode of a subscribed feed',
  })
  @ApiBody({ schema: openApiSchema(schemas.playbackUpdate, 'input') })
  @ApiAnswer(responses.playback)
  @ApiBadRequestResponse({ schema: openApiSchema(responses.apiError) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  @ApiParamOf('key', schemas.key)
  save(@Tenant() tenant: string, @Param('key') key: string, @Body() body: unknown) {
    const k = parseInput(schemas.key, key, 'path');
    return this.playback.save(tenant, k, parseInput(schemas.playbackUpdate, body, 'body'));
  }

  @Post('playback/mark')
  @SessionWrite()
  @HttpCode(200)
  @ApiOperation({ summary: 'Mark episodes played (position kept) or unplayed (position back to 0), at most 500 at once; keys that are not episodes of a subscribed feed are listed in not_found (404 when none is). A key or the session cookie, as for PUT playback' })
  @ApiBody({ schema: openApiSchema(schemas.playbackMark, 'input') })
  @ApiAnswer(responses.playbackMarkResult)
  @ApiBadRequestResponse({ schema: openApiSchema(responses.apiError) })
  @ApiNotFoundResponse({ schema: openApiSchema(responses.apiError) })
  mark(@Tenant() tenant: string, @Body() body: unknown) {
    const b = parseInput(schemas.playbackMark, body, 'body');
    return this.playback.mark(tenant, b.episode_keys, b.played);
  }
}
