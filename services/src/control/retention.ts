import type { ArtifactStore } from '../artifacts/store';
import { formatAudioRetention, parseAudioRetention, type AudioRetention as AudioRetentionPolicy } from '../audio/retention-policy';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { Database } from '../db/database';
import { RetentionRepository, type FeedScope } from '../repositories/retention.repository';
import { metrics } from '../telemetry/metrics';
import { cleanAudioUntilFreed, cleanEpisodeAudio, type CleanedAudio } from './clean-audio';
import { directoryBytes } from './data-usage';

/** AUDIO_RETENTION is applied at most this often. */
export const RETENTION_EVERY_MS = 3600_000;
/** DATA_DIR is walked for its size at most this often (the gauge and the budget use the cached value in between). */
export const DATA_USAGE_EVERY_MS = 300_000;
/** Budget cleanup frees down to this share of DATA_MAX_GB, so it does not run again at the next growth. */
export const BUDGET_TARGET = 0.85;
const GIB = 2 ** 30;

export interface RetentionDeps {
  config: Config;
  store: ArtifactStore;
  database: Database;
  log: Logger;
}

export interface RetentionPass {
  /** What AUDIO_RETENTION (each feed's) deleted (null: not due this time, or every feed keeps all). */
  policy: CleanedAudio | null;
  /** What the disk budget deleted (null: no budget, or under it). */
  budget: CleanedAudio | null;
  /** DATA_DIR bytes after this pass (null: not measured yet). */
  dataBytes: number | null;
}

/**
 * Audio retention on the scheduler leader (like the audit pruning): hourly, AUDIO_RETENTION
 * deletes the audio of done episodes beyond the policy; every few minutes DATA_DIR is measured
 * (podbrain_data_bytes) and, above DATA_MAX_GB, the audio of the oldest done episodes goes until
 * usage is under BUDGET_TARGET of the budget. Deletion is control/clean-audio.ts (done episodes
 * only, checked again right before, never through a symlink); the ingest artifact stays
 * committed, so no stage runs again, and a later transcribe downloads the audio if it needs it.
 */
export class AudioRetention {
  private readonly repo: RetentionRepository;
  private readonly log: Logger;
  private policyAt = 0;
  private measuredAt = 0;
  private dataBytes: number | null = null;

  constructor(private readonly deps: RetentionDeps) {
    this.repo = new RetentionRepository(deps.database);
    this.log = deps.log.child({ component: 'retention' });
  }

  get budgetBytes(): number {
    return Math.floor(this.deps.config.retention.dataMaxGb * GIB);
  }

  /** One scheduler tick: whatever is due. `force` runs the policy and measures now. */
  async tick(now = Date.now(), force = false): Promise<RetentionPass> {
    let policy: CleanedAudio | null = null;
    if (force || now - this.policyAt >= RETENTION_EVERY_MS) {
      this.policyAt = now;
      policy = await this.applyPolicy(now);
    }
    if (force || policy?.files || now - this.measuredAt >= DATA_USAGE_EVERY_MS) {
      this.measuredAt = now;
      await this.measure();
    }
    const budget = await this.enforceBudget();
    return { policy, budget, dataBytes: this.dataBytes };
  }

  /**
   * Deletes what each feed's AUDIO_RETENTION says must go: the feeds with their own (feeds.policy
   * audioRetention) by theirs, every other feed by the appliance's. Null when every feed keeps all.
   */
  async applyPolicy(now = Date.now()): Promise<CleanedAudio | null> {
    const total: CleanedAudio = { files: 0, bytes: 0, episodes: 0 };
    let applied = false;
    for (const group of await this.policyGroups()) {
      const cleaned = await this.applyOne(group.policy, group.scope, now);
      if (!cleaned) continue;
      applied = true;
      this.note('policy', cleaned, { policy: formatAudioRetention(group.policy), ...('only' in group.scope ? { feeds: group.scope.only } : {}) });
      total.files += cleaned.files;
      total.bytes += cleaned.bytes;
      total.episodes += cleaned.episodes;
    }
    return applied ? total : null;
  }

