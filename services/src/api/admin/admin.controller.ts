import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { buildInfo } from '../../telemetry/health';
import { QUEUE_SETTINGS } from '../../queue/queues';
import { Authenticated, Reads } from '../access';
import { ApiContext } from '../context';
import { ApiAnswer, ApiParamOf, ApiQueryOf, openApiSchema, responses, schemas, type AuditPageView, type CleanResultView, type ControlSentView, type DeployView, type RoleListView, type FailuresView, type JobView, type QueueView, type RetryCauseResult, type SettingsView, type WorkersView } from '../contract';
import { parseInput } from '../validation';
import { AuditRepository } from '../../repositories/audit.repository';
import { ControlService } from './control.service';
import { JobsService } from './jobs.service';

@ApiTags('admin')
@Authenticated({ admin: true })
@Controller('admin')
export class AdminController {
  private readonly startedAt = new Date().toISOString();
  private readonly build = buildInfo();

  constructor(
    private readonly jobs: JobsService,
    private readonly ctx: ApiContext,
    private readonly audit: AuditRepository,
    private readonly control: ControlService,
  ) {}

  @Get('roles')
  @ApiOperation({ summary: 'Running role processes (each reports itself on every health tick; one that stops reporting drops out after three ticks)' })
  @ApiAnswer(responses.roleList)
  roles(): Promise<RoleListView> {
    return this.control.roles();
  }

  @Post('roles/:role/restart')
  @HttpCode(202)
  @ApiOperation({ summary: 'Every process of the role stops gracefully and exits 4; the restart policy starts it again' })
  @ApiParamOf('role', schemas.role)
  @ApiAnswer(responses.controlSent, { status: 202 })
  restartRole(@Param('role') role: string): Promise<ControlSentView> {
    return this.control.restartRole(parseInput(schemas.role, role, 'path'));
  }

  @Put('queues/:name/concurrency')
  @HttpCode(202)
  @ApiOperation({ summary: "Sets the queue's worker concurrency in every running process that serves it, without a restart (until that process restarts)" })
  @ApiParamOf('name', schemas.queue)
  @ApiBody({ schema: openApiSchema(schemas.setConcurrency, 'input') })
  @ApiAnswer(responses.controlSent, { status: 202 })
  setConcurrency(@Param('name') name: string, @Body() body: unknown): Promise<ControlSentView> {
    return this.control.setConcurrency(parseInput(schemas.queue, name, 'path'), parseInput(schemas.setConcurrency, body, 'body').concurrency);
  }

  @Post('queues/:name/drain')
  @HttpCode(204)
  @ApiOperation({ summary: 'Removes every waiting and delayed job of the queue; running jobs go on' })
  @ApiParamOf('name', schemas.queue)
  async drain(@Param('name') name: string) {
    await this.control.drain(parseInput(schemas.queue, name, 'path'));
  }

  @Post('queues/:name/clean')
  @HttpCode(200)
  @ApiOperation({ summary: 'Removes the failed or completed jobs of the queue' })
  @ApiParamOf('name', schemas.queue)
  @ApiBody({ schema: openApiSchema(schemas.cleanQueue, 'input') })
  @ApiAnswer(responses.cleanResult)
  clean(@Param('name') name: string, @Body() body: unknown): Promise<CleanResultView> {
    return this.control.clean(parseInput(schemas.queue, name, 'path'), parseInput(schemas.cleanQueue, body, 'body').state);
  }

  @Post('jobs/:queue/:id/promote')
  @HttpCode(204)
  @ApiOperation({ summary: 'A delayed job (waiting out a retry backoff) runs now' })
  @ApiParamOf('queue', schemas.queue)
  @ApiParamOf('id', schemas.key)
  async promote(@Param('queue') queue: string, @Param('id') id: string) {
    await this.control.promote(parseInput(schemas.queue, queue, 'path'), parseInput(schemas.key, id, 'path'));
  }

  @Get('audit')
  @ApiOperation({ summary: 'Admin API calls (who, when, what, the answer), newest first' })
  @ApiQueryOf(schemas.audit)
  @ApiAnswer(responses.auditPage)
  async auditLog(@Query() query: unknown): Promise<AuditPageView> {
    const q = parseInput(schemas.audit, query, 'query');
    const rows = await this.audit.page(q.limit + 1, q.cursor);
    const items = rows.slice(0, q.limit).map((r) => ({ id: r.id, at: r.at.toISOString(), actor: r.actor, method: r.method, path: r.path, params: r.params, status: r.status }));
    return { items, next_cursor: rows.length > q.limit ? items[items.length - 1].id : null };
  }

  @Get('workers')
  @ApiOperation({ summary: 'Worker processes connected to each queue' })
  @ApiAnswer(responses.workers)
  async workers(): Promise<WorkersView> {
    return { queues: await this.jobs.workers() };
  }

  @Get('deploy')
  @ApiOperation({ summary: 'Version and git sha of this api process' })
  @ApiAnswer(responses.deploy)
  deploy(): DeployView {
    const { version, gitSha } = this.build;
    return { version, git_sha: gitSha, node: process.version, started_at: this.startedAt };
  }

