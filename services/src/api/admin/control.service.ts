import { Injectable } from '@nestjs/common';
import { publishControl, type ControlMessage } from '../../control/control-bus';
import { ControlPlane } from '../../control/control-plane';
import { liveRoles } from '../../control/role-registry';
import type { QueueName } from '../../queue/queues';
import { ApiContext } from '../context';
import type { CleanResultView, ControlSentView, RoleListView } from '../contract';
import { JobsService } from './jobs.service';

/**
 * admin/roles and the commands that go to running role processes (control/control-bus.ts) or
 * straight to a queue; the shared actions are the control plane's (control/control-plane.ts).
 */
@Injectable()
export class ControlService {
  constructor(
    private readonly ctx: ApiContext,
    private readonly jobs: JobsService,
    private readonly plane: ControlPlane,
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

  /** Now in every running process, and stored as the runtime setting queue.<name>.concurrency (kept across restarts). */
  async setConcurrency(queue: string, concurrency: number, actor?: string): Promise<ControlSentView> {
    const name = this.jobs.queue(queue).name as QueueName;
    return { receivers: await this.ctx.withRedis(() => this.plane.setConcurrency(name, concurrency, actor)) };
  }

  /** Removes every waiting and delayed job of the queue (running ones are left alone). */
  async drain(queue: string): Promise<void> {
    const name = this.jobs.queue(queue).name as QueueName;
    await this.ctx.withRedis(() => this.plane.drainQueue(name), 30_000);
  }

  async clean(queue: string, state: 'failed' | 'completed'): Promise<CleanResultView> {
    const name = this.jobs.queue(queue).name as QueueName;
    return { removed: await this.ctx.withRedis(() => this.plane.cleanQueue(name, state), 30_000) };
  }

  /**
   * A job that is not running is removed; a running one is cancelled through the control channel
   * (its worker aborts it; the attempt fails with 'cancelled by an admin' and is not retried).
   */
  async cancel(queue: string, id: string): Promise<{ cancelled: 'removed' | 'signalled' }> {
    const name = this.jobs.queue(queue).name as QueueName;
    return { cancelled: await this.ctx.withRedis(() => this.plane.cancelJob(name, id)) };
  }

  /** A delayed job (e.g. waiting out a retry backoff) runs now. */
  async promote(queue: string, id: string): Promise<void> {
    const name = this.jobs.queue(queue).name as QueueName;
    await this.ctx.withRedis(() => this.plane.promoteJob(name, id));
  }
}