  /** The appliance's policy for the feeds without their own, then one group per distinct feed policy. */
  private async policyGroups(): Promise<{ policy: AudioRetentionPolicy; scope: FeedScope }[]> {
    const byPolicy = new Map<string, { policy: AudioRetentionPolicy; feeds: string[] }>();
    const overridden: string[] = [];
    for (const o of await this.repo.feedOverrides()) {
      const policy = parseAudioRetention(o.spec);
      if (!policy) continue; // unreadable (never stored by the api): the feed follows the appliance's
      overridden.push(o.feedId);
      const key = formatAudioRetention(policy);
      const group = byPolicy.get(key) ?? { policy, feeds: [] };
      group.feeds.push(o.feedId);
      byPolicy.set(key, group);
    }
    return [{ policy: this.deps.config.retention.audio, scope: { except: overridden } }, ...[...byPolicy.values()].map((g) => ({ policy: g.policy, scope: { only: g.feeds } }))];
  }

  private async applyOne(policy: AudioRetentionPolicy, scope: FeedScope, now: number): Promise<CleanedAudio | null> {
    const stillDeletable = { stillDeletable: (ep: { episodeKey: string }) => this.repo.isDone(ep.episodeKey) };
    switch (policy.mode) {
      case 'keep-all':
        return null;
      case 'delete-after-transcribe':
        return cleanEpisodeAudio(this.deps.store, await this.repo.doneOldestFirst(scope), undefined, stillDeletable);
      case 'last':
        return cleanEpisodeAudio(this.deps.store, await this.repo.doneBeyondNewest(policy.n, scope), undefined, stillDeletable);
      case 'days':
        return cleanEpisodeAudio(this.deps.store, await this.repo.doneOldestFirst(scope), new Date(now - policy.days * 86_400_000), stillDeletable);
    }
  }

  /** Walks DATA_DIR; sets podbrain_data_bytes and podbrain_data_budget_bytes. */
  async measure(): Promise<number> {
    this.dataBytes = await directoryBytes(this.deps.config.dataDir);
    metrics.dataBytes.set(this.dataBytes);
    metrics.dataBudgetBytes.set(this.budgetBytes);
    return this.dataBytes;
  }

  /** Above DATA_MAX_GB (by the last measurement): the oldest done episodes' audio goes until under BUDGET_TARGET of it. */
  async enforceBudget(): Promise<CleanedAudio | null> {
    const budget = this.budgetBytes;
    if (budget <= 0 || this.dataBytes === null || this.dataBytes <= budget) return null;
    const over = this.dataBytes - Math.floor(budget * BUDGET_TARGET);
    const cleaned = await cleanAudioUntilFreed(this.deps.store, await this.repo.doneOldestFirst(), over, {
      stillDeletable: (ep) => this.repo.isDone(ep.episodeKey),
    });
    const before = this.dataBytes;
    await this.measure();
    this.note('budget', cleaned, { data_bytes_before: before, data_bytes: this.dataBytes, budget_bytes: budget });
    if (this.dataBytes > budget) {
      this.log.warn({ data_bytes: this.dataBytes, budget_bytes: budget }, 'DATA_DIR is still over DATA_MAX_GB: no more audio of done episodes to delete (transcripts, index and in-progress audio remain)');
    }
    return cleaned;
  }

  private note(reason: 'policy' | 'budget', cleaned: CleanedAudio, fields: Record<string, unknown>): void {
    if (!cleaned.files) return;
    metrics.audioDeletedBytesTotal.inc({ reason }, cleaned.bytes);
    this.log.info({ ...fields, files: cleaned.files, episodes: cleaned.episodes, bytes: cleaned.bytes }, reason === 'policy' ? 'audio deleted by AUDIO_RETENTION' : 'audio deleted to stay under DATA_MAX_GB');
  }
}
