/**
 * Enrich artifacts (ARCHITECTURE §5): summary.json, gi.json, kg.json, each with schema_version.
 * Offsets (char_start/char_end) index the transcript's full text: segment texts joined by
 * one space, in order (see text/transcript-text.ts).
 */

export const ENRICH_SCHEMA_VERSION = 1 as const;

/** The enrich stage's artifact files (written by stages/enrich.stage.ts, read by the projection and the api). */
export const SUMMARY_FILE = 'summary.json';
export const GI_FILE = 'gi.json';
export const KG_FILE = 'kg.json';

export type EnrichMethod = 'llm' | 'extractive';
/** valid: as produced; degraded: the LLM output was unusable and the extractive result stands in. */
export type EnrichStatus = 'valid' | 'degraded' | 'invalid';

export interface GroundedQuote {
  text: string;
  char_start: number;
  char_end: number;
  start_ms: number;
  end_ms: number;
  speaker?: string;
}

export interface SummaryArtifact {
  schema_version: typeof ENRICH_SCHEMA_VERSION;
  episode_key: string;
  title: string;
  bullets: string[];
  key_quotes: GroundedQuote[];
  status: EnrichStatus;
  method: EnrichMethod;
  /** Why degraded (the last validation problem), when status is degraded. */
  problem?: string;
}

/** question: only from an LLM (the extractive path never makes a question an insight); anecdote: a story the speaker tells. */
export type InsightType = 'claim' | 'recommendation' | 'observation' | 'question' | 'anecdote';

export type GiNode =
  | { id: string; type: 'Insight'; text: string; insight_type: InsightType; confidence: number; grounded: boolean }
  | ({ id: string; type: 'Quote' } & GroundedQuote)
  | { id: string; type: 'Topic'; label: string; slug: string }
  | { id: string; type: 'Person'; name: string }
  | { id: string; type: 'Organization'; name: string };

export interface GiEdge {
  type: 'SUPPORTED_BY' | 'ABOUT' | 'MENTIONS';
  from: string;
  to: string;
}

export interface GiArtifact {
  schema_version: typeof ENRICH_SCHEMA_VERSION;
  episode_key: string;
  status: EnrichStatus;
  method: EnrichMethod;
  problem?: string;
  nodes: GiNode[];
  edges: GiEdge[];
  stats: { insights: number; quotes_total: number; quotes_dropped: number; ungrounded_insights: number };
}

export type PersonRole = 'host' | 'guest' | 'mentioned';

export type KgNode =
  | { id: string; type: 'Episode'; title: string; episode_key: string }
  | { id: string; type: 'Person'; name: string; role: PersonRole }
  | { id: string; type: 'Organization'; name: string }
  | { id: string; type: 'Topic'; label: string; slug: string };

export interface KgEdge {
  type: 'MENTIONS' | 'RELATED_TO' | 'HOSTS' | 'GUESTS_ON';
  from: string;
  to: string;
  /** How often (mentions) or how strongly (co-occurrences) — 1 when unknown. */
  weight: number;
}

export interface KgArtifact {
  schema_version: typeof ENRICH_SCHEMA_VERSION;
  episode_key: string;
  status: EnrichStatus;
  method: EnrichMethod;
  problem?: string;
  nodes: KgNode[];
  edges: KgEdge[];
}

/** A quote as a model or the extractive ranker proposes it, before grounding. */
export interface ProposedInsight {
  text: string;
  insight_type: InsightType;
  confidence: number;
  quotes: string[];
  topics: string[];
}

export interface EnrichResult {
  summary: SummaryArtifact;
  gi: GiArtifact;
  kg: KgArtifact;
}
