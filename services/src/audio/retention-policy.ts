import { z } from 'zod';

/**
 * How long downloaded audio is kept (AUDIO_RETENTION). Only audio of `done` episodes is ever
 * deleted; transcripts, insights and search stay, and the episode plays from its enclosure URL.
 *   keep-all                 nothing is deleted
 *   delete-after-transcribe  an episode's audio goes once the episode is done
 *   last:N                   the N newest done episodes of each feed keep theirs
 *   days:D                   audio downloaded more than D days ago goes
 */
export type AudioRetention = { mode: 'keep-all' } | { mode: 'delete-after-transcribe' } | { mode: 'last'; n: number } | { mode: 'days'; days: number };

const MAX_N = 1_000_000;
const MAX_DAYS = 36_500;

export function parseAudioRetention(spec: string): AudioRetention | null {
  const s = spec.trim();
  if (s === 'keep-all') return { mode: 'keep-all' };
  if (s === 'delete-after-transcribe') return { mode: 'delete-after-transcribe' };
  const m = /^(last|days):(\d{1,7})$/.exec(s);
  if (!m) return null;
  const value = Number(m[2]);
  if (m[1] === 'last') return value >= 1 && value <= MAX_N ? { mode: 'last', n: value } : null;
  return value >= 1 && value <= MAX_DAYS ? { mode: 'days', days: value } : null;
}

export function formatAudioRetention(r: AudioRetention): string {
  return r.mode === 'last' ? `last:${r.n}` : r.mode === 'days' ? `days:${r.days}` : r.mode;
}

/** AUDIO_RETENTION as a config value. */
export const audioRetentionSchema = z.string().transform((v, ctx): AudioRetention => {
  const parsed = parseAudioRetention(v);
  if (parsed) return parsed;
  ctx.addIssue({ code: 'custom', message: `keep-all, delete-after-transcribe, last:N (N ≥ 1) or days:D (D ≥ 1)` });
  return z.NEVER;
});
