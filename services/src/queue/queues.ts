import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import IORedis, { type Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { StageName } from '../pipeline/stage';
import { jobDataWithTrace, type TraceCarrier } from '../telemetry/tracing';
import { PRIORITY, priorityClassOf, type PriorityClass } from './priority';

/** Every BullMQ queue of the platform (ARCHITECTURE §1): one per stage, plus the corpus digest. */
export const QUEUE_NAMES = ['ingest', 'transcribe', 'enrich', 'index', 'project', 'digest'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export interface QueueSettings {
  /** Jobs one worker process runs at the same time on this queue. */
  concurrency: number;
  attempts: number;
  /** Exponential backoff base delay between attempts. */
  backoffMs: number;
  /** A job running longer than this is aborted (its AbortSignal fires) and fails this attempt. */
  timeoutMs: number;
  /** Finished jobs kept for inspection (admin/jobs) before BullMQ trims them. */
  keepCompleted: { count: number; ageS: number };
  keepFailed: { count: number; ageS: number };
}

const HOUR = 3600;
const DAY = 24 * HOUR;

/**
 * A queue without settings does not compile (Record over QueueName). Concurrency here is
 * the per-process default; worker-gpu runs transcribe at 1 per GPU.
 */
export const QUEUE_SETTINGS: Record<QueueName, QueueSettings> = {
  ingest: { concurrency: 8, attempts: 3, backoffMs: 5_000, timeoutMs: 30 * 60_000, keepCompleted: { count: 1000, ageS: DAY }, keepFailed: { count: 5000, ageS: 7 * DAY } },
  transcribe: { concurrency: 1, attempts: 3, backoffMs: 10_000, timeoutMs: 3 * HOUR * 1000, keepCompleted: { count: 1000, ageS: DAY }, keepFailed: { count: 5000, ageS: 7 * DAY } },
  enrich: { concurrency: 2, attempts: 3, backoffMs: 10_000, timeoutMs: HOUR * 1000, keepCompleted: { count: 1000, ageS: DAY }, keepFailed: { count: 5000, ageS: 7 * DAY } },
  index: { concurrency: 2, attempts: 3, backoffMs: 5_000, timeoutMs: 30 * 60_000, keepCompleted: { count: 1000, ageS: DAY }, keepFailed: { count: 5000, ageS: 7 * DAY } },
  project: { concurrency: 4, attempts: 3, backoffMs: 2_000, timeoutMs: 10 * 60_000, keepCompleted: { count: 1000, ageS: DAY }, keepFailed: { count: 5000, ageS: 7 * DAY } },
  digest: { concurrency: 1, attempts: 3, backoffMs: 60_000, timeoutMs: HOUR * 1000, keepCompleted: { count: 100, ageS: 30 * DAY }, keepFailed: { count: 100, ageS: 30 * DAY } },
};

/** Which roles consume which queues (ARCHITECTURE §3). */
export const ROLE_QUEUES = {
  'worker-io': ['ingest', 'project', 'digest'],
  'worker-gpu': ['transcribe'],
  'worker-ml': ['enrich', 'index'],
  worker: QUEUE_NAMES,
} as const satisfies Record<string, readonly QueueName[]>;

export function isQueueName(s: string): s is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(s);
}

/** `all` or a comma list of queue names (the simple tier's `--queues`). */
export function parseQueueList(spec: string): QueueName[] {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 1 && parts[0] === 'all') return [...QUEUE_NAMES];
  const bad = parts.filter((p) => !isQueueName(p));
  if (bad.length || !parts.length) throw new Error(`unknown queue(s) ${bad.join(', ') || '(none)'}: expected "all" or a comma list of ${QUEUE_NAMES.join(', ')}`);
  return [...new Set(parts as QueueName[])];
}

/** Per-episode jobs: the stage queue the episode's next step runs on. */
export type EpisodeJobStage = Exclude<StageName, 'digest'>;

