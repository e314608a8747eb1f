import { Injectable } from '@nestjs/common';
import { publishControl, type ControlMessage } from '../../control/control-bus';
import { liveRoles } from '../../control/role-registry';
import type { QueueName } from '../../queue/queues';
import { ApiContext } from '../context';
import type { CleanResultView, ControlSentView, RoleListView } from '../contract';
import { ApiError } from '../errors';
import { JobsService } from './jobs.service';

/** How many finished jobs one clean call removes at most (BullMQ removes in batches). */
const CLEAN_LIMIT = 100_000;

/** admin/roles and the commands that go to running role processes (control/control-bus.ts) or straight to a queue. */
@Injectable()
export class ControlService {
  constructor(
    private readonly ctx: ApiContext,
    private readonly jobs: JobsService,
  ) {}

  roles(): Promise<RoleListView> {
    return this.ctx.withRedis(async () => ({ items: await liveRoles(this.ctx.redis, this.ctx.config) }));
  }

  private send(message: ControlMessage): Promise<ControlSentView> {
    return this.ctx.withRedis(async () => ({ receivers: await publishControl(this.ctx.redis, this.ctx.config, message) }));
  }

  restartRole(role: string): Promise<ControlSentView> {
    return this.send({ type: 'restart-role', role, reason: 'restart requested through the admin API' });
  }

  setConcurrency(queue: string, concurrency: number): Promise<ControlSentView> {
    const name = this.jobs.queue(queue).name as QueueName;
    return this.send({ type: 'set-concurrency', queue: name, concurrency });
  }

  /** Removes every waiting and delayed job of the queue (running ones are left alone). */
  async drain(queue: string): Promise<void> {
    const q = this.jobs.queue(queue);
    await this.ctx.withRedis(() => q.drain(true), 30_000);
  }

  async clean(queue: string, state: 'failed' | 'completed'): Promise<CleanResultView> {
    const q = this.jobs.queue(queue);
    const removed = await this.ctx.withRedis(() => q.clean(0, CLEAN_LIMIT, state), 30_000);
    return { removed: removed.length };
  }

  /**
   * A job that is not running is removed; a running one is cancelled through the control channel
   * (its worker aborts it; the attempt fails with 'cancelled by an admin' and is not retried).
   */
  async cancel(queue: string, id: string): Promise<{ cancelled: 'removed' | 'signalled' }> {
    const { job, state } = await this.jobs.get(queue, id);
    if (state === 'active') {
      const { receivers } = await this.send({ type: 'cancel-job', queue: job.queueName as QueueName, jobId: id });
      if (!receivers) throw new ApiError(503, 'no_workers', `job ${id} is running but no role process listens on the control channel`);
      return { cancelled: 'signalled' };
    }
    await this.ctx.withRedis(() => job.remove());
    return { cancelled: 'removed' };
  }

  /** A delayed job (e.g. waiting out a retry backoff) runs now. */
  async promote(queue: string, id: string): Promise<void> {
    const { job, state } = await this.jobs.get(queue, id);
    if (state !== 'delayed') throw new ApiError(409, 'conflict', `job ${id} is ${state}; only delayed jobs can be promoted`);
    await this.ctx.withRedis(() => job.promote());
  }
}
