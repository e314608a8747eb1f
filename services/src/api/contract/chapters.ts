import { z } from 'zod';

/**
 * The Chapters part of the API contract (issue 17): response schemas here (re-exported through
 * responses.ts, so `responses.x`) and the request schemas in `chapterRequests` (spread into `schemas`).
 */
export const chapterRequests = {} satisfies Record<string, z.ZodTypeAny>;

export const chapterSource = z.enum(['publisher', 'generated']);

export const chapter = z.object({
  start_ms: z.number().int().describe('where the chapter starts, ms from the start of the audio'),
  end_ms: z.number().int().nullable().describe("where it ends (the publisher's endTime, else the next chapter's start); null: the last chapter, to the end"),
  title: z.string(),
  source: chapterSource.describe("publisher: the feed's podcast:chapters; generated: podbrain's, from topic shifts in the transcript"),
  url: z.string().nullable().describe("the publisher's link for this chapter (http(s) only)"),
  image: z.string().nullable().describe("the publisher's image for this chapter (http(s) only)"),
});

export const chapterList = z.object({
  source: chapterSource.nullable().describe('where the chapters come from; null: none (not enriched yet, too short, or none could be made)'),
  items: z.array(chapter).describe('ordered by start; [] when none'),
});

export type ChapterView = z.output<typeof chapter>;
export type ChapterListView = z.output<typeof chapterList>;