/**
 * Deterministic job id (ARCHITECTURE §2): one job per (stage, episode, fingerprint), so a
 * double enqueue is a no-op. BullMQ refuses ':' in custom ids (it reserves `a:b:c` for
 * repeatable jobs), so the parts are joined with '.', which neither hex keys nor stage names contain.
 */
export function stageJobId(stage: EpisodeJobStage, episodeKey: string, fingerprint: string): string {
  return `${stage}.${episodeKey}.${fingerprint.slice(0, 12)}`;
}

export function pollJobId(feedId: string): string {
  return `poll.${feedId}`;
}

export interface StageJobData {
  episodeKey: string;
  feedId: string;
  /** The fingerprint the enqueuer computed (informational; the worker re-plans). */
  fingerprint: string;
  /** queue/priority.ts class: the job's BullMQ priority, carried on to the episode's next jobs (absent: new). */
  priorityClass?: PriorityClass;
}

export interface PollJobData {
  feedId: string;
}

/** A scheduled digest (digest/digest-job.ts): one tenant's window, ISO datetimes. */
export interface DigestJobData {
  tenantId: string;
  from: string;
  to: string;
}

/** One digest job per tenant and scheduled time: two schedulers or a restart never make two. */
export function digestJobId(tenantId: string, scheduledAt: Date): string {
  return `digest.${tenantId.replace(/[^A-Za-z0-9_-]/g, '_')}.${scheduledAt.getTime()}`;
}

/**
 * Every job of the platform and its payload: producers (`Queues.add*`) and handlers
 * (jobs/handlers.ts, a `JobHandlers` record that does not compile without one per job) are typed from it.
 */
export interface JobPayloads {
  /** A feed poll (jobs/poll.jobs.ts). */
  poll: PollJobData;
  /** The per-episode stage jobs (jobs/stage.jobs.ts). */
  ingest: StageJobData;
  transcribe: StageJobData;
  enrich: StageJobData;
  index: StageJobData;
  project: StageJobData;
  digest: DigestJobData;
}
export type JobName = keyof JobPayloads;

/** Where each job runs and the name BullMQ stores it under (the names jobs had in Redis before the map). */
export const JOB_ROUTES = {
  poll: { queue: 'ingest', name: 'poll-feed' },
  ingest: { queue: 'ingest', name: 'stage' },
  transcribe: { queue: 'transcribe', name: 'stage' },
  enrich: { queue: 'enrich', name: 'stage' },
  index: { queue: 'index', name: 'stage' },
  project: { queue: 'project', name: 'stage' },
  digest: { queue: 'digest', name: 'digest' },
} as const satisfies Record<JobName, { queue: QueueName; name: string }>;

const JOB_OF_ROUTE = new Map<string, JobName>(Object.entries(JOB_ROUTES).map(([job, r]) => [`${r.queue}/${r.name}`, job as JobName]));

/** The job a BullMQ job on `queue` named `name` is, or null when nothing here runs it. */
export function jobNameOf(queue: QueueName, name: string): JobName | null {
  return JOB_OF_ROUTE.get(`${queue}/${name}`) ?? null;
}

/**
 * Added to every job's data when it is enqueued (telemetry/tracing.ts `jobDataWithTrace`): the
 * correlation id of the request or scheduler poll the work descends from, and the enqueuer's
 * trace context, so the worker's span and log lines continue them.
 */
export interface JobTelemetryData {
  correlation_id: string;
  otel?: TraceCarrier;
}

export function jobOptions(queue: QueueName, extra: JobsOptions = {}, backoffMs = 0): JobsOptions {
  const s = QUEUE_SETTINGS[queue];
  return {
    attempts: s.attempts,
    backoff: { type: 'exponential', delay: backoffMs || s.backoffMs },
    removeOnComplete: { count: s.keepCompleted.count, age: s.keepCompleted.ageS },
    removeOnFail: { count: s.keepFailed.count, age: s.keepFailed.ageS },
    ...extra,
  };
}

