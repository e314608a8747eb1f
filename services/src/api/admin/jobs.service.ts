import { Injectable } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { ControlPlane } from '../../control/control-plane';
import { readFailedJobs } from '../../control/failed-jobs';
import { isQueueName, QUEUE_NAMES, QUEUE_SETTINGS, type QueueName } from '../../queue/queues';
import { ApiContext } from '../context';
import type { FailureGroup, FailuresView, JobView, QueueView, RetryCauseResult, WorkersView } from '../contract';
import { ApiError, notFound } from '../errors';
import { failureCause } from './failure-cause';

const GROUP_SAMPLE = 20;

const toView = (queue: string, j: Job, state?: string): JobView => ({
  id: String(j.id),
  queue,
  name: j.name,
  ...(state ? { state } : {}),
  episode_key: typeof (j.data as { episodeKey?: unknown })?.episodeKey === 'string' ? (j.data as { episodeKey: string }).episodeKey : null,
  failed_reason: j.failedReason || null,
  cause: j.failedReason ? failureCause(j.failedReason) : null,
  attempts: j.attemptsMade,
  timestamp: j.timestamp,
  processed_on: j.processedOn ?? null,
  finished_on: j.finishedOn ?? null,
});

/** Queues and jobs for admin/* and jobs/:id (BullMQ through this process's producer connection). */
@Injectable()
export class JobsService {
  constructor(
    private readonly ctx: ApiContext,
    private readonly plane: ControlPlane,
  ) {}

  queue(name: string): Queue {
    if (!isQueueName(name)) throw new ApiError(404, 'not_found', `unknown queue ${name}: one of ${QUEUE_NAMES.join(', ')}`);
    return this.ctx.queues.get(name);
  }

  queues(): Promise<QueueView[]> {
    return this.ctx.withRedis(() => this.readQueues());
  }

