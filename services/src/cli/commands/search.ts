import type { Command } from 'commander';
import { createLogger } from '../../core/logger';
import { MAX_K, type SearchResponse, createSearchService } from '../../index/search.service';
import { configFrom } from '../context';

function timestamp(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "1 hit", "3 hits", "1 episode", … */
function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatHits(r: SearchResponse): string {
  const corpus = `${plural(r.index.episodes, 'episode')}, ${plural(r.index.vectors, 'chunk')}`;
  if (!r.hits.length) return `no matches for "${r.query}" in ${corpus}\n`;
  const lines = r.hits.map((h, i) => {
    const where = `${timestamp(h.start_ms)}–${timestamp(h.end_ms)}`;
    return `${String(i + 1).padStart(2)}. ${h.title ?? h.episode_key}  [${where}]  ${h.why}\n    ${h.snippet}\n    ${h.feed_id}/${h.episode_key}`;
  });
  // The episodes the hits come from, not the size of the corpus searched.
  const hitEpisodes = new Set(r.hits.map((h) => `${h.feed_id}/${h.episode_key}`)).size;
  return (
    `${lines.join('\n')}\n\n${plural(r.hits.length, 'hit')} in ${plural(hitEpisodes, 'episode')} ` +
    `(searched ${corpus}, ${r.index.type} index) in ${r.took_ms} ms\n`
  );
}

export function registerSearchCommand(program: Command): void {
  program
    .command('search')
    .description('hybrid search (vectors + keywords) over the corpus made by `podbrain run`')
    .argument('<query>', 'what to look for')
    .option('--out <dir>', 'data directory of a `podbrain run --out DIR` (overrides DATA_DIR)')
    .option('-k, --k <n>', `number of hits (1–${MAX_K}, default SEARCH_DEFAULT_K)`)
    .option('--json', 'print the hits as JSON')
    .action(async (query: string, opts: { out?: string; k?: string; json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd, opts.out ? { DATA_DIR: opts.out } : {});
      // Logs go to stderr so stdout stays the result.
      const log = createLogger({ service: 'podbrain-cli', level: config.logLevel === 'info' ? 'warn' : config.logLevel, destination: process.stderr });
      const k = opts.k === undefined ? config.search.defaultK : Number(opts.k);
      const service = createSearchService(config, log);
      // Episodes whose artifacts were reused by `run` without the index stage running.
      await service.sync();
      const result = await service.search(query, { k });
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatHits(result));
    });
}
