import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CONTROL_ACTION_IDS, CONTROL_ACTIONS, isControlActionId } from '../../control/actions';
import { ControlPlane } from '../../control/control-plane';
import { Authenticated } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas, type ActionListView, type ActionOutcomeView, type ReprocessStaleResultView, type RuntimeSettingsView, type StaleView } from '../contract';
import { ApiError } from '../errors';
import { parseInput } from '../validation';

/** Who made the call (the guard sets it; admin_audit records it): runtime_settings.updated_by. */
const actorOf = (req: unknown): string => (req as { podbrainActor?: string }).podbrainActor ?? 'admin-key';

/**
 * The control plane's actions over HTTP (control/control-plane.ts, the implementations the on-call
 * agent runs): runtime settings, feeds, episodes, and any action by its id. Admin key; audited.
 */
@ApiTags('admin')
@Authenticated({ admin: true })
@Controller('admin')
export class ControlActionsController {
  constructor(
    private readonly plane: ControlPlane,
    private readonly ctx: ApiContext,
  ) {}

  @Get('settings')
  @ApiOperation({ summary: 'Runtime settings (changed live, without a restart): value, .env default, source, who changed it when' })
  @ApiAnswer(responses.runtimeSettings)
  async settings(): Promise<RuntimeSettingsView> {
    return { items: await this.plane.listSettings() };
  }

  @Put('settings/:key')
  @ApiOperation({ summary: 'Stores a runtime setting; every role applies it at once (a settings-changed control message)' })
  @ApiParamOf('key', schemas.settingKey)
  @ApiBody({ schema: openApiSchema(schemas.settingValue, 'input') })
  @ApiAnswer(responses.runtimeSettings)
  async putSetting(@Param('key') key: string, @Body() body: unknown, @Req() req: unknown): Promise<RuntimeSettingsView> {
    const { value } = parseInput(schemas.settingValue, body, 'body');
    await this.ctx.withRedis(() => this.plane.setSetting(parseInput(schemas.settingKey, key, 'path'), value, actorOf(req)));
    return this.settings();
  }

  @Delete('settings/:key')
  @ApiOperation({ summary: 'Back to the .env / config value, in every role' })
  @ApiParamOf('key', schemas.settingKey)
  @ApiAnswer(responses.runtimeSettings)
  async deleteSetting(@Param('key') key: string): Promise<RuntimeSettingsView> {
    await this.ctx.withRedis(() => this.plane.resetSetting(parseInput(schemas.settingKey, key, 'path')));
    return this.settings();
  }

