import { MultiBar, type SingleBar } from 'cli-progress';
import type { Logger } from '../core/logger';
import type { EpisodeReport, RunnerEvent } from '../pipeline/runner';
import { EPISODE_STAGES } from '../pipeline/stage';

/** Shows what `podbrain run` is doing: bars with ETAs on a terminal, JSON lines otherwise. */
export interface RunProgress {
  feedLoaded(feedTitle: string, episodes: number, notModified: boolean): void;
  event(e: RunnerEvent): void;
  episodeDone(r: EpisodeReport): void;
  stop(): void;
}

const STAGE_COUNT = EPISODE_STAGES.length;

export function createProgress(opts: { tty: boolean; total: number; log: Logger }): RunProgress {
  return opts.tty ? new TtyProgress(opts.total) : new JsonProgress(opts.log);
}

class JsonProgress implements RunProgress {
  constructor(private readonly log: Logger) {}

  feedLoaded(feed: string, episodes: number, notModified: boolean) {
    this.log.info({ event: 'feed', feed, episodes, not_modified: notModified }, 'feed loaded');
  }

  event(e: RunnerEvent) {
    if (e.type === 'stage-start') this.log.info({ event: 'stage-start', episode_key: e.episode.episodeKey, stage: e.stage }, `${e.stage} started`);
    if (e.type === 'stage-end') {
      const { stage, status, durationMs, reason } = e.report;
      this.log.info({ event: 'stage-end', episode_key: e.episode.episodeKey, stage, status, duration_ms: durationMs, reason }, `${stage} ${status}`);
    }
  }

  episodeDone(r: EpisodeReport) {
    this.log.info({ event: 'episode', episode_key: r.episodeKey, title: r.title, state: r.state }, `episode ${r.state}`);
  }

  stop() {}
}

class TtyProgress implements RunProgress {
  private readonly bars = new MultiBar(
    {
      format: ' {bar} {percentage}% | {label} | {stage} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 50,
      stream: process.stderr,
    },
    { format: ' {bar} {percentage}% | {label} | {stage} | ETA {eta_formatted}', barCompleteChar: '█', barIncompleteChar: '░' },
  );
  private readonly overall: SingleBar;
  private current: SingleBar | null = null;
  private stageIndex = 0;

  constructor(total: number) {
    this.overall = this.bars.create(Math.max(total, 1), 0, { label: 'episodes'.padEnd(40), stage: `0/${total}` });
  }

  feedLoaded(feed: string, episodes: number, notModified: boolean) {
    this.bars.log(`feed ${feed}: ${episodes} episode(s)${notModified ? ' (not modified)' : ''}\n`);
  }

  event(e: RunnerEvent) {
    const scale = 1000;
    if (e.type === 'stage-start') {
      this.stageIndex = EPISODE_STAGES.indexOf(e.stage as (typeof EPISODE_STAGES)[number]);
      if (!this.current) this.current = this.bars.create(scale * STAGE_COUNT, 0, { label: e.episode.title.slice(0, 40).padEnd(40), stage: e.stage });
      this.current.update(this.stageIndex * scale, { stage: `${e.stage} (${this.stageIndex + 1}/${STAGE_COUNT})` });
    } else if (e.type === 'stage-progress' && this.current) {
      this.current.update(Math.round((this.stageIndex + Math.min(1, e.fraction)) * scale));
    } else if (e.type === 'stage-end' && this.current) {
      this.current.update((this.stageIndex + 1) * scale, { stage: `${e.report.stage} ${e.report.status}` });
    }
  }

  episodeDone(r: EpisodeReport) {
    if (this.current) {
      this.bars.remove(this.current);
      this.current = null;
    }
    this.overall.increment(1, { stage: `${this.overall.getProgress() * this.overall.getTotal() + 1}/${this.overall.getTotal()}` });
    this.bars.log(`${r.state.padEnd(10)} ${r.title}\n`);
  }

  stop() {
    this.bars.stop();
  }
}
