import { type Command, InvalidArgumentError } from 'commander';
import { PodbrainError } from '../../core/errors';
import { loadFeedList, type FeedListEntry } from '../../feeds/opml';
import { formatBackfill, policyInputSchema, type PolicyInput } from '../../feeds/policy';
import { configFrom } from '../context';

interface AddOptions {
  backfill?: string;
  include?: string[];
  exclude?: string[];
  minDuration?: number;
  maxDuration?: number;
  audioRetention?: string;
  audioDownload?: string;
  feeds?: string;
  api?: string;
  key?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const seconds = (v: string) => {
  if (!/^\d{1,6}$/.test(v)) throw new InvalidArgumentError('expected whole seconds');
  return Number(v);
};

/** The flags as the API's policy fields (checked here too, so a bad filter fails before any request). */
export function policyFromFlags(opts: Pick<AddOptions, 'backfill' | 'include' | 'exclude' | 'minDuration' | 'maxDuration' | 'audioRetention' | 'audioDownload'>): PolicyInput {
  const raw: Record<string, unknown> = {};
  if (opts.backfill !== undefined) raw.backfill = opts.backfill;
  if (opts.include) raw.include = opts.include;
  if (opts.exclude) raw.exclude = opts.exclude;
  if (opts.minDuration !== undefined) raw.min_duration_s = opts.minDuration;
  if (opts.maxDuration !== undefined) raw.max_duration_s = opts.maxDuration;
  if (opts.audioRetention !== undefined) raw.audio_retention = opts.audioRetention;
  if (opts.audioDownload !== undefined) raw.audio_download = opts.audioDownload;
  const parsed = policyInputSchema.safeParse(raw);
  if (!parsed.success) throw new PodbrainError('usage', parsed.error.issues.map((i) => `--${String(i.path[0]).replace(/_s$/, '').replace(/_/g, '-')}: ${i.message}`).join('; '));
  return parsed.data;
}

export interface AddedFeed {
  url: string;
  status: number;
  feed?: { id: string; title: string | null; policy: { backfill: unknown } };
  error?: string;
}

/** POST /api/feeds for each entry (its own policy over the flags'); failures are reported per feed, not thrown. */
export async function addFeedsThroughApi(api: string, key: string, entries: readonly FeedListEntry[], flags: PolicyInput): Promise<AddedFeed[]> {
  const out: AddedFeed[] = [];
  for (const e of entries) {
    const body = { url: e.url, ...flags, ...e.policy };
    // The API takes the backfill as its JSON form or as the same spec string the flag uses.
    if (body.backfill && typeof body.backfill === 'object') body.backfill = formatBackfill(body.backfill) as never;
    try {
      const res = await fetch(new URL('/api/feeds', api), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const json = (await res.json().catch(() => ({}))) as { error?: { message?: string } } & AddedFeed['feed'];
      out.push(res.ok ? { url: e.url, status: res.status, feed: json as AddedFeed['feed'] } : { url: e.url, status: res.status, error: json?.error?.message ?? res.statusText });
    } catch (err) {
      out.push({ url: e.url, status: 0, error: `cannot reach the api at ${api}: ${(err as Error).message}` });
    }
  }
  return out;
}

/** `podbrain feeds add URL --backfill … --include … --exclude … --min-duration … --max-duration … --audio-retention … --audio-download …` (or --feeds list.yml). */
export function registerFeedAddCommand(feed: Command): void {
  feed
    .command('add [url]')
    .description("Add a feed to the running appliance (through its API) with what to process: the back catalogue and title/duration filters; episodes left out are listed as skipped")
    .option('--backfill <spec>', "back catalogue to process: newest:N, since:YYYY-MM-DD or all (default: the server's FEED_BACKFILL_DEFAULT, newest:3)")
    .option('--include <filter>', 'only titles with this keyword or matching /regex/ (repeatable: any of them)', collect)
    .option('--exclude <filter>', 'leave out titles with this keyword or matching /regex/ (repeatable)', collect)
    .option('--min-duration <s>', 'leave out episodes shorter than this (seconds)', seconds)
    .option('--max-duration <s>', 'leave out episodes longer than this (seconds)', seconds)
    .option('--audio-retention <spec>', "how long this feed's downloaded audio is kept: keep-all, delete-after-transcribe, last:N or days:D (default: the server's AUDIO_RETENTION)")
    .option('--audio-download <when>', "always (keep a local copy although a publisher transcript comes first) or when-needed (default: the server's AUDIO_DOWNLOAD)")
    .option('--feeds <file>', 'add every feed of a YAML (entries may carry backfill/include/exclude/min_duration_s/max_duration_s/audio_retention/audio_download) or OPML list')
    .option('--api <url>', 'the api (default http://127.0.0.1:API_PORT)')
    .option('--key <key>', 'API key (default AUTH_API_KEY)')
    .option('--json', 'print the results as JSON')
    .action(async (url: string | undefined, opts: AddOptions, cmd: Command) => {
      const config = configFrom(cmd);
      const entries: FeedListEntry[] = [...(url ? [{ url, title: null }] : []), ...(opts.feeds ? loadFeedList(opts.feeds) : [])];
      if (!entries.length) throw new PodbrainError('usage', 'give a feed URL or --feeds <file>');
      const results = await addFeedsThroughApi(opts.api ?? `http://127.0.0.1:${config.apiPort}`, opts.key ?? config.authApiKey, entries, policyFromFlags(opts));
      if (opts.json) process.stdout.write(`${JSON.stringify({ feeds: results }, null, 2)}\n`);
      else
        for (const r of results) {
          if (r.feed) process.stdout.write(`added ${r.feed.title ?? r.url} (${r.feed.id}); backfill ${JSON.stringify(r.feed.policy.backfill)}${r.status === 200 ? ' (already subscribed)' : ''}\n`);
          else process.stderr.write(`podbrain: ${r.url}: ${r.error} (HTTP ${r.status})\n`);
        }
      if (results.some((r) => !r.feed)) process.exitCode = 1;
    });
}
