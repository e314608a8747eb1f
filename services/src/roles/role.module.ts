import { Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import type { QueueName } from '../queue/queues';
import { Scheduler } from '../scheduler/scheduler';
import { StagePipeline } from '../workers/pipeline';
import { WorkerHost } from '../workers/worker-host';
import type { RoleContext } from './context';

/**
 * The non-HTTP roles as Nest module trees (ARCHITECTURE §3): a global platform module with
 * the shared wiring (Postgres, Redis, queues, store, stages, the stage pipeline), plus the
 * feature module of the role: workers for some queues, or the scheduler. Nest's lifecycle
 * starts them after wiring and stops them first on shutdown (before the context closes).
 */
export const ROLE_CONTEXT = Symbol('ROLE_CONTEXT');
export const WORKER_QUEUES = Symbol('WORKER_QUEUES');

@Module({})
export class PlatformModule {
  static forContext(ctx: RoleContext): DynamicModule {
    return {
      module: PlatformModule,
      global: true,
      providers: [
        { provide: ROLE_CONTEXT, useValue: ctx },
        { provide: StagePipeline, useFactory: () => new StagePipeline(ctx) },
      ],
      exports: [ROLE_CONTEXT, StagePipeline],
    };
  }
}

@Injectable()
export class WorkersService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly host: WorkerHost;

  constructor(@Inject(ROLE_CONTEXT) ctx: RoleContext, pipeline: StagePipeline, @Inject(WORKER_QUEUES) queues: QueueName[]) {
    this.host = new WorkerHost(ctx, pipeline, {
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

  constructor(@Inject(ROLE_CONTEXT) ctx: RoleContext, pipeline: StagePipeline) {
    this.scheduler = new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
  }

  onApplicationBootstrap(): void {
    this.scheduler.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.scheduler.stop();
  }
}

@Module({ providers: [SchedulerService], exports: [SchedulerService] })
export class SchedulerModule {}

/** The module tree of a worker or scheduler role. */
export function roleModule(ctx: RoleContext, feature: DynamicModule | typeof SchedulerModule): DynamicModule {
  return { module: class RoleRootModule {}, imports: [PlatformModule.forContext(ctx), feature] };
}
