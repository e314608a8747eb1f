import type { ArtifactStore } from '../artifacts/store';
import { formatAudioRetention } from '../audio/retention-policy';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { Database } from '../db/database';
import { RetentionRepository } from '../repositories/retention.repository';
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
  /** What AUDIO_RETENTION deleted (null: not due this time, or keep-all). */
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

  /** Deletes what AUDIO_RETENTION says must go; null for keep-all. */
  async applyPolicy(now = Date.now()): Promise<CleanedAudio | null> {
    const policy = this.deps.config.retention.audio;
    const stillDeletable = { stillDeletable: (ep: { episodeKey: string }) => this.repo.isDone(ep.episodeKey) };
    let cleaned: CleanedAudio;
    switch (policy.mode) {
      case 'keep-all':
        return null;
      case 'delete-after-transcribe':
        cleaned = await cleanEpisodeAudio(this.deps.store, await this.repo.doneOldestFirst(), undefined, stillDeletable);
        break;
      case 'last':
        cleaned = await cleanEpisodeAudio(this.deps.store, await this.repo.doneBeyondNewest(policy.n), undefined, stillDeletable);
        break;
      case 'days':
        cleaned = await cleanEpisodeAudio(this.deps.store, await this.repo.doneOldestFirst(), new Date(now - policy.days * 86_400_000), stillDeletable);
        break;
    }
    this.note('policy', cleaned, { policy: formatAudioRetention(policy) });
    return cleaned;
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
