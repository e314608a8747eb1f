import { Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { jobHandlers } from '../jobs/handlers';
import { StageJobs } from '../jobs/stage.jobs';
import { DatabaseModule } from '../db/database.module';
import type { QueueName } from '../queue/queues';
import { WorkerHost, type JobHandlers } from '../queue/worker-host';
import { Scheduler } from '../scheduler/scheduler';
import { createSchedulerAgent } from '../agent/scheduler-agent';
import type { RoleContext } from './context';

/**
 * The non-HTTP roles as Nest module trees (ARCHITECTURE §3): a global platform module with
 * the shared wiring (Postgres, Redis, queues, store, stages, the stage jobs and every job's handler), plus the
 * feature module of the role: workers for some queues, or the scheduler. Nest's lifecycle
 * starts them after wiring and stops them first on shutdown (before the context closes).
 */
export const ROLE_CONTEXT = Symbol('ROLE_CONTEXT');
const WORKER_QUEUES = Symbol('WORKER_QUEUES');
/** Every job's handler (jobs/handlers.ts), typed by the job map of queue/queues.ts. */
export const JOB_HANDLERS = Symbol('JOB_HANDLERS');

@Module({})
export class PlatformModule {
  static forContext(ctx: RoleContext): DynamicModule {
    return {
      module: PlatformModule,
      global: true,
      providers: [
        { provide: ROLE_CONTEXT, useValue: ctx },
        { provide: StageJobs, useFactory: () => new StageJobs(ctx) },
        { provide: JOB_HANDLERS, inject: [StageJobs], useFactory: (stageJobs: StageJobs) => jobHandlers(ctx, stageJobs) },
      ],
      exports: [ROLE_CONTEXT, StageJobs, JOB_HANDLERS],
    };
  }
}

@Injectable()
export class WorkersService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly host: WorkerHost;

  constructor(@Inject(ROLE_CONTEXT) ctx: RoleContext, @Inject(JOB_HANDLERS) handlers: JobHandlers, @Inject(WORKER_QUEUES) queues: QueueName[]) {
    this.host = new WorkerHost(ctx, handlers, {
      queues,
      connection: ctx.redis,
      prefix: ctx.queues.prefix,
      lockMs: ctx.config.queue.lockMs,
      shutdownGraceMs: ctx.config.worker.shutdownGraceMs,
    });
  }

  onApplicationBootstrap(): void {
    this.host.start();
  }

  /** SIGTERM: no new jobs; the running ones finish within the grace period. */
  beforeApplicationShutdown(): Promise<void> {
    return this.host.close();
  }
}

@Module({})
export class WorkersModule {
  static forQueues(queues: QueueName[]): DynamicModule {
    return { module: WorkersModule, providers: [{ provide: WORKER_QUEUES, useValue: queues }, WorkersService], exports: [WorkersService] };
  }
}

@Injectable()
export class SchedulerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly scheduler: Scheduler;
  /** The on-call agent (agent/agent.ts): acts only while this scheduler holds the leader lock. */
  readonly agent: ReturnType<typeof createSchedulerAgent>;
  /** Saved-search notifications an interval held back, sent by the leader once it has passed (saved-searches/). */
  private sweep: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | null = null;

  constructor(@Inject(ROLE_CONTEXT) private readonly ctx: RoleContext, stageJobs: StageJobs) {
    this.scheduler = new Scheduler(ctx, stageJobs, ctx.queues, ctx.redis);
    this.agent = createSchedulerAgent(ctx, () => this.scheduler.lock.isLeader);
  }

  onApplicationBootstrap(): void {
    this.scheduler.start();
    this.agent.agent.start();
    this.sweep = setInterval(() => {
      if (!this.scheduler.lock.isLeader || this.sweeping) return;
      this.sweeping = this.ctx.savedSearches
        .sweep()
        .catch((e: unknown) => this.ctx.log.warn({ err: String(e) }, 'saved-search sweep failed'))
        .finally(() => (this.sweeping = null));
    }, this.ctx.config.scheduler.tickMs);
    this.sweep.unref();
  }

  /** Side by side: each is bounded on its own, and in a row their bounds would add up past the grace period. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweep);
    await Promise.all([this.agent.close(), this.scheduler.stop()]);
  }
}

@Module({ providers: [SchedulerService], exports: [SchedulerService] })
export class SchedulerModule {}

/** The module tree of a worker or scheduler role. */
export function roleModule(ctx: RoleContext, feature: DynamicModule | typeof SchedulerModule): DynamicModule {
  // Postgres (db/database.module.ts): the context's Database, its repositories and the episode events publisher.
  const database = DatabaseModule.forRoot(ctx.database, [ctx.episodes, ctx.stageRuns, ctx.feeds, ctx.events]);
  return { module: class RoleRootModule {}, imports: [database, PlatformModule.forContext(ctx), feature] };
}
