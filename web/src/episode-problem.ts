// Why an episode has nothing to show, in plain words: what the Episode page says instead of empty
// transcript/summary/insights shells (components/EpisodeProblem.vue). Pure, so it is unit-tested.
import type { EpisodeState } from './api/schema';
import { formatTime, momentParam } from './format';

/** What each stage does, as a reader would say it ("it failed while downloading the audio"). */
const STAGE_WORDS: Record<string, string> = {
  ingest: 'downloading the audio',
  transcribe: 'transcribing',
  enrich: 'summarising',
  chapters: 'finding chapters',
  index: 'indexing for search',
  project: 'building the knowledge graph',
  plan: 'planning',
};

export const stageWords = (stage: string | null | undefined): string => (stage ? STAGE_WORDS[stage] ?? stage : 'processing');

/** The running states in order, with the line the page shows while the episode is in one. */
const PROGRESS: [EpisodeState, string][] = [
  ['pending', 'Queued: waiting for a worker'],
  ['downloading', 'Downloading the audio'],
  ['transcribing', 'Transcribing'],
  ['enriching', 'Summarising and finding insights'],
  ['indexing', 'Indexing for search'],
  ['projecting', 'Building the knowledge graph'],
];

/** "Transcribing (step 3 of 6)" for a running state, null for done/failed/skipped. */
export function progressLine(state: EpisodeState): { text: string; step: number; of: number } | null {
  const i = PROGRESS.findIndex(([s]) => s === state);
  return i < 0 ? null : { text: PROGRESS[i][1], step: i + 1, of: PROGRESS.length };
}

export type SkipKind = 'filter' | 'backfill' | 'no-audio' | 'not-configured' | 'other';

/**
 * Why a skipped episode was left out (its state_reason, as the poll's policy or a stage words it:
 * "filtered: …", "backfill policy: …", "no enclosure: …", "not configured: <stage>: …"), and
 * whether "Process now" can help: it can for the feed's own choices, not for a missing audio file
 * or a stage the server is not set up for (it would be skipped again).
 */
export function skipReason(reason: string | null | undefined): { kind: SkipKind; text: string; detail: string | null; processable: boolean } {
  const r = (reason ?? '').trim();
  const rest = (prefix: RegExp) => r.replace(prefix, '').trim() || null;
  if (/^filtered:/i.test(r)) return { kind: 'filter', text: "Left out by this feed's filters.", detail: rest(/^filtered:/i), processable: true };
  if (/^backfill policy:/i.test(r))
    return { kind: 'backfill', text: "Not processed: it is older than this feed's back-catalogue setting.", detail: rest(/^backfill policy:/i), processable: true };
  if (/^no enclosure\b/i.test(r)) return { kind: 'no-audio', text: 'The feed item has no audio file, so there is nothing to transcribe.', detail: null, processable: false };
  const nc = /^not configured:\s*([\w-]+):\s*(.*)$/i.exec(r);
  if (nc) return { kind: 'not-configured', text: `This server is not set up for ${stageWords(nc[1])} yet.`, detail: nc[2] || null, processable: false };
  return { kind: 'other', text: 'Skipped.', detail: r || null, processable: true };
}

/** A moment link: `<origin>/episodes/<key>?t=<seconds>`. */
export function momentUrl(origin: string, episodeKey: string, ms: number): string {
  return `${origin}/episodes/${encodeURIComponent(episodeKey)}?t=${momentParam(ms)}`;
}

/** A quote as text to paste anywhere: “quote” — Show, Episode (12:34) <link>. */
export function quoteText(q: { text: string; start_ms: number }, ep: { title: string; feed_title: string | null }, link: string): string {
  const source = [ep.feed_title, ep.title].filter(Boolean).join(', ');
  return `“${q.text.trim()}” — ${source} (${formatTime(q.start_ms)}) ${link}`;
}
