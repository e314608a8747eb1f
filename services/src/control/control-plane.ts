import fs from 'node:fs/promises';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { failureCause } from '../api/admin/failure-cause';
import { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { Database } from '../db/database';
import { isRunningState, STAGE_OF_STATE, type RunningState } from '../episodes/state';
import { StageJobs } from '../jobs/stage.jobs';
import type { Stage } from '../pipeline/stage';
import { EPISODE_STAGES } from '../pipeline/stage-names';
import { buildStages } from '../pipeline/stages';
import { QUEUE_NAMES, type QueueName, type Queues } from '../queue/queues';
import { PRIORITY, type PriorityClass } from '../queue/priority';
import { EpisodeEventPublisher, eventsChannel } from '../repositories/episode-events.repository';
import { EpisodeRepository } from '../repositories/episodes.repository';
import { FeedRepository } from '../repositories/feeds.repository';
import { SettingsRepository } from '../repositories/settings.repository';
import { StageRunRepository } from '../repositories/stage-runs.repository';
import { newCorrelationId } from '../telemetry/correlation';
import { CONTROL_ACTIONS, ControlActionArgsError, parseActionArgs, type ActionOutcome, type ControlActionArgs, type ControlActionHandlers, type ControlActionId } from './actions';
import { cleanEpisodeAudio, type CleanedAudio } from './clean-audio';
import { StaleWork, type ReprocessStaleFilter, type ReprocessStaleResult, type StaleStage } from './stale-work';
import { publishControl, type ControlMessage } from './control-bus';
import { readFailedJobs } from './failed-jobs';
import { initialSettings, isRuntimeSettingKey, parseSetting, RUNTIME_SETTING_KEYS, RUNTIME_SETTINGS, queueConcurrencyKey, RuntimeSettingError, type RuntimeSettingKey, type RuntimeSettingValue } from './runtime-settings';

/**
 * How restart-role reaches a role. The default only asks over the control channel (a role
 * that answers drains and exits 4); control/role-restarter.ts adds the forced path for a
 * process that no longer answers (the engine's restart, through the socket proxy).
 */
export interface RoleRestarter {
  restart(role: string, reason: string): Promise<ActionOutcome>;
}

export interface ControlPlaneDeps {
  config: Config;
  redis: Redis;
  queues: Queues;
  database: Database;
  log: Logger;
  restarter?: RoleRestarter;
  /** The stage chain reprocess-episode plans with (default: buildStages(config), what the workers run). */
  stages?: readonly Stage[];
}

/**
 * Why an action could not be done, by kind: `not_found` (no such job, feed, episode),
 * `conflict` (it exists but is not in a state the action applies to), `no_workers` (nothing
 * listens on the control channel to do it). The api answers 404 / 409 / 503 (api/errors.ts).
 */
export class ControlActionError extends PodbrainError {
  constructor(
    readonly kind: 'not_found' | 'conflict' | 'no_workers',
    message: string,
  ) {
    super(kind, message);
  }
}

const notFound = (what: string) => new ControlActionError('not_found', `${what} not found`);
const conflict = (message: string) => new ControlActionError('conflict', message);

const CLEAN_LIMIT = 100_000;
/** Skipped episodes one process-skipped call queues. */
export const PROCESS_SKIPPED_MAX = 5000;
/** The stages reprocess-episode can start from, in chain order (project: the last step, no artifact). */
const REPROCESS_ORDER = [...EPISODE_STAGES, 'project'] as const;

/** Who changed a setting when the caller does not say (the agent passes its own name). */
const DEFAULT_ACTOR = 'control-plane';

export interface RunOptions {
  /** Recorded as runtime_settings.updated_by: the admin API's actor, or the agent. */
  actor?: string;
}

/**
 * Runs control actions (control/actions.ts) in any role that has Redis, the queues and Postgres:
 * the api (admin routes) and the scheduler (the on-call agent). Each action is also a typed
 * method, which the admin API's services call for their own answers; `run` gives the agent's
 * and POST /api/admin/actions/:action's uniform outcome.
 */
export class ControlPlane {
  private readonly episodes: EpisodeRepository;
  private readonly feeds: FeedRepository;
  private readonly settings: SettingsRepository;
  private readonly store: ArtifactStore;

  constructor(private readonly deps: ControlPlaneDeps) {
    this.episodes = new EpisodeRepository(deps.database);
    this.feeds = new FeedRepository(deps.database);
    this.settings = new SettingsRepository(deps.database);
    this.store = new ArtifactStore(deps.config.dataDir);
  }

  /** Validates the arguments for the action and runs it; throws ControlActionArgsError, ControlActionError or the action's own error. */
  async run(action: ControlActionId, rawArgs: unknown, opts: RunOptions = {}): Promise<ActionOutcome> {
    const args = parseActionArgs(action, rawArgs);
    const handler = this.handlers(opts)[action] as (a: unknown) => Promise<ActionOutcome>;
    return handler(args);
  }

  summary(action: ControlActionId): string {
    return CONTROL_ACTIONS[action].summary;
  }

  // ------------------------------------------------------------------ jobs

  /** A job and the state it was read in; not_found when the queue holds no such job. */
  async job(queue: QueueName, id: string): Promise<{ job: Job; state: string }> {
    const job = await this.deps.queues.get(queue).getJob(id);
    if (!job) throw notFound(`job ${id} in queue ${queue}`);
    return { job, state: await job.getState() };
  }

  async retryJob(queue: QueueName, id: string): Promise<Job> {
    const { job, state } = await this.job(queue, id);
    if (state !== 'failed') throw conflict(`job ${id} is ${state}; only failed jobs can be retried`);
    await job.retry('failed');
    return job;
  }

  /**
   * Retries the failed jobs of a queue (every queue when none is named), only those of one cause
   * (api/admin/failure-cause.ts) when one is named; jobs that moved on meanwhile are skipped.
   * A cause that no failed job has (any more) is not_found.
   */
  async retryFailed(p: { queue?: QueueName; cause?: string }): Promise<{ retried: { queue: QueueName; id: string }[]; skipped: number }> {
    const { jobs } = await readFailedJobs(this.deps.queues, p.queue ? [p.queue] : QUEUE_NAMES);
    const matching = p.cause === undefined ? jobs : jobs.filter(({ job }) => failureCause(job.failedReason || null) === p.cause);
    if (p.cause !== undefined && !matching.length) throw new ControlActionError('not_found', `no failed job has the cause ${JSON.stringify(p.cause)} (any more); reload the list of failures`);
    const retried: { queue: QueueName; id: string }[] = [];
    let skipped = 0;
    for (const { queue, job } of matching) {
      try {
        await job.retry('failed');
        retried.push({ queue, id: String(job.id) });
      } catch {
        skipped++; // retried, removed or finished by someone else in the meantime
      }
    }
    return { retried, skipped };
  }

  /**
   * A job that is not running is removed; a running one is cancelled through the control channel
   * (its worker aborts it; the attempt fails with 'cancelled by an admin' and is not retried).
   */
  async cancelJob(queue: QueueName, id: string): Promise<'removed' | 'signalled'> {
    const { job, state } = await this.job(queue, id);
    if (state === 'active') {
      const receivers = await this.publish({ type: 'cancel-job', queue, jobId: id });
      if (!receivers) throw new ControlActionError('no_workers', `job ${id} is running but no role process listens on the control channel`);
      return 'signalled';
    }
    await job.remove();
    return 'removed';
  }

  /** A delayed job (e.g. waiting out a retry backoff) runs now. */
  async promoteJob(queue: QueueName, id: string): Promise<void> {
    const { job, state } = await this.job(queue, id);
    if (state !== 'delayed') throw conflict(`job ${id} is ${state}; only delayed jobs can be promoted`);
    await job.promote();
  }

  // ------------------------------------------------------------------ queues

  /** Sets the queue's concurrency in every running process now and stores it, so a restarted role keeps it. Answers how many processes heard it. */
  async setConcurrency(queue: QueueName, concurrency: number, actor = DEFAULT_ACTOR): Promise<number> {
    await this.settings.set(queueConcurrencyKey(queue), parseSetting(queueConcurrencyKey(queue), concurrency), actor);
    return this.publish({ type: 'set-concurrency', queue, concurrency });
  }

  async drainQueue(queue: QueueName): Promise<void> {
    await this.deps.queues.get(queue).drain(true);
  }

  async cleanQueue(queue: QueueName, state: 'failed' | 'completed'): Promise<number> {
    return (await this.deps.queues.get(queue).clean(0, CLEAN_LIMIT, state)).length;
  }

  // ------------------------------------------------------------------ feeds

  async setFeedPaused(feedId: string, paused: boolean): Promise<void> {
    if (!(await this.feeds.setPaused(feedId, paused))) throw notFound(`feed ${feedId}`);
  }

  /** Enqueues the feed's poll now, due or not; a paused feed is a conflict (resume it first). Answers the poll job's id. */
  async refreshFeed(feedId: string, correlationId = newCorrelationId()): Promise<string> {
    const feed = await this.feeds.get(feedId);
    if (!feed) throw notFound(`feed ${feedId}`);
    if (feed.paused) throw conflict(`feed ${feedId} is paused; resume it before refreshing it`);
    return this.deps.queues.addPollJob(feedId, correlationId);
  }

  // ------------------------------------------------------------------ episodes

  /**
   * The episode runs again from `fromStage`: the committed artifacts of that stage and of every
   * later one are removed (every fingerprint), then the episode is sent on from its artifacts,
   * so the chain stops at `fromStage` and each later stage finds nothing to reuse. Earlier
   * stages keep their artifacts and do not run. An episode whose job is running now is a
   * conflict (its stage would commit behind our back): cancel it or wait.
   */
  async reprocessEpisode(episodeKey: string, fromStage: (typeof REPROCESS_ORDER)[number]): Promise<{ jobId: string | null; removed: number }> {
    const loaded = await this.episodes.feedEpisode(episodeKey);
    if (!loaded) throw notFound(`episode ${episodeKey}`);
    const { row, episode } = loaded;
    if (isRunningState(row.state) && row.jobId) {
      const stage = STAGE_OF_STATE[row.state];
      if ((await this.deps.queues.get(stage).getJobState(row.jobId)) === 'active') throw conflict(`episode ${episodeKey} is being processed now (${stage} job ${row.jobId} is running); cancel that job or wait for it`);
    }
    const from = REPROCESS_ORDER.indexOf(fromStage);
    let removed = 0;
    for (const stage of EPISODE_STAGES.slice(from)) {
      for (const ref of await this.store.list(episode.feedId, episodeKey, stage)) {
        await fs.rm(ref.dir, { recursive: true, force: true });
        removed++;
      }
    }
    const jobId = await this.stageJobs().advanceFromArtifacts(episode, { state: 'pending' });
    return { jobId, removed };
  }

  /** Per stage, `done` episodes made with an older recipe (stale), of one feed when named. */
  async staleSummary(feedId?: string): Promise<StaleStage[]> {
    if (feedId !== undefined && !(await this.feeds.exists(feedId))) throw notFound(`feed ${feedId}`);
    return this.staleWork().summary({ feedId });
  }

  /**
   * Stale episodes (all, of a feed, one episode, stale at one stage) run again from their first
   * stale stage at the reprocess priority, at most `limit` (REPROCESS_BATCH) of them
   * (control/stale-work.ts). A named feed or episode that does not exist is not_found.
   */
  async reprocessStale(f: Partial<ReprocessStaleFilter> = {}): Promise<ReprocessStaleResult & { remaining: number }> {
    if (f.feedId !== undefined && !(await this.feeds.exists(f.feedId))) throw notFound(`feed ${f.feedId}`);
    if (f.episodeKey !== undefined && !(await this.episodes.get(f.episodeKey))) throw notFound(`episode ${f.episodeKey}`);
    const work = this.staleWork();
    const result = await work.reprocess({ feedId: f.feedId, episodeKey: f.episodeKey, stage: f.stage, limit: f.limit ?? this.deps.config.reprocess.batch });
    return { ...result, remaining: await work.remaining({ feedId: f.feedId, episodeKey: f.episodeKey, stage: f.stage }) };
  }

  /**
   * The episode's waiting stage job moves ahead of the backlog (class interactive, queue/priority.ts),
   * and so do its later stages' jobs (the episode's stored class, which the chain carries on).
   */
  async bumpPriority(episodeKey: string): Promise<{ queue: QueueName; jobId: string }> {
    const row = await this.episodes.get(episodeKey);
    if (!row) throw notFound(`episode ${episodeKey}`);
    if (!isRunningState(row.state) || !row.jobId) throw conflict(`episode ${episodeKey} is ${row.state}: it has no waiting job to move ahead`);
    const queue = STAGE_OF_STATE[row.state];
    const job = await this.deps.queues.get(queue).getJob(row.jobId);
    const state = job ? await job.getState() : 'gone';
    if (!job || (state !== 'waiting' && state !== 'prioritized')) throw conflict(`episode ${episodeKey}'s ${queue} job is ${state}; only a waiting job can be moved ahead`);
    await this.raiseWaitingJob(row.episodeKey, row.state, row.jobId, 'interactive');
    return { queue, jobId: row.jobId };
  }

  /**
   * A user asks for an episode (POST /api/episodes/:key/process): a skipped or failed one is
   * queued from its artifacts at `priorityClass`; one already on its way is raised to it (its
   * waiting job moves up, its later stages follow at that class); a done one is a conflict
   * (reprocess-episode runs it again).
   */
  async processEpisode(episodeKey: string, priorityClass: PriorityClass = 'interactive'): Promise<{ queued: boolean; state: string; jobId: string | null; priorityClass: PriorityClass }> {
    const loaded = await this.episodes.feedEpisode(episodeKey);
    if (!loaded) throw notFound(`episode ${episodeKey}`);
    const { row, episode } = loaded;
    if (row.state === 'done') throw conflict(`episode ${episodeKey} is already processed; reprocess it (admin) to run it again`);
    if (isRunningState(row.state)) {
      const cls = PRIORITY[row.priorityClass] <= PRIORITY[priorityClass] ? row.priorityClass : priorityClass;
      if (row.jobId) await this.raiseWaitingJob(episodeKey, row.state, row.jobId, cls);
      return { queued: false, state: row.state, jobId: row.jobId, priorityClass: cls };
    }
    const jobId = await this.stageJobs().advanceFromArtifacts(episode, { state: 'pending', priorityClass });
    const now = await this.episodes.get(episodeKey);
    return { queued: jobId !== null, state: now?.state ?? row.state, jobId, priorityClass };
  }

  /**
   * The feed's skipped episodes are queued at `backfill` (process all skipped), newest first, at most
   * PROCESS_SKIPPED_MAX per call (a request stays short; calling again takes the next ones); answers how many.
   */
  async processSkipped(feedId: string): Promise<{ queued: number; episodes: number }> {
    if (!(await this.feeds.exists(feedId))) throw notFound(`feed ${feedId}`);
    const keys = await this.episodes.skippedOfFeed(feedId, PROCESS_SKIPPED_MAX);
    let queued = 0;
    for (const key of keys) {
      const loaded = await this.episodes.feedEpisode(key);
      if (!loaded || loaded.row.state !== 'skipped') continue;
      if ((await this.stageJobs().advanceFromArtifacts(loaded.episode, { state: 'pending', priorityClass: 'backfill' })) !== null) queued++;
    }
    return { queued, episodes: keys.length };
  }

  /** Stores the episode's class and moves its waiting job (if it waits at a less urgent one) up to it. */
  private async raiseWaitingJob(episodeKey: string, state: RunningState, jobId: string, cls: PriorityClass): Promise<void> {
    await this.episodes.setPriorityClass(episodeKey, cls);
    const job = await this.deps.queues.get(STAGE_OF_STATE[state]).getJob(jobId);
    if (!job) return;
    const jobState = await job.getState();
    if ((jobState === 'waiting' || jobState === 'prioritized') && job.priority !== PRIORITY[cls]) {
      await job.updateData({ ...job.data, priorityClass: cls });
      await job.changePriority({ priority: PRIORITY[cls] });
    }
  }

  /** Deletes the audio of finished episodes last written more than `olderThanMs` ago (control/clean-audio.ts). */
  async cleanArtifacts(olderThanMs: number): Promise<CleanedAudio> {
    const done = await this.episodes.keysInState('done');
    return cleanEpisodeAudio(this.store, done, new Date(Date.now() - olderThanMs));
  }

  // ------------------------------------------------------------------ settings

  /** Every runtime setting: the value the roles use, its .env default, and who stored it when (source runtime). */
  async listSettings(): Promise<{ key: RuntimeSettingKey; summary: string; value: unknown; default: unknown; source: 'env' | 'runtime'; updated_at: string | null; updated_by: string | null }[]> {
    const stored = new Map((await this.settings.stored()).map((s) => [s.key, s]));
    const defaults = initialSettings(this.deps.config);
    return RUNTIME_SETTING_KEYS.map((key) => {
      const s = stored.get(key);
      return {
        key,
        summary: RUNTIME_SETTINGS[key].summary,
        value: s ? RUNTIME_SETTINGS[key].schema.parse(s.value) : defaults[key],
        default: defaults[key],
        source: s ? 'runtime' : 'env',
        updated_at: s ? new Date(s.updated_at).toISOString() : null,
        updated_by: s?.updated_by ?? null,
      };
    });
  }

  /** Stores a runtime setting (bad key or value: ControlActionArgsError) and tells every role to read the settings again. */
  async setSetting(key: string, raw: unknown, actor = DEFAULT_ACTOR): Promise<{ key: RuntimeSettingKey; value: unknown; receivers: number }> {
    const k = this.settingKey(key);
    const value = this.parse(k, raw);
    await this.settings.set(k, value, actor);
    return { key: k, value, receivers: await this.publish({ type: 'settings-changed', key: k }) };
  }

  /** Back to the .env / config value, in every role. */
  async resetSetting(key: string): Promise<{ key: RuntimeSettingKey; receivers: number }> {
    const k = this.settingKey(key);
    await this.settings.reset(k);
    return { key: k, receivers: await this.publish({ type: 'settings-changed', key: k }) };
  }

  private settingKey(key: string): RuntimeSettingKey {
    if (!isRuntimeSettingKey(key)) throw new ControlActionArgsError('set-setting', `key: unknown runtime setting ${JSON.stringify(key)}`);
    return key;
  }

  private parse(key: RuntimeSettingKey, raw: unknown): RuntimeSettingValue<RuntimeSettingKey> {
    try {
      return parseSetting(key, raw);
    } catch (e) {
      if (e instanceof RuntimeSettingError) throw new ControlActionArgsError('set-setting', `value: ${e.message}`);
      throw e;
    }
  }

  // ------------------------------------------------------------------ plumbing

  private publish(message: ControlMessage): Promise<number> {
    return publishControl(this.deps.redis, this.deps.config, message);
  }

  private pipeline: StageJobs | null = null;
  private stale: StaleWork | null = null;

  private staleWork(): StaleWork {
    const { config, queues, log } = this.deps;
    this.stale ??= new StaleWork({ config, queues, log, store: this.store, stages: this.stages(), episodes: this.episodes, stageRuns: new StageRunRepository(this.deps.database) }, () => this.stageJobs());
    return this.stale;
  }

  private stageChain: readonly Stage[] | null = null;

  private stages(): readonly Stage[] {
    this.stageChain ??= this.deps.stages ?? buildStages(this.deps.config);
    return this.stageChain;
  }

  /** The queue side of the stage executor, for reprocess-episode (built on first use: the api rarely needs it). */
  private stageJobs(): StageJobs {
    const { config, database, queues, redis, log } = this.deps;
    this.pipeline ??= new StageJobs({
      config,
      database,
      queues,
      log,
      store: this.store,
      stages: this.stages(),
      events: new EpisodeEventPublisher(redis, eventsChannel(config), log),
      episodes: this.episodes,
      stageRuns: new StageRunRepository(database),
      feeds: this.feeds,
    });
    return this.pipeline;
  }

  private handlers(opts: RunOptions): ControlActionHandlers {
    const actor = opts.actor ?? DEFAULT_ACTOR;
    return {
      'restart-role': async ({ role }) => {
        if (this.deps.restarter) return this.deps.restarter.restart(role, 'restart requested through the control plane');
        const receivers = await this.publish({ type: 'restart-role', role, reason: 'restart requested through the control plane' });
        return { detail: `restart sent to ${role} (${receivers} process(es) listening)`, data: { receivers } };
      },
      'pause-queue': async ({ queue }) => {
        await this.deps.queues.get(queue).pause();
        return { detail: `queue ${queue} paused` };
      },
      'resume-queue': async ({ queue }) => {
        await this.deps.queues.get(queue).resume();
        return { detail: `queue ${queue} resumed` };
      },
      'drain-queue': async ({ queue }) => {
        await this.drainQueue(queue);
        return { detail: `queue ${queue} drained (waiting and delayed jobs removed)` };
      },
      'clean-queue': async ({ queue, state }) => {
        const removed = await this.cleanQueue(queue, state);
        return { detail: `${removed} ${state} job(s) removed from ${queue}`, data: { removed } };
      },
      'set-concurrency': async ({ queue, concurrency }) => {
        const receivers = await this.setConcurrency(queue, concurrency, actor);
        return { detail: `concurrency of ${queue} set to ${concurrency} in ${receivers} process(es) (stored as ${queueConcurrencyKey(queue)})`, data: { receivers } };
      },
      'retry-failed': async (args: ControlActionArgs<'retry-failed'>) => {
        const { retried, skipped } = await this.retryFailed(args);
        const scope = `${args.queue ? `queue ${args.queue}` : 'every queue'}${args.cause !== undefined ? `, cause ${JSON.stringify(args.cause)}` : ''}`;
        return { detail: `${retried.length} failed job(s) retried (${scope})${skipped ? `; ${skipped} had moved on` : ''}`, data: { retried: retried.length, skipped, jobs: retried } };
      },
      'retry-job': async ({ queue, id }) => {
        await this.retryJob(queue, id);
        return { detail: `job ${id} of ${queue} retried` };
      },
      'cancel-job': async ({ queue, id }) => {
        const how = await this.cancelJob(queue, id);
        return { detail: how === 'signalled' ? `running job ${id} of ${queue} cancelled through its worker` : `job ${id} of ${queue} removed`, data: { cancelled: how } };
      },
      'promote-job': async ({ queue, id }) => {
        await this.promoteJob(queue, id);
        return { detail: `delayed job ${id} of ${queue} runs now` };
      },
      'pause-feed': async ({ feed }) => {
        await this.setFeedPaused(feed, true);
        return { detail: `feed ${feed} paused (not polled until resumed)` };
      },
      'resume-feed': async ({ feed }) => {
        await this.setFeedPaused(feed, false);
        return { detail: `feed ${feed} resumed` };
      },
      'refresh-feed': async ({ feed }) => {
        const jobId = await this.refreshFeed(feed);
        return { detail: `feed ${feed} poll enqueued`, data: { job_id: jobId } };
      },
      'reprocess-episode': async ({ episode, from_stage }) => {
        const { jobId, removed } = await this.reprocessEpisode(episode, from_stage);
        return { detail: `episode ${episode} runs again from ${from_stage} (${removed} artifact set(s) removed)`, data: { job_id: jobId, removed } };
      },
      'reprocess-stale': async ({ feed, episode, stage, limit }) => {
        const r = await this.reprocessStale({ feedId: feed, episodeKey: episode, stage, limit });
        const scope = episode ? `episode ${episode}` : feed ? `feed ${feed}` : 'every feed';
        return { detail: `${r.queued} stale episode(s) of ${scope}${stage ? ` (stale at ${stage})` : ''} queued to run again at the reprocess priority (${r.checked} checked, ${r.current} already current, ${r.unable} left as they are; ${r.remaining} still stale)`, data: { ...r } };
      },
      'bump-priority': async ({ episode }) => {
        const { queue, jobId } = await this.bumpPriority(episode);
        return { detail: `episode ${episode}'s ${queue} job is next in its queue`, data: { queue, job_id: jobId } };
      },
      'set-setting': async ({ key, value }) => {
        const set = await this.setSetting(key, value, actor);
        return { detail: `${set.key} set to ${JSON.stringify(set.value)} (${set.receivers} process(es) told)`, data: { ...set } };
      },
      'clean-artifacts': async ({ older_than }) => {
        const c = await this.cleanArtifacts(older_than);
        return { detail: `${c.files} audio file(s) of ${c.episodes} finished episode(s) deleted, ${c.bytes} bytes freed`, data: { ...c } };
      },
    };
  }
}
