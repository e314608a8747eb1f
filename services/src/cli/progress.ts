import { MultiBar, type SingleBar } from 'cli-progress';
import type { Logger } from '../core/logger';
import type { EpisodeReport, RunnerEvent } from '../pipeline/runner';
import { EPISODE_STAGES } from '../pipeline/stage';

/**
 * Shows what `podbrain run` is doing, on stderr (stdout is the report):
 *  - `tty`: bars with ETAs; log lines and warnings are printed above them;
 *  - `plain` (stderr not a terminal): one short line per finished episode;
 *  - `json` (--json): JSON lines, one per stage start/end and episode.
 */
export interface RunProgress {
  feedLoaded(feedTitle: string, episodes: number, notModified: boolean): void;
  event(e: RunnerEvent): void;
  episodeDone(r: EpisodeReport): void;
  /** A line for people (a warning, a human log line) that must not break the display. */
  print(line: string): void;
  stop(): void;
}

export type ProgressMode = 'tty' | 'plain' | 'json';

const STAGE_COUNT = EPISODE_STAGES.length;

export function createProgress(opts: { mode: ProgressMode; total: number; log: Logger }): RunProgress {
  if (opts.mode === 'tty') return new TtyProgress(opts.total);
  if (opts.mode === 'json') return new JsonProgress(opts.log);
  return new PlainProgress(opts.total);
}

const stderrLine = (line: string) => void process.stderr.write(`${line}\n`);

class PlainProgress implements RunProgress {
  private done = 0;

  constructor(private readonly total: number) {}

  feedLoaded() {}

  event() {}

  episodeDone(r: EpisodeReport) {
    this.done++;
    stderrLine(`[${this.done}/${this.total}] ${r.state.padEnd(10)} ${r.title}`);
  }

  print(line: string) {
    stderrLine(line);
  }

  stop() {}
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
    this.log.info({ event: 'episode', episode_key: r.episodeKey, title: r.title, state: r.state, reason: r.reason }, `episode ${r.state}`);
  }

  print(line: string) {
    this.log.warn(line);
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

  print(line: string) {
    this.bars.log(`${line}\n`);
  }

  stop() {
    this.bars.stop();
  }
}
