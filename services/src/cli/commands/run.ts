import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { createLogger, silentLogger } from '../../core/logger';
import { PodbrainError } from '../../core/errors';
import { loadFeedList } from '../../feeds/opml';
import type { EpisodeReport } from '../../pipeline/runner';
import { runFeeds, type RunReport } from '../../pipeline/run-feeds';
import { configFrom } from '../context';
import { humanLogDestination, humanLogLevel } from '../human-log';
import { createProgress, type ProgressMode, type RunProgress } from '../progress';

interface RunOptions {
  feed?: string[];
  feeds?: string;
  out?: string;
  limit?: number;
  since?: Date;
  json?: boolean;
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
};
const date = (v: string) => {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('expected a date such as 2024-01-31 or an ISO 8601 time');
  return d;
};
const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run every stage for every episode of the given feeds, in this process (atomic mode)')
    .option('--feed <url|file>', 'a feed URL or local file (repeatable)', collect)
    .option('--feeds <opml|yaml>', 'a feed list (OPML or YAML)')
    .option('--out <dir>', 'data directory for artifacts (overrides DATA_DIR)')
    .option('--limit <n>', 'only the N most recent episodes of each feed', positiveInt)
    .option('--since <date>', 'only episodes published at or after this date', date)
    .option('--json', 'machine output: the report as one JSON document on stdout, progress and logs as JSON lines on stderr')
    .action(async (opts: RunOptions, cmd: Command) => {
      const locations = [...(opts.feed ?? []), ...(opts.feeds ? loadFeedList(opts.feeds).map((f) => f.url) : [])];
      if (!locations.length) throw new PodbrainError('usage', 'give at least one --feed <url|file> or --feeds <opml|yaml>');
      const config = configFrom(cmd, opts.out ? { DATA_DIR: opts.out } : {});
      // stdout is the report; everything else goes to stderr. Human output unless --json: then
      // stderr is JSON lines only (progress events + logs) and stdout one JSON document.
      const mode: ProgressMode = opts.json ? 'json' : process.stderr.isTTY ? 'tty' : 'plain';
      let progress: RunProgress = createProgress({ mode: mode === 'tty' ? 'plain' : mode, total: 0, log: silentLogger });
      const log =
        mode === 'json'
          ? createLogger({ level: config.logLevel, service: 'podbrain-run', destination: pino.destination({ dest: 2, sync: true }) })
          : createLogger({ level: humanLogLevel(config.logLevel), service: 'podbrain-run', destination: humanLogDestination((line) => progress.print(line)) });
      if (mode === 'json') progress = createProgress({ mode, total: 0, log });
      const abort = new AbortController();
      const onSigint = () => abort.abort(new PodbrainError('interrupted', 'interrupted'));
      process.once('SIGINT', onSigint);
      let report: RunReport;
      try {
        report = await runFeeds({
          config,
          locations,
          selection: { limit: opts.limit, since: opts.since },
          log,
          signal: abort.signal,
          hooks: {
            // A feed that failed is logged by runFeeds (and is in the summary); its parse warnings are said here.
            feedLoaded: (f) => {
              if (!f.error) for (const w of f.warnings) log.warn({ feed: f.location }, `${f.title}: ${w}`);
              if (!f.error) progress.feedLoaded(f.title ?? f.location, f.episodes, f.notModified);
            },
            selected: (total) => {
              progress = createProgress({ mode, total, log });
            },
            event: (e) => progress.event(e),
            episodeDone: (r) => progress.episodeDone(r),
          },
        });
      } finally {
        progress.stop();
        process.removeListener('SIGINT', onSigint);
      }
      process.stdout.write(opts.json ? `${JSON.stringify(toJson(report))}\n` : formatSummary(report));
      // Exit codes (README): 0 = every episode done, incomplete (a stage not configured here) or
      // skipped; 1 = a feed or an episode failed; 2 = bad usage or configuration.
      if (report.failed) process.exitCode = 1;
    });
}

function toJson(report: RunReport) {
  return {
    feeds: report.feeds.map((f) => ({
      location: f.location,
      feed_id: f.feedId,
      title: f.title,
      episodes: f.episodes,
      selected: f.selected,
      not_modified: f.notModified,
      warnings: f.warnings,
      error: f.error ?? null,
    })),
    episodes: report.episodes.map((e) => ({
      feed_id: e.feedId,
      episode_key: e.episodeKey,
      title: e.title,
      state: e.state,
      reason: e.reason ?? null,
      stages: e.stages.map((s) => ({ stage: s.stage, status: s.status, fingerprint: s.fingerprint ?? null, duration_ms: s.durationMs, reason: s.reason ?? null, dir: s.ref?.dir ?? null })),
    })),
    stats: report.stats,
    failed: report.failed,
  };
}

const STATUS_MARK: Record<string, string> = { done: 'done', reused: 'reused', not_configured: 'not configured', failed: 'FAILED', skipped: 'skipped' };

function stageCell(e: EpisodeReport): string {
  return e.stages.map((s) => `${s.stage}:${STATUS_MARK[s.status] ?? s.status}`).join(' ');
}

function formatSummary(report: RunReport): string {
  const lines: string[] = [];
  for (const f of report.feeds) {
    lines.push(f.error ? `feed FAILED  ${f.location}: ${f.error}` : `feed ${f.title}: ${f.selected} of ${f.episodes} episode(s)${f.notModified ? ' (not modified)' : ''}`);
  }
  if (report.episodes.length) {
    lines.push('');
    const stateW = Math.max(5, ...report.episodes.map((e) => e.state.length));
    const stagesW = Math.max(6, ...report.episodes.map((e) => stageCell(e).length));
    lines.push(`${'state'.padEnd(stateW)}  ${'stages'.padEnd(stagesW)}  episode`);
    for (const e of report.episodes) {
      lines.push(`${e.state.padEnd(stateW)}  ${stageCell(e).padEnd(stagesW)}  ${e.title}`);
      // e.g. "↳ not configured: transcribe: no ASR engine available …" (continuation lines indented alike)
      if (e.reason) lines.push(`${''.padEnd(stateW)}  ↳ ${e.reason.split('\n').join(`\n${''.padEnd(stateW)}    `)}`);
    }
  }
  const count = (s: string) => report.episodes.filter((e) => e.state === s).length;
  lines.push('');
  lines.push(
    `${report.episodes.length} episode(s): ${count('done')} done, ${count('incomplete')} incomplete, ${count('failed')} failed, ${count('skipped')} skipped; ` +
      `stage runs: ${report.stats.executed} executed, ${report.stats.reused} reused`,
  );
  return `${lines.join('\n')}\n`;
}
