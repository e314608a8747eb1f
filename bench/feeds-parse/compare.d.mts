// Types of compare.mjs for services/test/feeds-accuracy.test.ts (the benchmark itself runs it as plain JS).
import type { ParsedFeed } from '../../services/src/feeds/types.js';

export interface EdgeCase {
  name: string;
  baseUrl: string;
  xml: Buffer;
  /** podcastparser's expected output (fixtures/feeds/edge/NAME.json). */
  expected: Record<string, unknown>;
  params: { maxEpisodes?: number };
}

export interface Deviation {
  id: string;
  field: string;
  reason: string;
  applies(ctx: { ours: Record<string, unknown>; expected: Record<string, unknown> }): boolean;
}

export interface FeedView {
  title: string;
  coverUrl: string | null;
  serial: boolean;
  episodes: { guid: string | null; title: string; link: string | null; enclosureUrl: string | null; published: number | null; durationS: number | null; transcriptUrl: string | null }[];
}

export interface Comparison {
  fields: number;
  matched: number;
  excused: number;
  mismatches: { where: string; field: string; ours: unknown; expected: unknown }[];
  excuses: { where: string; field: string; ours: unknown; expected: unknown; rule: string }[];
}

export declare const edgeBaseUrl: (name: string) => string;
export declare const EDGE_PARAMS: Record<string, { maxEpisodes?: number }>;
export declare const DEVIATIONS: Deviation[];
export declare function listEdgeCases(edgeDir: string): EdgeCase[];
export declare function viewOfParsedFeed(feed: ParsedFeed): FeedView;
export declare function compareWithExpected(view: FeedView, expected: Record<string, unknown>): Comparison;
