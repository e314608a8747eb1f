import type { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { StageJobs } from '../jobs/stage.jobs';
import { currentRecipes, walkChain } from '../pipeline/execute';
import type { Stage, StageName } from '../pipeline/stage';
import { PRIORITY } from '../queue/priority';
import type { EpisodeJobStage, Queues } from '../queue/queues';
import type { EpisodeRepository } from '../repositories/episodes.repository';
import type { CurrentRecipes, StageRunRepository } from '../repositories/stage-runs.repository';

/**
 * Stale work (issue 15): `done` episodes whose latest run of a stage was made with a recipe
 * (model, prompt, settings: StagePlan.recipe) the configuration no longer plans. Counted in
 * SQL from stage_runs.recipe; reprocessed from the first stage whose artifact for the current
 * plan is missing, at the `reprocess` priority (below every other class: new episodes and the
 * back catalogue always go first). Used by the control plane (admin API, CLI, agent) and by the
 * scheduler's nightly window.
 */
export interface StaleWorkDeps {
  config: Config;
  store: ArtifactStore;
  stages: readonly Stage[];
  queues: Queues;
  episodes: EpisodeRepository;
  stageRuns: StageRunRepository;
  log: Logger;
}

export interface StaleStage {
  stage: string;
  /** `done` episodes made with another recipe than the current one. */
  stale: number;
  /** `done` episodes that have a run of this stage. */
  doneTotal: number;
  /** Runs recorded before recipes were: checked (and, when current, marked so) by reprocess-stale. */
  unknown: number;
  /** The current recipe hash(es), short; several for transcribe (one per ASR engine). */
  currentRecipes: string[];
}

export interface ReprocessStaleResult {
  /** Episodes sent on again at the reprocess priority. */
  queued: number;
  /** Candidates looked at (at most the limit). */
  checked: number;
  /** Candidates found current after all (recorded before recipes, or back on an older recipe whose artifacts exist): marked, not queued. */
  current: number;
  /** Candidates that could not be queued: gone, no longer done, blocked by a stage not configured here, or an error. */
  unable: number;
}

export interface ReprocessStaleFilter {
  feedId?: string;
  episodeKey?: string;
  /** Only episodes stale (or unknown) at this stage; each still runs from its first stale stage. */
  stage?: string;
  limit: number;
}

/** The stage queues whose waiting jobs are per-episode work. */
const STAGE_QUEUES: readonly EpisodeJobStage[] = ['ingest', 'transcribe', 'enrich', 'index', 'project'];

export class StaleWork {
  constructor(
    private readonly deps: StaleWorkDeps,
    private readonly stageJobs: () => StageJobs,
  ) {}

  /** The tracked stages' current recipes (Stage.recipes): hashes, per stage. */
  currentRecipes(): CurrentRecipes {
    return currentRecipes(this.deps.config, this.deps.stages);
  }

  async summary(f: { feedId?: string } = {}): Promise<StaleStage[]> {
    const current = this.currentRecipes();
    const counts = await this.deps.stageRuns.staleCounts(current, f);
    return counts.map((c) => ({ stage: c.stage, stale: c.stale, doneTotal: c.doneTotal, unknown: c.unknown, currentRecipes: (current[c.stage] ?? []).map((h) => h.slice(0, 12)) }));
  }

  /** Stale (or unknown) `done` episodes left. */
  remaining(f: Omit<ReprocessStaleFilter, 'limit'>): Promise<number> {
    return this.deps.stageRuns.countStaleEpisodes(this.currentRecipes(), f);
  }

  /**
   * Sends up to `limit` stale episodes on again. Each candidate's chain is planned with the
   * current configuration: the runs whose artifacts match the plan are marked current (a run
   * recorded before recipes were, or a recipe the configuration went back to), and the episode
   * is queued from the first stage without an artifact, at PRIORITY.reprocess. A candidate whose
   * every artifact is current is not queued unless a recorded recipe was stale (its projection
   * is then rebuilt from the current artifacts). An episode whose chain is blocked here (a stage
   * not configured) or skipped is left done.
   */
  async reprocess(f: ReprocessStaleFilter): Promise<ReprocessStaleResult> {
    const { episodes, stageRuns, log } = this.deps;
    const candidates = await stageRuns.staleEpisodes(this.currentRecipes(), f);
    const result: ReprocessStaleResult = { queued: 0, checked: candidates.length, current: 0, unable: 0 };
    for (const c of candidates) {
      try {
        const loaded = await episodes.feedEpisode(c.episodeKey);
        if (!loaded || loaded.row.state !== 'done') {
          result.unable++;
          continue;
        }
        const walk = await walkChain(this.deps, loaded.episode);
        if (walk.skipped || walk.blocked) {
          result.unable++;
          continue;
        }
        for (const [stage, ref] of Object.entries(walk.inputs) as [StageName, NonNullable<(typeof walk.inputs)[StageName]>][]) {
          const recipe = walk.recipes[stage];
          if (recipe) await stageRuns.markCurrent(c.episodeKey, stage, ref.fingerprint, recipe, ref.dir);
        }
        if (!walk.next && !c.stale.length) {
          result.current++;
          continue;
        }
        if ((await this.stageJobs().advanceFromArtifacts(loaded.episode, { state: 'pending', priorityClass: 'reprocess' })) !== null) result.queued++;
        else result.unable++;
      } catch (e) {
        result.unable++;
        log.warn({ episode_key: c.episodeKey, err: errorMessage(e) }, 'reprocess-stale could not queue an episode');
      }
    }
    if (result.checked) log.info({ ...result, feed_id: f.feedId, episode_key: f.episodeKey, stage: f.stage }, 'stale episodes reprocessed');
    return result;
  }

  /** Jobs waiting on the stage queues at the interactive or new class (or without a priority: they run first anyway). */
  async urgentBacklog(): Promise<number> {
    let n = 0;
    for (const q of STAGE_QUEUES) {
      const counts = await this.deps.queues.get(q).getCountsPerPriority([0, PRIORITY.interactive, PRIORITY.new]);
      n += Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return n;
  }

  /** Reprocess jobs still waiting on the stage queues (the window queues a new batch only as these drain). */
  async reprocessWaiting(): Promise<number> {
    let n = 0;
    for (const q of STAGE_QUEUES) n += (await this.deps.queues.get(q).getCountsPerPriority([PRIORITY.reprocess]))[String(PRIORITY.reprocess)] ?? 0;
    return n;
  }
}

/** `HH:MM-HH:MM`, local time of the process (TZ); the end is excluded and may be past midnight (22:00-05:00). */
export const REPROCESS_WINDOW_RE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether `now` (local time) is inside the window; a window whose start equals its end is never open. */
export function insideWindow(window: string, now: Date): boolean {
  const m = REPROCESS_WINDOW_RE.exec(window);
  if (!m) return false;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  const t = now.getHours() * 60 + now.getMinutes();
  return start < end ? t >= start && t < end : start > end ? t >= start || t < end : false;
}
