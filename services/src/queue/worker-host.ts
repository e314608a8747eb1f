import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { CANCELLED_BY_ADMIN } from '../control/control-bus';
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors';
import { delay, settleWithin, SHUTDOWN_BUDGET_MS } from '../core/shutdown';
import type { Logger } from '../core/logger';
import { correlationIdOfJob } from '../telemetry/correlation';
import { runJobWithTelemetry } from '../telemetry/tracing';
import { jobNameOf, QUEUE_SETTINGS, type JobName, type JobPayloads, type QueueName, type StageJobData } from './queues';

class CancelledJob extends Error {
  constructor() {
    super(CANCELLED_BY_ADMIN);
  }
}

/** What a job handler gets besides its payload. */
export interface JobContext {
  /** Fires at the queue's timeout, when a shutdown's grace period runs out, or when an admin cancels the job. */
  signal: AbortSignal;
  /** This attempt (1-based) and how many the job has. */
  attempt: number;
  maxAttempts: number;
  /** Bound to the job (job_id; its log context adds queue, worker_id, correlation_id, episode_key). */
  log: Logger;
}

export type JobHandler<K extends JobName> = (data: JobPayloads[K], ctx: JobContext) => Promise<unknown>;

/** One handler per job of JobPayloads: a job without a handler does not compile (jobs/handlers.ts builds it). */
export type JobHandlers = { readonly [K in JobName]: JobHandler<K> };

export interface WorkerHostOptions {
  queues: readonly QueueName[];
  /** Per-queue concurrency override (tests, the simple tier). */
  concurrency?: Partial<Record<QueueName, number>>;
  connection: Redis;
  prefix: string;
  lockMs: number;
  shutdownGraceMs: number;
}

/**
 * BullMQ workers for a role's queues: each job goes to its handler (JobHandlers, by JOB_ROUTES).
 * Every job gets an AbortSignal that fires at the queue's timeout or when the grace period of a
 * shutdown runs out.
 */
export class WorkerHost {
  private readonly workers: Worker[] = [];
  private readonly active = new Map<string, { controller: AbortController; ctx: JobContext }>();
  private closing: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  private readonly workerId = `${process.pid}`;
  readonly log: Logger;

  private readonly jobLog: Logger;

  constructor(
    deps: { log: Logger },
    private readonly handlers: JobHandlers,
    private readonly opts: WorkerHostOptions,
  ) {
    this.jobLog = deps.log;
    this.log = deps.log.child({ worker_id: this.workerId });
  }

  start(): void {
    for (const name of this.opts.queues) {
      const settings = QUEUE_SETTINGS[name];
      const worker = new Worker(name, (job) => this.process(name, job), {
        connection: this.opts.connection,
        prefix: this.opts.prefix,
        concurrency: this.opts.concurrency?.[name] ?? settings.concurrency,
        lockDuration: this.opts.lockMs,
        stalledInterval: this.opts.lockMs,
        maxStalledCount: 2,
      });
      worker.on('error', (e) => this.log.warn({ queue: name, err: errorMessage(e) }, 'worker connection error'));
      worker.on('failed', (job, e) => {
        // Emitted outside the job's log context: name the job's correlation id and episode here.
        const data = (job?.data ?? {}) as Partial<StageJobData>;
        this.log.warn({ queue: name, job_id: job?.id, correlation_id: correlationIdOfJob(job?.data), episode_key: data.episodeKey, attempts: job?.attemptsMade, err: errorMessage(e) }, 'job attempt failed');
      });
      this.workers.push(worker);
    }
    this.log.info({ queues: this.opts.queues }, 'workers started');
  }

  /**
   * One job inside its telemetry (telemetry/tracing.ts): the enqueuer's trace continues in a
   * `<queue> process` span, every log line carries the job's correlation_id, episode_key, queue
   * and worker_id, and the run is timed into podbrain_queue_processing_seconds.
   */
  private process(queue: QueueName, job: Job): Promise<unknown> {
    return runJobWithTelemetry(job, { workerId: this.workerId }, () => this.runJob(queue, job));
  }

