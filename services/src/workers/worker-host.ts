import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { JOB, QUEUE_SETTINGS, type PollJobData, type QueueName, type StageJobData } from '../queue/queues';
import { correlationIdOfJob } from '../telemetry/correlation';
import { runJobWithTelemetry } from '../telemetry/tracing';
import { pollFeedJob } from './poll-feed';
import type { PipelineDeps, StagePipeline } from './pipeline';

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
 * BullMQ workers for a role's queues. Every job gets an AbortSignal that fires at the
 * queue's timeout or when the grace period of a shutdown runs out.
 */
export class WorkerHost {
  private readonly workers: Worker[] = [];
  private readonly active = new Map<string, AbortController>();
  private closing = false;
  private readonly workerId = `${process.pid}`;
  readonly log: Logger;

  constructor(
    private readonly deps: PipelineDeps,
    private readonly pipeline: StagePipeline,
    private readonly opts: WorkerHostOptions,
  ) {
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
    this.active.set(key, controller);
    const timeoutMs = QUEUE_SETTINGS[queue].timeoutMs;
    const timer = setTimeout(() => controller.abort(new Error(`job timed out after ${timeoutMs} ms`)), timeoutMs);
    // queue and worker_id come from the job's log context
    const log = this.deps.log.child({ job_id: job.id });
    log.debug('job started');
    try {
      const attempt = job.attemptsMade + 1;
      const maxAttempts = job.opts.attempts ?? 1;
      if (job.name === JOB.poll) return await pollFeedJob(this.deps, this.pipeline, (job.data as PollJobData).feedId, controller.signal);
      if (job.name === JOB.digest) {
        log.info('digest is a later wave (ARCHITECTURE §11): nothing to do yet');
        return { digest: 'not implemented' };
      }
      if (queue === 'digest') throw new Error(`unknown job ${job.name} on the digest queue`);
      const data = job.data as StageJobData;
      return await this.pipeline.runStage(queue, data.episodeKey, { signal: controller.signal, attempt, maxAttempts });
    } finally {
      clearTimeout(timer);
      this.active.delete(key);
    }
  }

  get activeJobs(): number {
    return this.active.size;
  }

  /**
   * Graceful stop: take no new jobs, let the running ones finish within the grace period,
   * then abort what is left (it fails this attempt and is retried elsewhere).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const finished = Promise.all(this.workers.map((w) => w.close()));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.opts.shutdownGraceMs)));
    const r = await Promise.race([finished.then(() => 'ok' as const), grace]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.log.warn({ active: this.active.size }, 'grace period over: aborting running jobs');
      for (const c of this.active.values()) c.abort(new Error('worker shutting down'));
      await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 5000))]);
      await Promise.all(this.workers.map((w) => w.close(true).catch(() => undefined)));
    }
  }
}