/** A Redis connection for BullMQ (blocking commands need maxRetriesPerRequest null). */
export function createRedis(config: Pick<Config, 'redisUrl'>, opts: { forWorker?: boolean } = {}): Redis {
  return new IORedis(config.redisUrl, {
    maxRetriesPerRequest: opts.forWorker ? null : 3,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
}

/** Redis key prefix for everything of this deployment (BullMQ keys, scheduler lock, events channel). */
function queuePrefix(config: Pick<Config, 'queue'>): string {
  return config.queue.prefix;
}

export class Queues {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: ConnectionOptions,
    readonly prefix: string,
    /** Overrides every queue's backoff base (QUEUE_BACKOFF_MS; tests use a few ms). */
    private readonly backoffMs = 0,
  ) {}

  static fromConfig(config: Config, connection: Redis = createRedis(config)): Queues {
    return new Queues(connection, queuePrefix(config), config.queue.backoffMs);
  }

  options(name: QueueName, extra: JobsOptions = {}): JobsOptions {
    return jobOptions(name, extra, this.backoffMs);
  }

  get(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix, defaultJobOptions: this.options(name) });
      q.on('error', () => undefined); // connection errors surface through health checks and callers
      this.queues.set(name, q);
    }
    return q;
  }

  all(): Queue[] {
    return QUEUE_NAMES.map((n) => this.get(n));
  }

  /**
   * Enqueues (stage, episode, fingerprint) once: a waiting/active/delayed job with the same id
   * makes this a no-op. A finished one kept for inspection (completed/failed) is replaced, so
   * an episode sent through a stage again (re-run, reconciler) really gets a job.
   */
  async addStageJob(stage: EpisodeJobStage, data: JobPayloads[EpisodeJobStage], correlationId?: string): Promise<string> {
    const id = stageJobId(stage, data.episodeKey, data.fingerprint);
    const q = this.get(JOB_ROUTES[stage].queue);
    const cls = priorityClassOf(data);
    const state = await q.getJobState(id);
    if (state === 'completed' || state === 'failed') await q.remove(id).catch(() => undefined);
    if (state === 'waiting' || state === 'prioritized') {
      // Already queued: asked again at a more urgent class (a user's "process now"), it moves up instead of waiting its turn.
      const job = await q.getJob(id);
      if (job && job.priority > PRIORITY[cls]) {
        await job.updateData({ ...job.data, priorityClass: cls }).catch(() => undefined);
        await job.changePriority({ priority: PRIORITY[cls] }).catch(() => undefined);
      }
      return id;
    }
    // Without an explicit id the job inherits the running job's (stage → stage), else gets a new one.
    // Every stage job has a priority: BullMQ would run one without it before all prioritized ones.
    await this.add(stage, { ...data, priorityClass: cls }, correlationId, { jobId: id, priority: PRIORITY[cls] });
    return id;
  }

  /**
   * Feed polls run on the ingest queue; one pending poll per feed. `correlationId`: the API
   * request's (feed add/refresh) or the scheduler's per-poll id; the episodes found carry it on.
   */
  async addPollJob(feedId: string, correlationId?: string): Promise<string> {
    const id = pollJobId(feedId);
    await this.add('poll', { feedId }, correlationId, { jobId: id, removeOnComplete: true, removeOnFail: true, attempts: 1 });
    return id;
  }

  /** The scheduled digest of a tenant's window (digestJobId: once per tenant and scheduled time). */
  async addDigestJob(data: DigestJobData, scheduledAt: Date, correlationId?: string): Promise<string> {
    const id = digestJobId(data.tenantId, scheduledAt);
    await this.add('digest', data, correlationId, { jobId: id });
    return id;
  }

  /** Enqueues one job on its queue under its BullMQ name (JOB_ROUTES), with the enqueuer's telemetry (jobDataWithTrace). */
  private async add<K extends JobName>(job: K, data: JobPayloads[K], correlationId: string | undefined, extra: JobsOptions): Promise<void> {
    const { queue, name } = JOB_ROUTES[job];
    await this.get(queue).add(name, jobDataWithTrace(data, correlationId), this.options(queue, extra));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
