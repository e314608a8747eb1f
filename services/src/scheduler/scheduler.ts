import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors';
import { settleWithin, SHUTDOWN_BUDGET_MS } from '../core/shutdown';
import type { Logger } from '../core/logger';
import { EPISODE_STATES } from '../db/schema';
import { isRunningState, STAGE_OF_STATE, STATE_OF_STAGE } from '../episodes/state';
import { QUEUE_NAMES, QUEUE_SETTINGS, type EpisodeJobStage, type Queues } from '../queue/queues';
import { newCorrelationId, withLogContext } from '../telemetry/correlation';
import { diskCheck, runCheck, type CheckResult, type HealthCheck } from '../telemetry/health';
import { metrics } from '../telemetry/metrics';
import { AuditRepository } from '../repositories/audit.repository';
import { AudioRetention } from '../control/retention';
import type { LeftRunningRun } from '../repositories/stage-runs.repository';
import { walkChain } from '../pipeline/execute';
import type { StageName } from '../pipeline/stage';
import { EPISODE_STAGES } from '../pipeline/stage-names';
import { projectFingerprint, type PipelineDeps, type StageJobs } from '../jobs/stage.jobs';
import { LeaderLock } from './leader-lock';
import { insideWindow, StaleWork, type ReprocessStaleResult } from '../control/stale-work';
import { DigestSchedule } from '../digest/digest-schedule';

export interface SchedulerOptions {
  /** The DATA_DIR disk check (telemetry/health.ts `diskCheck`); tests inject one that simulates a full disk. */
  diskHealth?: HealthCheck;
  /** The clock of the nightly reprocess window (tests inject one). */
  now?: () => Date;
}

/** How long the nightly reprocess waits before looking again after finding nothing stale. */
const STALE_IDLE_MS = 10 * 60_000;

/** Automatic retries of an episode that keeps failing for lack of disk space (then it stays failed until retried by hand). */
export const OUT_OF_SPACE_MAX_RETRIES = 3;

export interface SchedulerStats {
  ticks: number;
  polls: number;
  reEnqueued: number;
  reaped: number;
  /** Stage runs left `running` that the reconciler settled. */
  runsRepaired: number;
  /** Episodes that failed for lack of disk space, sent again once the disk check was healthy. */
  outOfSpaceRetries: number;
  leaderSince: number | null;
}

/**
 * The scheduler role (ARCHITECTURE §3): only the lock holder works. Each tick it enqueues
 * due feed polls, reconciles episode states with the queues (a running state whose job is
 * gone gets its job back), fails episodes whose job has been active past STUCK_EPISODE_S, and samples queue
 * depth and episode-state gauges.
 */
export class Scheduler {
  readonly lock: LeaderLock;
  readonly stats: SchedulerStats = { ticks: 0, polls: 0, reEnqueued: 0, reaped: 0, runsRepaired: 0, outOfSpaceRetries: 0, leaderSince: null };
  private timer: NodeJS.Timeout | null = null;
  private lockTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly log: Logger;

  private readonly diskHealth: HealthCheck;
  /** What the last out-of-space pass logged (it logs again only when this changes). */
  private outOfSpaceNote = '';

  constructor(
    private readonly deps: PipelineDeps,
    private readonly stageJobs: StageJobs,
    private readonly queues: Queues,
    redis: Redis,
    opts: SchedulerOptions = {},
  ) {
    const { config } = deps;
    this.lock = new LeaderLock(redis, `${config.queue.prefix}:scheduler:leader`, config.scheduler.leaseMs);
    this.log = deps.log.child({ component: 'scheduler' });
    this.diskHealth = opts.diskHealth ?? diskCheck(config.dataDir);
    this.audit = new AuditRepository(deps.database);
    this.now = opts.now ?? (() => new Date());
    this.reprocessAuto = config.reprocess.auto;
    this.staleWork = new StaleWork(deps, () => stageJobs);
    this.retention = new AudioRetention(deps);
    this.digests = new DigestSchedule(deps, queues, this.now);
  }

