import { z } from 'zod';
import { key } from '../validation';

/**
 * Playback state (issue 18): where a tenant's listener left each episode and whether it is
 * played. Response schemas here (re-exported through responses.ts) and the request schemas in
 * `playbackRequests` (spread into `schemas`).
 */

/** The longest position accepted: a week of audio (a position is a 32-bit integer in Postgres). */
export const MAX_POSITION_MS = 7 * 86_400_000;
/** The most episodes one bulk mark takes. */
export const MAX_MARK_EPISODES = 500;

const positionMs = z.number().int('a whole number of milliseconds').min(0).max(MAX_POSITION_MS);

export const playbackRequests = {
  /** PUT episodes/:key/playback: the player's position every few seconds (played when it ends or is marked). */
  playbackUpdate: z
    .object({
      position_ms: positionMs.describe('where the listener is, ms from the start of the audio'),
      duration_ms: z.number().int().min(1).max(MAX_POSITION_MS).optional().describe("the audio's length as the player measured it (kept when omitted)"),
      played: z.boolean().optional().describe('mark it played (true) or unplayed (false); unchanged when omitted (false for a first save)'),
    })
    .strict()
    .refine((b) => b.duration_ms === undefined || b.position_ms <= b.duration_ms, { message: 'position_ms is past duration_ms', path: ['position_ms'] }),
  /** POST playback/mark: several episodes played or unplayed at once. */
  playbackMark: z
    .object({
      episode_keys: z.array(key).min(1).max(MAX_MARK_EPISODES).describe(`the episodes (at most ${MAX_MARK_EPISODES}); ones not visible to the caller are listed in not_found`),
      played: z.boolean().describe('true: played (the position is kept); false: unplayed (the position goes back to 0)'),
    })
    .strict(),
  /** GET playback: the caller's saved states, most recently saved first ("continue listening"). */
  playbackList: z.object({
    filter: z.enum(['in_progress', 'played', 'all']).default('in_progress').describe('in_progress: started and not played (the default); played; all'),
    limit: z.coerce.number().int().min(1).max(200).default(20),
  }),
} satisfies Record<string, z.ZodTypeAny>;

export const playback = z.object({
  episode_key: z.string(),
  position_ms: z.number().int().describe('where the listener left off (0: not started)'),
  duration_ms: z.number().int().nullable().describe('the length the player last reported; null: never reported'),
  played: z.boolean(),
  updated_at: z.string().meta({ format: 'date-time' }).nullable().describe('when it was last saved; null: never'),
});

export const playbackEntry = playback.extend({
  title: z.string(),
  feed_id: z.string(),
  feed_title: z.string().nullable(),
  duration_s: z.number().int().nullable().describe("the feed's duration of the episode"),
  image: z.string().nullable().describe("cover art: the item's own image, else the feed's (a remote URL that may not load)"),
});

export const playbackList = z.object({ items: z.array(playbackEntry).describe('most recently saved first') });

export const playbackMarkResult = z.object({
  played: z.boolean(),
  updated: z.number().int().describe('episodes whose state was written'),
  not_found: z.array(z.string()).describe('keys that are not episodes of a subscribed feed (nothing written for them)'),
});

export type PlaybackView = z.output<typeof playback>;
export type PlaybackEntryView = z.output<typeof playbackEntry>;
export type PlaybackListView = z.output<typeof playbackList>;
export type PlaybackMarkResultView = z.output<typeof playbackMarkResult>;
