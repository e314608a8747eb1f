/**
 * The enrich stage's chapters artifact (chapters.json, ARCHITECTURE §5): the publisher's
 * podcast:chapters when they could be fetched and used, else chapters generated from topic shifts
 * in the transcript, else none (with a note saying why).
 */

export const CHAPTERS_FILE = 'chapters.json';
export const CHAPTERS_SCHEMA_VERSION = 1 as const;
/**
 * The chapters algorithm's version, part of the enrich recipe: changing the parsing, the
 * segmentation or the titling bumps it, so finished episodes count as stale and are reprocessed.
 */
export const CHAPTERS_VERSION = 'chapters-v1-texttiling';

export type ChapterSource = 'publisher' | 'generated';

export interface Chapter {
  start_ms: number;
  /** The publisher's endTime, else the next chapter's start; null for the last one (to the end). */
  end_ms: number | null;
  title: string;
  url: string | null;
  image: string | null;
}

export interface ChaptersArtifact {
  schema_version: typeof CHAPTERS_SCHEMA_VERSION;
  source: ChapterSource | null;
  chapters: Chapter[];
  /** How generated chapters were titled: llm, or extractive (also when the LLM's titles were unusable). */
  titles?: 'llm' | 'extractive';
  /** Why there are no publisher chapters, or no chapters at all, or why the LLM titles were not used. */
  note?: string;
}

/** Longest chapter title kept (publisher or generated); longer ones are cut at a word. */
export const MAX_TITLE_CHARS = 120;
/** Most chapters kept from a publisher document (a hostile one may list millions). */
export const MAX_PUBLISHER_CHAPTERS = 500;