  private readQueues(): Promise<QueueView[]> {
    return Promise.all(
      QUEUE_NAMES.map(async (name) => {
        const q = this.ctx.queues.get(name);
        const [c, paused] = await Promise.all([q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'), q.isPaused()]);
        return {
          name,
          waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
          active: c.active ?? 0,
          delayed: c.delayed ?? 0,
          failed: c.failed ?? 0,
          completed: c.completed ?? 0,
          paused,
        };
      }),
    );
  }

  async setPaused(name: string, paused: boolean): Promise<void> {
    const q = this.queue(name);
    await this.ctx.withRedis(() => (paused ? q.pause() : q.resume()));
  }

  /**
   * failed: jobs that used up their attempts; stuck: active longer than the queue's timeout
   * (a worker died without its lock expiring yet, or a stage hangs).
   */
  list(state: string, queue: string | undefined, limit: number): Promise<JobView[]> {
    const names: QueueName[] = queue ? [this.queue(queue).name as QueueName] : [...QUEUE_NAMES];
    return this.ctx.withRedis(() => this.readList(names, state, limit));
  }

  private async readList(names: QueueName[], state: string, limit: number): Promise<JobView[]> {
    const out: JobView[] = [];
    for (const name of names) {
      const q = this.ctx.queues.get(name);
      if (state === 'stuck') {
        const cutoff = Date.now() - QUEUE_SETTINGS[name].timeoutMs;
        const active = await q.getJobs(['active'], 0, limit - 1);
        for (const j of active) if (j && (j.processedOn ?? j.timestamp) < cutoff) out.push(toView(name, j, 'active'));
      } else {
        // Stage jobs all carry a priority (queue/priority.ts): BullMQ keeps them in its prioritized set, which is waiting too.
        const types = state === 'waiting' ? (['waiting', 'prioritized'] as const) : ([state] as ['failed']);
        for (const j of await q.getJobs([...types], 0, limit - 1)) if (j) out.push(toView(name, j, state));
      }
    }
    return out.sort((a, b) => b.timestamp - a.timestamp).slice(0, limit);
  }

  /** Worker connections per queue (BullMQ names its worker clients; CLIENT LIST). */
  workers(): Promise<WorkersView['queues']> {
    return this.ctx.withRedis(() =>
      Promise.all(
        QUEUE_NAMES.map(async (name) => ({
          queue: name,
          workers: (await this.ctx.queues.get(name).getWorkers()).map((w) => ({
            name: w.rawname ?? w.name ?? '',
            addr: w.addr ?? null,
            age_s: w.age === undefined ? null : Number(w.age),
            idle_s: w.idle === undefined ? null : Number(w.idle),
          })),
        })),
      ),
    );
  }

  async get(queue: string, id: string): Promise<{ job: Job; state: string }> {
    const q = this.queue(queue);
    const found = await this.ctx.withRedis(async () => {
      const job = await q.getJob(id);
      return job ? { job, state: await job.getState() } : null;
    });
    if (!found) throw notFound(`job ${id} in queue ${queue}`);
    return found;
  }

  /** jobs/:id: the queue is the id's first part (`transcribe.<key>.<fp>`, `poll.<feed>` → ingest), else every queue is asked. */
  async find(id: string): Promise<JobView> {
    const found = await this.ctx.withRedis(() => this.lookup(id));
    if (!found) throw notFound(`job ${id}`);
    return found;
  }

  private async lookup(id: string): Promise<JobView | null> {
    const head = id.split('.')[0];
    const guess = head === 'poll' ? 'ingest' : head;
    const order = isQueueName(guess) ? [guess, ...QUEUE_NAMES.filter((n) => n !== guess)] : [...QUEUE_NAMES];
    for (const name of order) {
      const job = await this.ctx.queues.get(name).getJob(id);
      if (job) return toView(name, job, await job.getState());
    }
    return null;
  }

  /**
   * Every failed job (newest FAILED_SCAN_LIMIT per queue) grouped by cause, biggest group first.
   * `truncated`: some queue holds more failed jobs than were read.
   */
  failures(queue?: string): Promise<FailuresView> {
    const names: QueueName[] = queue ? [this.queue(queue).name as QueueName] : [...QUEUE_NAMES];
    return this.ctx.withRedis(async () => {
      const { jobs, truncated } = await readFailedJobs(this.ctx.queues, names);
      const groups = new Map<string, FailureGroup>();
      for (const { queue: q, job } of jobs) {
        const view = toView(q, job, 'failed');
        const cause = view.cause ?? failureCause(null);
        const g = groups.get(cause) ?? { cause, count: 0, queues: {}, latest: 0, first: view.timestamp, feeds: {}, jobs: [] };
        g.count++;
        g.queues[q] = (g.queues[q] ?? 0) + 1;
        g.latest = Math.max(g.latest, view.timestamp);
        g.first = Math.min(g.first, view.timestamp);
        const feedId = (job.data as { feedId?: unknown })?.feedId;
        if (typeof feedId === 'string') g.feeds[feedId] = (g.feeds[feedId] ?? 0) + 1;
        g.jobs.push(view);
        groups.set(cause, g);
      }
      const out = [...groups.values()].map((g) => ({ ...g, jobs: g.jobs.sort((a, b) => b.timestamp - a.timestamp).slice(0, GROUP_SAMPLE) }));
      out.sort((a, b) => b.count - a.count || b.latest - a.latest);
      return { groups: out, total: jobs.length, truncated };
    }, 30_000);
  }

  /** Retries every failed job whose cause is `cause` (admin/failures/retry); jobs that moved on meanwhile are left alone. */
  retryCause(cause: string, queue?: string): Promise<RetryCauseResult> {
    const name = queue ? (this.queue(queue).name as QueueName) : undefined;
    return this.ctx.withRedis(async () => {
      const { retried, skipped } = await this.plane.retryFailed({ queue: name, cause });
      return { cause, retried: retried.length, jobs: retried, skipped };
    }, 60_000);
  }

  async retry(queue: string, id: string): Promise<JobView> {
    const name = this.queue(queue).name as QueueName;
    const job = await this.ctx.withRedis(() => this.plane.retryJob(name, id));
    return toView(queue, job, 'waiting');
  }
}