  @Post('feeds/:id/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'Stops polling the feed (a poll already running stores nothing new)' })
  @ApiParamOf('id', schemas.key)
  @ApiAnswer(responses.actionOutcome)
  pauseFeed(@Param('id') id: string, @Req() req: unknown): Promise<ActionOutcomeView> {
    return this.act('pause-feed', { feed: parseInput(schemas.key, id, 'path') }, req);
  }

  @Post('feeds/:id/resume')
  @HttpCode(200)
  @ApiParamOf('id', schemas.key)
  @ApiAnswer(responses.actionOutcome)
  resumeFeed(@Param('id') id: string, @Req() req: unknown): Promise<ActionOutcomeView> {
    return this.act('resume-feed', { feed: parseInput(schemas.key, id, 'path') }, req);
  }

  @Post('feeds/:id/refresh')
  @HttpCode(202)
  @ApiOperation({ summary: 'Polls the feed now, due or not (409 while it is paused)' })
  @ApiParamOf('id', schemas.key)
  @ApiAnswer(responses.actionOutcome, { status: 202 })
  refreshFeed(@Param('id') id: string, @Req() req: unknown): Promise<ActionOutcomeView> {
    return this.act('refresh-feed', { feed: parseInput(schemas.key, id, 'path') }, req);
  }

  @Post('episodes/:key/reprocess')
  @HttpCode(202)
  @ApiOperation({ summary: 'Runs the episode again from a stage: that stage and every later one run again, earlier ones are reused (409 while its job runs)' })
  @ApiParamOf('key', schemas.key)
  @ApiBody({ schema: openApiSchema(schemas.reprocess, 'input') })
  @ApiAnswer(responses.actionOutcome, { status: 202 })
  reprocess(@Param('key') key: string, @Body() body: unknown, @Req() req: unknown): Promise<ActionOutcomeView> {
    const { from_stage } = parseInput(schemas.reprocess, body, 'body');
    return this.act('reprocess-episode', { episode: parseInput(schemas.key, key, 'path'), from_stage }, req);
  }

  @Get('stale')
  @ApiOperation({ summary: 'Per stage: done episodes made with an older recipe (model, prompt, settings) than the current configuration plans (stale), of one feed with ?feed_id' })
  @ApiQueryOf(schemas.stale)
  @ApiAnswer(responses.staleView)
  async stale(@Query() query: unknown): Promise<StaleView> {
    const { feed_id } = parseInput(schemas.stale, query, 'query');
    const items = await this.plane.staleSummary(feed_id);
    const auto = (await this.plane.listSettings()).find((s) => s.key === 'reprocess.auto')?.value === true;
    const { window, batch } = this.ctx.config.reprocess;
    return {
      feed_id: feed_id ?? null,
      items: items.map((s) => ({ stage: s.stage as StaleView['items'][number]['stage'], stale: s.stale, done_total: s.doneTotal, unknown: s.unknown, current_recipe: s.currentRecipes })),
      reprocess: { auto, window, batch },
    };
  }

  @Post('reprocess-stale')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Queues stale episodes (all, one feed, one episode, those stale at one stage) from their first stale stage at the reprocess priority, below new episodes and the back catalogue; at most limit (REPROCESS_BATCH) a call',
  })
  @ApiBody({ schema: openApiSchema(schemas.reprocessStale, 'input') })
  @ApiAnswer(responses.reprocessStaleResult, { status: 202 })
  async reprocessStale(@Body() body: unknown): Promise<ReprocessStaleResultView> {
    const { feed_id, episode_key, stage, limit } = parseInput(schemas.reprocessStale, body ?? {}, 'body');
    return this.ctx.withRedis(() => this.plane.reprocessStale({ feedId: feed_id, episodeKey: episode_key, stage, limit }), 60_000);
  }

  @Post('episodes/:key/priority')
  @HttpCode(200)
  @ApiOperation({ summary: "Moves the episode's waiting job to the head of its queue (409 when it has none)" })
  @ApiParamOf('key', schemas.key)
  @ApiAnswer(responses.actionOutcome)
  bumpPriority(@Param('key') key: string, @Req() req: unknown): Promise<ActionOutcomeView> {
    return this.act('bump-priority', { episode: parseInput(schemas.key, key, 'path') }, req);
  }

  @Get('actions')
  @ApiOperation({ summary: 'Every control-plane action id (what runbooks name), with its summary and the JSON schema of its arguments' })
  @ApiAnswer(responses.actionList)
  actions(): ActionListView {
    return { items: CONTROL_ACTION_IDS.map((id) => ({ id, summary: CONTROL_ACTIONS[id].summary, args: z.toJSONSchema(CONTROL_ACTIONS[id].args, { io: 'input', unrepresentable: 'any' }) })) };
  }

  @Post('actions/:action')
  @HttpCode(200)
  @ApiOperation({ summary: 'Runs one control-plane action by id (400 naming the problem when its args do not fit, 404 for an unknown id)' })
  @ApiParamOf('action', schemas.key)
  @ApiBody({ schema: openApiSchema(schemas.runAction, 'input') })
  @ApiAnswer(responses.actionOutcome)
  run(@Param('action') action: string, @Body() body: unknown, @Req() req: unknown): Promise<ActionOutcomeView> {
    const id = parseInput(schemas.key, action, 'path');
    if (!isControlActionId(id)) throw new ApiError(404, 'not_found', `unknown action ${id}: one of ${CONTROL_ACTION_IDS.join(', ')}`);
    return this.act(id, parseInput(schemas.runAction, body ?? {}, 'body').args, req);
  }

  private async act(action: Parameters<ControlPlane['run']>[0], args: unknown, req: unknown): Promise<ActionOutcomeView> {
    const outcome = await this.ctx.withRedis(() => this.plane.run(action, args, { actor: actorOf(req) }), 60_000);
    return { action, ...outcome };
  }
}