  start(): void {
    const lockEvery = Math.max(200, Math.floor(this.deps.config.scheduler.leaseMs / 3));
    const lockLoop = async () => {
      const was = this.lock.isLeader;
      const now = await this.lock.tick();
      if (now && !was) {
        this.stats.leaderSince = Date.now();
        this.log.info({ token: this.lock.token }, 'became the active scheduler');
      } else if (!now && was) {
        this.stats.leaderSince = null;
        this.log.warn('lost the scheduler lock; standing by');
      }
      if (!this.stopped) this.lockTimer = setTimeout(lockLoop, lockEvery);
    };
    void lockLoop();
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.tick().catch((e) => this.log.warn({ err: errorMessage(e) }, 'scheduler tick failed'));
      await this.running;
      this.running = null;
      if (!this.stopped) this.timer = setTimeout(loop, this.deps.config.scheduler.tickMs);
    };
    this.timer = setTimeout(loop, 50);
  }

  async tick(): Promise<void> {
    if (!this.lock.isLeader) return;
    this.stats.ticks++;
    await this.enqueueDuePolls();
    await this.reconcile();
    await this.repairStageRuns();
    await this.retryOutOfSpace();
    await this.sampleGauges();
    await this.pruneAudit();
    await this.reprocessStale().catch((e) => this.log.warn({ err: errorMessage(e) }, 'automatic reprocessing of stale episodes failed'));
    await this.retention.tick().catch((e) => this.log.warn({ err: errorMessage(e) }, 'audio retention failed'));
    await this.digests.tick().catch((e) => this.log.warn({ err: errorMessage(e) }, 'scheduled digest failed'));
  }

  /** DIGEST_SCHEDULE (digest/digest-schedule.ts): enqueues the scheduled digest jobs. */
  readonly digests: DigestSchedule;

  /** AUDIO_RETENTION and the DATA_MAX_GB budget (control/retention.ts), due-checked every tick. */
  readonly retention: AudioRetention;

  private readonly audit: AuditRepository;
  private auditPrunedAt = 0;

  private readonly now: () => Date;
  private readonly staleWork: StaleWork;
  /** reprocess.auto (REPROCESS_AUTO, or the runtime setting once one was applied). */
  private reprocessAuto: boolean;

  setReprocessAuto(on: boolean): void {
    if (on !== this.reprocessAuto) this.log.info({ reprocess_auto: on }, `automatic reprocessing of stale episodes ${on ? 'on' : 'off'}`);
    this.reprocessAuto = on;
    this.staleIdleUntil = 0;
  }

  /**
   * The nightly reprocess (reprocess.auto, control/stale-work.ts): inside REPROCESS_WINDOW, while
   * no job of a new episode or of a user's request waits, stale episodes are queued at the
   * reprocess priority in batches of REPROCESS_BATCH, the next batch once the previous one's jobs
   * have left the queues. Answers what it did, or why it did nothing.
   */
  async reprocessStale(): Promise<ReprocessStaleResult | { skipped: 'off' | 'outside_window' | 'new_work_waiting' | 'batch_in_queue' | 'nothing_stale_lately' }> {
    const { window, batch } = this.deps.config.reprocess;
    const now = this.now();
    if (!this.reprocessAuto) return { skipped: 'off' };
    if (!insideWindow(window, now)) return { skipped: 'outside_window' };
    // Nothing was stale a moment ago: the stale query is not run every tick for nothing.
    if (now.getTime() < this.staleIdleUntil) return { skipped: 'nothing_stale_lately' };
    if ((await this.staleWork.urgentBacklog()) > 0) return { skipped: 'new_work_waiting' };
    const waiting = await this.staleWork.reprocessWaiting();
    if (waiting >= batch) return { skipped: 'batch_in_queue' };
    const result = await this.staleWork.reprocess({ limit: batch - waiting });
    this.staleIdleUntil = result.checked ? 0 : now.getTime() + STALE_IDLE_MS;
    return result;
  }

  private staleIdleUntil = 0;

  /** admin_audit older than AUDIT_RETENTION_DAYS goes, at most once an hour (0 days: kept forever). */
  async pruneAudit(now = Date.now()): Promise<number> {
    const days = this.deps.config.scheduler.auditRetentionDays;
    if (days === 0 || now - this.auditPrunedAt < 3600_000) return 0;
    this.auditPrunedAt = now;
    const n = await this.audit.prune(days);
    if (n) this.log.info({ deleted: n, older_than_days: days }, 'admin audit pruned');
    return n;
  }

  /** The runtime poll interval (feeds.poll_interval_s) once one was applied; until then every feed keeps its own. */
  private pollIntervalS: number | undefined;

  /** A new poll interval (runtime setting): every feed's next poll moves to one interval after its last one, now. */
  async setPollInterval(intervalS: number): Promise<number> {
    this.pollIntervalS = intervalS;
    const n = await this.deps.feeds.applyPollInterval(intervalS);
    this.log.info({ poll_interval_s: intervalS, feeds: n }, 'poll interval changed');
    return n;
  }

  async enqueueDuePolls(): Promise<number> {
    const due = await this.deps.feeds.claimDue(this.deps.config.feeds.pollConcurrency * 4, this.pollIntervalS);
    // Each poll starts its own correlation id: the episodes it finds carry it through every stage.
    for (const id of due) await this.queues.addPollJob(id, newCorrelationId());
    this.stats.polls += due.length;
    return due.length;
  }

  /**
   * Episodes in a running state whose job is not waiting, delayed or active (lost with a
   * Redis restart, a crash between commit and enqueue, a finished job whose successor never
   * got enqueued) are sent on again from their artifacts. Episodes whose job has been active
   * for more than STUCK_EPISODE_S are failed, the reason kept; a backlog wait is never "stuck".
   */
  async reconcile(): Promise<{ reEnqueued: number; reaped: number }> {
    const { config, episodes } = this.deps;
    let reEnqueued = 0;
    let reaped = 0;
    const candidates = await episodes.runningSince(config.scheduler.reconcileGraceMs);
    for (const ep of candidates) {
      if (!isRunningState(ep.state)) continue;
      const queue = this.queues.get(STAGE_OF_STATE[ep.state]);
      const jobState = ep.jobId ? await queue.getJobState(ep.jobId) : 'unknown';
      if (jobState === 'active') {
        // A job whose worker is alive (its lock is renewed) but that runs far past any sane time: the stage hangs.
        const job = await queue.getJob(ep.jobId!);
        const runningS = job?.processedOn ? (Date.now() - job.processedOn) / 1000 : 0;
        if (runningS > config.scheduler.stuckAfterS) {
          await this.reap(ep.episodeKey, ep.feedId, ep.state, `stuck: ${STAGE_OF_STATE[ep.state]} job ${ep.jobId} active for ${Math.round(runningS)} s`, ep.attempts);
          reaped++;
        }
        continue;
      }
      // Waiting in a backlog is not stuck, however long it takes.
      if (jobState === 'waiting' || jobState === 'delayed' || jobState === 'prioritized' || jobState === 'waiting-children') continue;
      if (jobState === 'failed') {
        const job = ep.jobId ? await queue.getJob(ep.jobId) : null;
        // A job that failed after its stage committed its artifact (the bookkeeping after the
        // commit hit a Postgres or Redis outage) did the stage's work: send the episode on instead.
        if (!(await this.stageCommitted(ep.episodeKey, STAGE_OF_STATE[ep.state]))) {
          await this.reap(ep.episodeKey, ep.feedId, ep.state, job?.failedReason ?? 'job failed', job?.attemptsMade ?? ep.attempts);
          reaped++;
          continue;
        }
        this.log.info({ episode_key: ep.episodeKey, stage: STAGE_OF_STATE[ep.state], job_id: ep.jobId, err: job?.failedReason }, 'job failed after its stage committed its artifact: sending the episode on');
        if (ep.jobId) await queue.remove(ep.jobId).catch(() => undefined);
      }
      // unknown (lost) or completed without the episode moving on: send it on again.
      if (ep.jobId && jobState === 'completed') await queue.remove(ep.jobId).catch(() => undefined);
      const loaded = await episodes.feedEpisode(ep.episodeKey);
      if (!loaded) continue;
      try {
        // Re-enqueued under the episode's own correlation id (the poll that found it), not a new one.
        await withLogContext({ correlation_id: loaded.row.correlationId ?? undefined, episode_key: ep.episodeKey }, () =>
          this.stageJobs.advanceFromArtifacts(loaded.episode, { state: ep.state === 'pending' ? 'pending' : undefined }),
        );
        reEnqueued++;
        this.log.info({ episode_key: ep.episodeKey, correlation_id: loaded.row.correlationId ?? undefined, state: ep.state, job_id: ep.jobId, job_state: jobState }, 'reconciler re-enqueued episode');
      } catch (e) {
        this.log.warn({ episode_key: ep.episodeKey, err: errorMessage(e) }, 'reconciler could not re-enqueue');
      }
    }
    this.stats.reEnqueued += reEnqueued;
    this.stats.reaped += reaped;
    return { reEnqueued, reaped };
  }

  /**
   * Episodes that failed because the disk was full (ENOSPC) are sent again from their artifacts
   * once the DATA_DIR disk check is healthy, never while it is degraded or unhealthy (low). Each
   * gets OUT_OF_SPACE_MAX_RETRIES such retries (counted from its failed stage's attempts in
   * stage_runs): an episode that fills the disk by itself must not loop; after that it stays
   * failed until retried by hand. The disk is checked only when such an episode exists.
   */
  async retryOutOfSpace(): Promise<{ waiting: number; retried: number; disk: CheckResult | null }> {
    const { config, episodes } = this.deps;
    const maxStageAttempts = Object.fromEntries(Object.keys(STATE_OF_STAGE).map((stage) => [stage, QUEUE_SETTINGS[stage as EpisodeJobStage].attempts * (OUT_OF_SPACE_MAX_RETRIES + 1)]));
    const failed = await episodes.failedOutOfSpace(config.scheduler.reconcileGraceMs, maxStageAttempts);
    if (!failed.length) return { waiting: 0, retried: 0, disk: null };
    const disk = await runCheck({ name: 'disk_space', check: this.diskHealth, impact: 'critical' });
    if (disk.status !== 'healthy') {
      this.noteOutOfSpace(`${disk.status}:${failed.length}`, { waiting: failed.length, disk: disk.status, detail: disk.detail }, 'episodes that failed for lack of disk space wait until the disk check is healthy');
      return { waiting: failed.length, retried: 0, disk };
    }
    this.outOfSpaceNote = '';
    let retried = 0;
    for (const ep of failed) {
      const loaded = await episodes.feedEpisode(ep.episodeKey);
      if (!loaded) continue;
      const retry = Math.max(1, Math.ceil(ep.stageAttempts / QUEUE_SETTINGS[ep.failedStage as EpisodeJobStage].attempts));
      try {
        await withLogContext({ correlation_id: loaded.row.correlationId ?? undefined, episode_key: ep.episodeKey }, () => this.stageJobs.advanceFromArtifacts(loaded.episode, { state: 'pending' }));
        const now = await episodes.get(ep.episodeKey);
        if (now && isRunningState(now.state)) {
          await episodes.noteReason(ep.episodeKey, now.state, `retry ${retry} of ${OUT_OF_SPACE_MAX_RETRIES}: ${ep.failedStage} failed for lack of disk space (${ep.lastError}); the disk check is healthy again (${disk.detail ?? 'ok'})`);
        }
        retried++;
        this.log.info({ episode_key: ep.episodeKey, stage: ep.failedStage, err: ep.lastError, retry, disk: disk.detail }, 'disk check healthy again: retrying an episode that failed for lack of disk space');
      } catch (e) {
        this.log.warn({ episode_key: ep.episodeKey, err: errorMessage(e) }, 'could not retry an episode that failed for lack of disk space');
      }
    }
    this.stats.outOfSpaceRetries += retried;
    return { waiting: failed.length - retried, retried, disk };
  }

  private noteOutOfSpace(key: string, fields: Record<string, unknown>, msg: string): void {
    if (key === this.outOfSpaceNote) return;
    this.outOfSpaceNote = key;
    this.log.info(fields, msg);
  }

  /** Whether `stage`'s artifact for the episode's current inputs is committed (project has none). */
  private async stageCommitted(episodeKey: string, stage: string): Promise<boolean> {
    if (stage === 'project') return false;
    const loaded = await this.deps.episodes.feedEpisode(episodeKey);
    if (!loaded) return false;
    const walk = await walkChain(this.deps, loaded.episode).catch(() => null);
    return Boolean(walk?.inputs[stage as StageName]);
  }

  /**
   * Stage runs left `running` by a worker that died or lost Postgres between a stage's start and
   * its finish, once their episode is no longer at that stage: the row is settled from what is
   * committed. `done` when the stage's artifact (for project: the episode's projection of its
   * current inputs) exists, else `failed` with the episode's error when it failed there, or with
   * "interrupted". A run whose episode still waits on that stage is left to its job (a retry
   * restarts the row). Returns how many rows changed.
   */
  async repairStageRuns(): Promise<number> {
    const { config, stageRuns, store } = this.deps;
    let repaired = 0;
    const runs = await stageRuns.leftRunning(Object.keys(STATE_OF_STAGE), config.scheduler.reconcileGraceMs);
    for (const run of runs) {
      if (isRunningState(run.episodeState) && STAGE_OF_STATE[run.episodeState] === run.stage) continue;
      let settled: { status: 'done' | 'failed'; error?: string; artifactPath?: string };
      if (run.stage === 'project') {
        const projected = (run.episodeState === 'done' || run.episodeState === 'skipped') && (await this.projectedFingerprint(run.episodeKey)) === run.fingerprint;
        settled = projected ? { status: 'done' } : this.interrupted(run);
      } else {
        const ref = await store.find(run.feedId, run.episodeKey, run.stage as StageName, run.fingerprint);
        settled = ref ? { status: 'done', artifactPath: ref.dir } : this.interrupted(run);
      }
      if (await stageRuns.settleLeftRunning(run, settled)) {
        repaired++;
        this.log.info({ episode_key: run.episodeKey, stage: run.stage, fingerprint: run.fingerprint, episode_state: run.episodeState, status: settled.status, err: settled.error }, 'reconciler settled a stage run left running');
      }
    }
    this.stats.runsRepaired += repaired;
    return repaired;
  }

  private interrupted(run: LeftRunningRun): { status: 'failed'; error: string } {
    if (run.episodeState === 'failed' && run.failedStage === run.stage && run.lastError) return { status: 'failed', error: run.lastError };
    return { status: 'failed', error: `interrupted: the run never finished (its worker stopped or lost Postgres mid-stage); the episode is ${run.episodeState} now` };
  }

  /** The fingerprint a projection of the episode's committed artifacts has now (null: the chain is not complete). */
  private async projectedFingerprint(episodeKey: string): Promise<string | null> {
    const loaded = await this.deps.episodes.feedEpisode(episodeKey);
    if (!loaded) return null;
    const walk = await walkChain(this.deps, loaded.episode).catch(() => null);
    return walk && !walk.next && !walk.skipped ? projectFingerprint(walk.inputs) : null;
  }

  private async reap(episodeKey: string, feedId: string, state: string, error: string, attempts: number): Promise<void> {
    const stage = isRunningState(state) ? STAGE_OF_STATE[state] : state;
    await this.deps.episodes.setState(episodeKey, { state: 'failed', failedStage: stage, error, attempts, reason: `${stage} failed: ${error}` });
    await this.deps.events.publish({ episode_key: episodeKey, feed_id: feedId, state: 'failed', stage, error });
    this.log.warn({ episode_key: episodeKey, stage, err: error }, 'episode failed by the reaper');
  }

  async sampleGauges(): Promise<void> {
    for (const name of QUEUE_NAMES) {
      const counts = await this.queues.get(name).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
      for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: name, state }, n);
      metrics.queuePaused.set({ queue: name }, (await this.queues.get(name).isPaused()) ? 1 : 0);
    }
    const byState = await this.deps.episodes.countByState();
    for (const s of EPISODE_STATES) metrics.episodesInState.set({ state: s }, byState[s] ?? 0);
    const oldest = await this.deps.episodes.oldestInState();
    for (const s of EPISODE_STATES) if (isRunningState(s)) metrics.episodeOldestInStateSeconds.set({ state: s }, oldest[s] ?? 0);
    const artifacts = await this.deps.stageRuns.committedArtifactsByStage();
    for (const kind of new Set([...EPISODE_STAGES, ...Object.keys(artifacts)])) metrics.corpusArtifacts.set({ kind }, artifacts[kind] ?? 0);
  }

  /**
   * Stops ticking; an in-flight tick gets SHUTDOWN_BUDGET_MS.schedulerTick and the lock release
   * SHUTDOWN_BUDGET_MS.close (both wait on Redis or Postgres, which may be unreachable: the
   * commands of this role's Redis connection retry forever). An unreleased lock expires after its lease.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.lockTimer) clearTimeout(this.lockTimer);
    if ((await settleWithin(this.running, SHUTDOWN_BUDGET_MS.schedulerTick)) === 'timeout') this.log.warn('scheduler tick still waiting (Redis or Postgres unreachable?): leaving it');
    if ((await settleWithin(this.lock.release(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') this.log.warn({ lease_ms: this.lock.leaseMs }, 'could not release the scheduler lock (Redis unreachable?): it expires after its lease');
  }
}
