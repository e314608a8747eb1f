import { type Command, InvalidArgumentError } from 'commander';
import { PodbrainError } from '../../core/errors';
import type { ReprocessStaleResultView, StaleView } from '../../api/contract/responses';
import { configFrom } from '../context';

interface StaleOptions {
  feed?: string;
  episode?: string;
  stage?: string;
  limit?: number;
  count?: boolean;
  api?: string;
  key?: string;
  json?: boolean;
}

const STAGES = ['ingest', 'transcribe', 'enrich', 'index'];

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('a whole number from 1 to 10000');
  return n;
}

function stageName(v: string): string {
  if (!STAGES.includes(v)) throw new InvalidArgumentError(`one of ${STAGES.join(', ')}`);
  return v;
}

async function callApi<T>(api: string, key: string, method: 'GET' | 'POST', p: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${api.replace(/\/+$/, '')}${p}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new PodbrainError('api_unreachable', `cannot reach the api at ${api}: ${(e as Error).message}`);
  }
  const json = (await res.json().catch(() => null)) as (T & { error?: { message?: string } }) | null;
  if (!res.ok) throw new PodbrainError('api_error', `${method} ${p}: ${json?.error?.message ?? res.statusText} (HTTP ${res.status})`);
  return json as T;
}

/** `podbrain reprocess stale [--feed ID] [--episode KEY] [--stage S] [--limit N] [--count]`: through the running appliance's API. */
export function registerReprocessCommands(program: Command): void {
  const reprocess = program.command('reprocess').description('Run finished episodes again (through the running appliance\'s API)');
  reprocess
    .command('stale')
    .description(
      'Queue the episodes made with an older recipe (model, prompt, settings) than the configuration plans now, from their first stale stage, at the lowest priority (new episodes always go first); --count only shows how many are stale per stage',
    )
    .option('--feed <id>', 'only this feed')
    .option('--episode <key>', 'only this episode')
    .option('--stage <stage>', `only episodes stale at this stage (${STAGES.join(', ')})`, stageName)
    .option('--limit <n>', 'the most episodes queued by this call (default: the server\'s REPROCESS_BATCH)', positive)
    .option('--count', 'show the stale counts per stage, queue nothing')
    .option('--api <url>', 'the api (default http://127.0.0.1:API_PORT)')
    .option('--key <key>', 'admin API key (default AUTH_API_KEY)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: StaleOptions, cmd: Command) => {
      const config = configFrom(cmd);
      const api = opts.api ?? `http://127.0.0.1:${config.apiPort}`;
      const key = opts.key ?? config.authApiKey;
      if (opts.count) {
        const view = await callApi<StaleView>(api, key, 'GET', `/api/admin/stale${opts.feed ? `?feed_id=${encodeURIComponent(opts.feed)}` : ''}`);
        if (opts.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
        else for (const s of view.items) process.stdout.write(`${s.stage.padEnd(11)} ${String(s.stale).padStart(6)} stale of ${s.done_total} done${s.unknown ? ` (${s.unknown} recorded before recipes)` : ''}\n`);
        return;
      }
      const body = { feed_id: opts.feed, episode_key: opts.episode, stage: opts.stage, limit: opts.limit };
      const r = await callApi<ReprocessStaleResultView>(api, key, 'POST', '/api/admin/reprocess-stale', body);
      if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`queued ${r.queued} stale episode(s) (${r.checked} checked, ${r.current} already current, ${r.unable} left as they are); ${r.remaining} still stale\n`);
    });
}
