import { z } from 'zod';
import { text } from '../validation';

/**
 * The SavedSearches part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `savedSearchRequests` (spread into `schemas`).
 */
const dateTime = z.string().meta({ format: 'date-time' });
const MAX_INTERVAL_S = 30 * 86_400;

const name = text(200)
  .transform((s) => s.replace(/\s+/g, ' ').trim())
  .pipe(z.string().min(1, 'give the search a name (or leave it out: the query is its name)'));
const query = text(500, 'required: the words to watch for')
  .transform((s) => s.replace(/\s+/g, ' ').trim())
  .pipe(z.string().min(1, 'give some words to watch for'));
const threshold = z.number().min(0).max(1).describe('least relevance (0–1) of a hit, as search answers it; default 0.5');
const notify = z.boolean().describe('false: hits are kept but nobody is notified; default true');
const minInterval = z
  .number()
  .int()
  .min(0)
  .max(MAX_INTERVAL_S)
  .describe('least seconds between two notifications of this search (matches in between go out together in the next one); default SAVED_SEARCH_MIN_INTERVAL_S');

export const savedSearchRequests = {
  createSavedSearch: z.object({ name: name.optional(), query, threshold: threshold.optional(), notify: notify.optional(), min_interval_s: minInterval.optional() }).strict(),
  updateSavedSearch: z
    .object({ name: name.optional(), query: query.optional(), threshold: threshold.optional(), notify: notify.optional(), min_interval_s: minInterval.optional() })
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'send at least one of name, query, threshold, notify, min_interval_s'),
  /** A saved search's id in a path. */
  savedSearchId: z.string().regex(/^[1-9]\d{0,17}$/, 'a saved search id (digits)'),
  savedSearchHits: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
} satisfies Record<string, z.ZodTypeAny>;

export const savedSearchHit = z.object({
  id: z.string(),
  episode_key: z.string(),
  episode_title: z.string().nullable(),
  feed_id: z.string(),
  feed_title: z.string().nullable(),
  text: z.string().describe('the quote: the transcript around the sentence that matched best'),
  start_ms: z.number().int().describe('where that sentence starts (the viewer opens /episodes/{key}?t={seconds})'),
  score: z.number().describe('its relevance, 0–1'),
  found_at: dateTime,
  notified_at: dateTime.nullable().describe('when a notification carried it; null: not yet (interval), or the search does not notify'),
});

export const savedSearch = z.object({
  id: z.string(),
  name: z.string(),
  query: z.string(),
  threshold: z.number(),
  notify: z.boolean(),
  min_interval_s: z.number().int(),
  last_notified_at: dateTime.nullable(),
  created_at: dateTime,
  updated_at: dateTime,
  hits: z.number().int().describe('episodes that matched'),
  pending: z.number().int().describe('hits no notification has carried yet'),
  last_hit: savedSearchHit.nullable().describe('the newest hit; null: none yet'),
});

export const savedSearchList = z.object({
  items: z.array(savedSearch).describe('newest first'),
  max: z.number().int().describe('how many saved searches a tenant may keep (SAVED_SEARCH_MAX)'),
});

export const savedSearchHitList = z.object({ items: z.array(savedSearchHit).describe('newest first') });

export type SavedSearchView = z.output<typeof savedSearch>;
export type SavedSearchHitView = z.output<typeof savedSearchHit>;