  private async runJob(queue: QueueName, job: Job): Promise<unknown> {
    const controller = new AbortController();
    const key = `${queue}/${job.id}`;
    // queue and worker_id come from the job's log context
    const log = this.jobLog.child({ job_id: job.id });
    const ctx: JobContext = { signal: controller.signal, attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1, log };
    this.active.set(key, { controller, ctx });
    const timeoutMs = QUEUE_SETTINGS[queue].timeoutMs;
    const timer = setTimeout(() => controller.abort(new Error(`job timed out after ${timeoutMs} ms`)), timeoutMs);
    log.debug('job started');
    try {
      const name = jobNameOf(queue, job.name);
      if (!name) throw new Error(`unknown job ${job.name} on the ${queue} queue`);
      return await this.dispatch(name, job.data as JobPayloads[typeof name], ctx);
    } catch (e) {
      // Cancelled by an admin: no further attempt (BullMQ does not retry an UnrecoverableError).
      if (controller.signal.reason instanceof CancelledJob) throw new UnrecoverableError(CANCELLED_BY_ADMIN);
      throw e;
    } finally {
      clearTimeout(timer);
      this.active.delete(key);
      if (this.active.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private dispatch<K extends JobName>(name: K, data: JobPayloads[K], ctx: JobContext): Promise<unknown> {
    const handler: JobHandler<K> = this.handlers[name];
    return handler(data, ctx);
  }

  /** set-concurrency (control/control-bus.ts): the queue's worker in this process takes up to `n` jobs at once from now on. */
  setConcurrency(queue: QueueName, n: number): boolean {
    const worker = this.workers.find((w) => w.name === queue);
    if (!worker) return false;
    const raised = n > worker.concurrency;
    worker.concurrency = n;
    // BullMQ's main loop waits for a running job to end before it looks at the concurrency again;
    // an empty entry in its fifo (an internal) wakes it, so a raise takes effect now, not after
    // the current job. Without it (another BullMQ version) the raise applies when a job ends.
    if (raised) (worker as unknown as { mainLoopQueue?: { add(p: Promise<unknown>): void } | null }).mainLoopQueue?.add(Promise.resolve(undefined));
    this.log.info({ queue, concurrency: n }, 'concurrency changed');
    return true;
  }

  concurrencyOf(queue: QueueName): number | null {
    return this.workers.find((w) => w.name === queue)?.concurrency ?? null;
  }

  /**
   * cancel-job (control/control-bus.ts): aborts the job's signal if it runs here. Cooperative:
   * the handler stops where it checks the signal. The attempt is its last: the stage records the
   * failure with the reason 'cancelled by an admin' (the episode becomes failed) and the job is
   * not retried. A job that is not running here is left alone (false).
   */
  cancel(queue: QueueName, jobId: string): boolean {
    const running = this.active.get(`${queue}/${jobId}`);
    if (!running) return false;
    running.ctx.maxAttempts = running.ctx.attempt; // the handler treats this attempt as the last one
    running.controller.abort(new CancelledJob());
    this.log.warn({ queue, job_id: jobId }, 'job cancelled by an admin');
    return true;
  }

  get activeJobs(): number {
    return this.active.size;
  }

  /** Resolves once no job runs in this process (now, or when the last running one returns). */
  private idle(): Promise<void> {
    return this.active.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Graceful stop, bounded whatever Redis does (core/shutdown.ts): take no new jobs, let the
   * running ones finish within the grace period, then abort what is left (it fails this
   * attempt and is retried elsewhere). Closing BullMQ's workers waits on their Redis
   * connections; with Redis unreachable that never ends, so once no job runs here it gets
   * SHUTDOWN_BUDGET_MS.idleClose and is then abandoned: a job whose completion never reached
   * Redis is picked up again by the stalled-job check and reuses the committed artifact.
   */
  close(): Promise<void> {
    this.closing ??= this.closeBounded();
    return this.closing;
  }

  private async closeBounded(): Promise<void> {
    const t0 = Date.now();
    let closed = false;
    const finished = Promise.all(this.workers.map((w) => w.close().catch((e) => this.log.warn({ err: errorMessage(e) }, 'queue worker close failed')))).then(() => {
      closed = true;
    });
    const idleThenBudget = this.idle().then(() => delay(SHUTDOWN_BUDGET_MS.idleClose));
    await settleWithin(Promise.race([finished, idleThenBudget]), this.opts.shutdownGraceMs);
    if (!closed && this.active.size > 0) {
      this.log.warn({ active: this.active.size }, 'grace period over: aborting running jobs');
      for (const { controller } of this.active.values()) controller.abort(new Error('worker shutting down'));
      await settleWithin(Promise.race([finished, this.idle()]), SHUTDOWN_BUDGET_MS.abortSettle);
      if (this.active.size > 0) this.log.warn({ active: this.active.size }, 'aborted jobs did not return in time: leaving them (their jobs are retried once their lock expires)');
    }
    if (!closed) await settleWithin(finished, 50);
    if (!closed) this.log.warn({ after_ms: Date.now() - t0 }, 'queue workers did not close (Redis unreachable?): leaving their connections');
  }
}