  @Get('config')
  @ApiOperation({ summary: 'Effective settings that shape processing (queue concurrency, models, providers); secrets are never shown' })
  @ApiAnswer(responses.settings)
  config(): SettingsView {
    const c = this.ctx.config;
    return {
      queues: Object.fromEntries(Object.entries(QUEUE_SETTINGS).map(([name, q]) => [name, { concurrency: q.concurrency, attempts: q.attempts, timeout_ms: q.timeoutMs }])),
      asr: { engines: c.asr.engines, whisper_model: c.asr.whisperModel, language: c.asr.language, openai_model: c.openai.asrModel },
      llm: { model: c.llm.model || null },
      embeddings: { provider: c.embeddings.provider, model: c.embeddings.model || null, dim: c.embeddings.dim },
      openai: { base_url: c.openai.baseUrl || null, api_key_set: Boolean(c.openai.apiKey) },
      search: { default_k: c.search.defaultK, index_type: c.index.type },
      feeds: { poll_interval_s: c.feeds.pollIntervalS },
      auth: { api_key_set: Boolean(c.authApiKey) },
    };
  }

  @Get('queues')
  @ApiOperation({ summary: 'Depth of every queue and whether it is paused' })
  @ApiAnswer(responses.queueList)
  async queues(): Promise<{ queues: QueueView[] }> {
    return { queues: await this.jobs.queues() };
  }

  @Post('queues/:name/pause')
  @HttpCode(204)
  @ApiParamOf('name', schemas.queue)
  async pause(@Param('name') name: string) {
    await this.jobs.setPaused(parseInput(schemas.queue, name, 'path'), true);
  }

  @Post('queues/:name/resume')
  @HttpCode(204)
  @ApiParamOf('name', schemas.queue)
  async resume(@Param('name') name: string) {
    await this.jobs.setPaused(parseInput(schemas.queue, name, 'path'), false);
  }

  @Get('jobs')
  @ApiOperation({ summary: 'Failed (default) or stuck jobs, newest first' })
  @ApiQueryOf(schemas.adminJobs)
  @ApiAnswer(responses.jobList)
  async list(@Query() query: unknown): Promise<{ items: JobView[] }> {
    const q = parseInput(schemas.adminJobs, query, 'query');
    return { items: await this.jobs.list(q.state, q.queue, q.limit) };
  }

  @Get('failures')
  @ApiOperation({ summary: 'Failed jobs grouped by cause (the error without per-episode details such as URL paths), biggest group first, each with its newest jobs' })
  @ApiQueryOf(schemas.failures)
  @ApiAnswer(responses.failures)
  failures(@Query() query: unknown): Promise<FailuresView> {
    return this.jobs.failures(parseInput(schemas.failures, query, 'query').queue);
  }

  @Post('failures/retry')
  @HttpCode(202)
  @ApiOperation({ summary: 'Retry every failed job of one cause (as admin/failures lists it), optionally in one queue' })
  @ApiBody({ schema: openApiSchema(schemas.retryCause, 'input') })
  @ApiAnswer(responses.retryCauseResult, { status: 202 })
  retryFailures(@Body() body: unknown): Promise<RetryCauseResult> {
    const { cause, queue } = parseInput(schemas.retryCause, body, 'body');
    return this.jobs.retryCause(cause, queue);
  }

  @Post('jobs/:queue/:id/retry')
  @HttpCode(202)
  @ApiAnswer(responses.jobInfo, { status: 202, description: 'the job, now waiting' })
  @ApiParamOf('queue', schemas.queue)
  @ApiParamOf('id', schemas.key)
  retry(@Param('queue') queue: string, @Param('id') id: string): Promise<JobView> {
    return this.jobs.retry(parseInput(schemas.queue, queue, 'path'), parseInput(schemas.key, id, 'path'));
  }

  @Post('jobs/:queue/:id/cancel')
  @HttpCode(204)
  @ApiOperation({ summary: "A job that is not running is removed (204); a running one is cancelled by its worker (202): the attempt fails with 'cancelled by an admin' and is not retried" })
  @ApiParamOf('queue', schemas.queue)
  @ApiParamOf('id', schemas.key)
  async cancel(@Param('queue') queue: string, @Param('id') id: string, @Res({ passthrough: true }) res: Response) {
    const { cancelled } = await this.control.cancel(parseInput(schemas.queue, queue, 'path'), parseInput(schemas.key, id, 'path'));
    if (cancelled === 'signalled') res.status(202);
  }
}

@ApiTags('jobs')
@Reads()
@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get(':id')
  @ApiOperation({ summary: 'A job by id, with its state' })
  @ApiAnswer(responses.jobInfo)
  @ApiParamOf('id', schemas.key)
  get(@Param('id') id: string): Promise<JobView> {
    return this.jobs.find(parseInput(schemas.key, id, 'path'));
  }
}
