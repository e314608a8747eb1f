// A feed's policy (what gets processed, how its audio is kept) as the Feeds page's add form and
// the policy editor (FeedPolicyEditor, on the Feeds page and a feed's page) show and send it.
import type { Feed } from './api/schema';

export type Policy = Feed['policy'];
type BackfillMode = 'newest' | 'since' | 'all';
/** 'default': the appliance's setting (the API's null). */
type RetentionMode = 'default' | 'keep-all' | 'delete-after-transcribe' | 'last' | 'days';
type DownloadMode = 'default' | 'always' | 'when-needed';

/** The policy form's fields (durations in minutes, filters one per line). */
export interface PolicyForm {
  mode: BackfillMode;
  newest: number;
  since: string;
  include: string;
  exclude: string;
  minMinutes: string | number;
  maxMinutes: string | number;
  retention: RetentionMode;
  /** N of last:N, or D of days:D. */
  retentionCount: number;
  download: DownloadMode;
}

export const blankForm = (): PolicyForm => ({ mode: 'newest', newest: 3, since: '', include: '', exclude: '', minMinutes: '', maxMinutes: '', retention: 'default', retentionCount: 10, download: 'default' });

function retentionFormOf(spec: string | null): Pick<PolicyForm, 'retention' | 'retentionCount'> {
  const m = spec ? /^(last|days):(\d+)$/.exec(spec) : null;
  if (m) return { retention: m[1] as 'last' | 'days', retentionCount: Number(m[2]) };
  return { retention: spec === 'keep-all' || spec === 'delete-after-transcribe' ? spec : 'default', retentionCount: 10 };
}

/** The API's audio_retention: null for the appliance's setting. */
function retentionOf(f: PolicyForm): string | null {
  if (f.retention === 'default') return null;
  return f.retention === 'last' || f.retention === 'days' ? `${f.retention}:${Number(f.retentionCount)}` : f.retention;
}

const RETENTION_WORDS: Record<string, string> = { 'keep-all': 'audio kept', 'delete-after-transcribe': 'audio deleted once transcribed' };
function describeRetention(spec: string): string {
  const m = /^(last|days):(\d+)$/.exec(spec);
  if (!m) return RETENTION_WORDS[spec] ?? `audio: ${spec}`;
  return m[1] === 'last' ? `audio kept for the newest ${m[2]} episodes` : `audio kept ${m[2]} days`;
}

export function formOf(p: Policy): PolicyForm {
  const b = p.backfill;
  return {
    mode: b === 'all' ? 'all' : b && 'since' in b ? 'since' : 'newest',
    newest: b && b !== 'all' && 'newest' in b ? b.newest : 3,
    since: b && b !== 'all' && 'since' in b ? b.since : '',
    include: p.include.join('\n'),
    exclude: p.exclude.join('\n'),
    minMinutes: p.min_duration_s === null ? '' : String(Math.round(p.min_duration_s / 60)),
    maxMinutes: p.max_duration_s === null ? '' : String(Math.round(p.max_duration_s / 60)),
    ...retentionFormOf(p.audio_retention),
    download: p.audio_download ?? 'default',
  };
}

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);
/** Minutes from a number input (v-model gives a number, or '' when empty) → seconds, null when empty. */
const seconds = (minutes: string | number) => (String(minutes ?? '').trim() === '' ? null : Math.round(Number(minutes) * 60));

/** The API's policy fields from the form; `audio`: with the audio choices (the editor's: "as the appliance's setting" sends null). */
export function policyOf(f: PolicyForm, opts: { audio?: boolean } = {}) {
  const fields = {
    backfill: f.mode === 'all' ? ('all' as const) : f.mode === 'since' ? { since: f.since } : { newest: Number(f.newest) },
    include: lines(f.include),
    exclude: lines(f.exclude),
    min_duration_s: seconds(f.minMinutes),
    max_duration_s: seconds(f.maxMinutes),
  };
  return opts.audio ? { ...fields, audio_retention: retentionOf(f), audio_download: f.download === 'default' ? null : f.download } : fields;
}

export function describePolicy(p: Policy): string {
  const b = p.backfill;
  const parts = [b === null ? 'back catalogue: server default' : b === 'all' ? 'back catalogue: all' : 'since' in b ? `back catalogue: since ${b.since}` : `back catalogue: newest ${b.newest}`];
  if (p.include.length) parts.push(`only: ${p.include.join(', ')}`);
  if (p.exclude.length) parts.push(`not: ${p.exclude.join(', ')}`);
  if (p.min_duration_s !== null || p.max_duration_s !== null) parts.push(`${p.min_duration_s === null ? '0' : Math.round(p.min_duration_s / 60)}–${p.max_duration_s === null ? '∞' : Math.round(p.max_duration_s / 60)} min`);
  // the feed's own audio choices only (the appliance's settings are the default)
  if (p.audio_retention !== null) parts.push(describeRetention(p.audio_retention));
  if (p.audio_download !== null) parts.push(p.audio_download === 'always' ? 'audio always downloaded' : 'audio downloaded when needed');
  return parts.join(' · ');
}
