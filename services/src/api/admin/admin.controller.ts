import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { parseInput, schemas } from '../validation';
import { JobsService } from './jobs.service';

@ApiTags('admin')
@ApiBearerAuth()
@Controller('admin')
export class AdminController {
  constructor(private readonly jobs: JobsService) {}

  @Get('queues')
  @ApiOperation({ summary: 'Depth of every queue and whether it is paused' })
  async queues() {
    return { queues: await this.jobs.queues() };
  }

  @Post('queues/:name/pause')
  @HttpCode(204)
  async pause(@Param('name') name: string) {
    await this.jobs.setPaused(name, true);
  }

  @Post('queues/:name/resume')
  @HttpCode(204)
  async resume(@Param('name') name: string) {
    await this.jobs.setPaused(name, false);
  }

  @Get('jobs')
  @ApiOperation({ summary: 'Failed (default) or stuck jobs, newest first' })
  @ApiQuery({ name: 'state', required: false, enum: ['failed', 'stuck', 'waiting', 'active', 'delayed', 'completed'] })
  @ApiQuery({ name: 'queue', required: false })
  @ApiQuery({ name: 'limit', required: false })
  async list(@Query() query: unknown) {
    const q = parseInput(schemas.adminJobs, query, 'query');
    return { items: await this.jobs.list(q.state, q.queue, q.limit) };
  }

  @Post('jobs/:queue/:id/retry')
  @HttpCode(202)
  retry(@Param('queue') queue: string, @Param('id') id: string) {
    return this.jobs.retry(queue, parseInput(schemas.key, id, 'path'));
  }

  @Post('jobs/:queue/:id/cancel')
  @HttpCode(204)
  async cancel(@Param('queue') queue: string, @Param('id') id: string) {
    await this.jobs.cancel(queue, parseInput(schemas.key, id, 'path'));
  }
}

@ApiTags('jobs')
@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get(':id')
  @ApiOperation({ summary: 'A job by id, with its state' })
  get(@Param('id') id: string) {
    return this.jobs.find(parseInput(schemas.key, id, 'path'));
  }
}
