import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import type { Transcript } from '../asr/types';
import type { Executor } from '../db/database';
import { GI_FILE, KG_FILE, SUMMARY_FILE } from '../enrich/types';
import { CHAPTERS_FILE } from '../chapters/types';
import type { FeedEpisode } from '../feeds/types';
import type { StageName } from '../pipeline/stage';
import { type EpisodeProjection, ProjectionRepository } from '../repositories/projection.repository';

/** Bump when what `projectEpisode` writes changes (it is part of the project fingerprint). */
export const PROJECTION_VERSION = 1;

const defaultRepository = new ProjectionRepository();

/**
 * Artifacts → canonical Postgres rows (ARCHITECTURE §4). Idempotent: an episode's rows are
 * replaced as a whole inside the caller's transaction (`trx`, which also sets the episode's final
 * state); KG nodes are global (ids are stable across episodes, e.g. `person:<slug>`) and upserted.
 * Absent artifacts are skipped: what exists is projected.
 */
export async function projectEpisode(
  trx: Executor,
  store: ArtifactStore,
  episode: FeedEpisode,
  inputs: Partial<Record<StageName, ArtifactRef>>,
  projections: ProjectionRepository = defaultRepository,
): Promise<ProjectionCounts> {
  const projection = await readProjection(store, episode, inputs);
  await projections.replace(trx, projection);
  return {
    segments: projection.segments.length,
    summaries: projection.summary ? 1 : 0,
    insights: projection.insights.length,
    quotes: projection.quotes.length,
    support: projection.support.length,
    kgNodes: projection.kgNodes.length,
    kgEdges: projection.kgEdges.length,
    chunks: projection.chunks.length,
    chapters: projection.chapters.length,
  };
}

/** The rows of an episode's artifacts (the mapping; ProjectionRepository writes them). */
async function readProjection(store: ArtifactStore, episode: FeedEpisode, inputs: Partial<Record<StageName, ArtifactRef>>): Promise<EpisodeProjection> {
  const key = episode.episodeKey;
  const p: EpisodeProjection = { episodeKey: key, segments: [], summary: null, insights: [], quotes: [], support: [], kgNodes: [], kgEdges: [], chunks: [], chapters: [] };

  const transcribe = inputs.transcribe;
  const transcript = transcribe && (await readOptionalJson<Transcript>(store, transcribe, 'transcript.json'));
  if (transcribe && transcript) {
    p.segments = (transcript.segments ?? []).map((s, i) => ({
      episode_key: key,
      fingerprint: transcribe.fingerprint,
      idx: i,
      start_ms: ms(s.start_ms),
      end_ms: ms(s.end_ms),
      speaker: s.speaker ?? null,
      text: s.text,
    }));
  }

  const enrich = inputs.enrich;
  if (enrich) {
    const summary = await readOptionalJson<SummaryArtifact>(store, enrich, SUMMARY_FILE);
    if (summary) {
      p.summary = {
        episode_key: key,
        fingerprint: enrich.fingerprint,
        title: summary.title ?? null,
        bullets: JSON.stringify(summary.bullets ?? []),
        key_quotes: JSON.stringify(summary.key_quotes ?? []),
        status: String(summary.status ?? 'valid'),
      };
    }
    const gi = await readOptionalJson<GraphArtifact>(store, enrich, GI_FILE);
    if (gi) Object.assign(p, giRows(key, enrich.fingerprint, gi));
    const kg = await readOptionalJson<GraphArtifact>(store, enrich, KG_FILE);
    if (kg) Object.assign(p, kgRows(key, enrich.fingerprint, kg));
    // Episodes enriched before chapters have no chapters.json: no chapters, no error.
    const chapters = await readOptionalJson<ChaptersArtifactLike>(store, enrich, CHAPTERS_FILE);
    if (chapters) p.chapters = chapterRows(key, enrich.fingerprint, chapters);
  }

  const index = inputs.index;
  if (index) {
    const text = await readOptionalText(store, index, 'chunks.jsonl');
    if (text) {
      p.chunks = text
        .split('\n')
        .filter((l) => l.trim())
        .map((l, i) => {
          const c = JSON.parse(l) as ChunkLine;
          const vectorId = c.vector_id ?? c.vectorId ?? null;
          return {
            episode_key: key,
            fingerprint: index.fingerprint,
            idx: c.chunk_no ?? c.idx ?? c.index ?? i,
            text: c.text,
            start_ms: ms(c.start_ms),
            end_ms: ms(c.end_ms),
            vector_id: vectorId === null ? null : String(vectorId),
          };
        });
    }
  }
  return p;
}

export interface ProjectionCounts {
  segments: number;
  summaries: number;
  insights: number;
  quotes: number;
  support: number;
  kgNodes: number;
  kgEdges: number;
  chunks: number;
  chapters: number;
}

interface SummaryArtifact {
  title?: string | null;
  bullets?: unknown[];
  key_quotes?: unknown[];
  status?: string;
}

interface GraphNode {
  id: string;
  type?: string;
  kind?: string;
  label?: string;
  properties?: Record<string, unknown>;
  props?: Record<string, unknown>;
  [k: string]: unknown;
}

interface GraphEdge {
  source?: string;
  target?: string;
  from?: string;
  to?: string;
  type?: string;
  kind?: string;
  properties?: Record<string, unknown>;
  props?: Record<string, unknown>;
  [k: string]: unknown;
}

interface GraphArtifact {
  nodes?: GraphNode[];
  edges?: GraphEdge[];
}

/** A line of chunks.jsonl (services/src/index/chunking.ts `Chunk`; older spellings tolerated). */
interface ChunkLine {
  chunk_no?: number;
  idx?: number;
  index?: number;
  text: string;
  start_ms: number;
  end_ms: number;
  vector_id?: number | string | null;
  vectorId?: number | string | null;
}

const nodeKind = (n: GraphNode) => String(n.type ?? n.kind ?? n.label ?? 'Node');
const nodeProps = (n: GraphNode): Record<string, unknown> => {
  const { id: _id, type: _t, kind: _k, properties, props, ...rest } = n;
  return { ...rest, ...(props ?? {}), ...(properties ?? {}) };
};
const edgeEnds = (e: GraphEdge) => ({ source: String(e.source ?? e.from ?? ''), target: String(e.target ?? e.to ?? ''), kind: String(e.type ?? e.kind ?? 'RELATED_TO') });
const edgeProps = (e: GraphEdge): Record<string, unknown> => ({ ...(e.props ?? {}), ...(e.properties ?? {}) });
const ms = (v: unknown) => Math.max(0, Math.round(Number(v) || 0));
const num = (v: unknown) => (v === null || v === undefined || v === '' || !Number.isFinite(Number(v)) ? null : Number(v));
const int = (v: unknown) => (num(v) === null ? null : Math.round(Number(v)));

function giRows(key: string, fp: string, gi: GraphArtifact): Pick<EpisodeProjection, 'insights' | 'quotes' | 'support'> {
  const nodes = gi.nodes ?? [];
  const insights = nodes.filter((n) => nodeKind(n).toLowerCase() === 'insight');
  const quotes = nodes.filter((n) => nodeKind(n).toLowerCase() === 'quote');
  const insightIds = new Set(insights.map((n) => n.id));
  const quoteIds = new Set(quotes.map((n) => n.id));
  const support = new Map<string, [string, string]>();
  for (const e of gi.edges ?? []) {
    const { source, target, kind } = edgeEnds(e);
    if (kind === 'SUPPORTED_BY' && insightIds.has(source) && quoteIds.has(target)) support.set(`${source}\u0000${target}`, [source, target]);
  }
  return {
    insights: insights.map((n) => {
      const p = nodeProps(n);
      return { id: n.id, episode_key: key, fingerprint: fp, text: String(p.text ?? ''), insight_type: String(p.insight_type ?? p.insightType ?? 'observation'), confidence: num(p.confidence) };
    }),
    quotes: quotes.map((n) => {
      const p = nodeProps(n);
      return {
        id: n.id,
        episode_key: key,
        fingerprint: fp,
        text: String(p.text ?? ''),
        char_start: int(p.char_start),
        char_end: int(p.char_end),
        start_ms: int(p.start_ms),
        end_ms: int(p.end_ms),
        speaker: p.speaker === undefined || p.speaker === null ? null : String(p.speaker),
      };
    }),
    support: [...support.values()].map(([insight_id, quote_id]) => ({ episode_key: key, insight_id, quote_id })),
  };
}

function kgRows(key: string, fp: string, kg: GraphArtifact): Pick<EpisodeProjection, 'kgNodes' | 'kgEdges'> {
  const nodes = kg.nodes ?? [];
  const known = new Set(nodes.map((n) => n.id));
  const edges = (kg.edges ?? []).map((e) => ({ ...edgeEnds(e), props: edgeProps(e) })).filter((e) => known.has(e.source) && known.has(e.target));
  return {
    kgNodes: nodes.map((n) => {
      const p = nodeProps(n);
      return { id: n.id, kind: nodeKind(n), label: String(p.name ?? p.label ?? p.title ?? n.id), props: JSON.stringify(p) };
    }),
    kgEdges: edges.map((e) => ({ episode_key: key, fingerprint: fp, source_id: e.source, target_id: e.target, kind: e.kind, props: JSON.stringify(e.props) })),
  };
}

interface ChaptersArtifactLike {
  source?: unknown;
  chapters?: unknown;
}

const httpOrNull = (v: unknown) => (typeof v === 'string' && /^https?:\/\//i.test(v) ? v.slice(0, 2048) : null);

/** chapters.json → rows (chapters/types.ts ChaptersArtifact); entries without a usable start are skipped. */
function chapterRows(key: string, fp: string, a: ChaptersArtifactLike): EpisodeProjection['chapters'] {
  if ((a.source !== 'publisher' && a.source !== 'generated') || !Array.isArray(a.chapters)) return [];
  const source = a.source;
  return (a.chapters as Record<string, unknown>[])
    .filter((c) => c && typeof c === 'object' && num(c.start_ms) !== null && Number(c.start_ms) >= 0 && Number(c.start_ms) < 2 ** 31)
    .map((c, idx) => {
      const start = ms(c.start_ms);
      const end = int(c.end_ms);
      return {
        episode_key: key,
        fingerprint: fp,
        idx,
        start_ms: start,
        end_ms: end !== null && end > start && end < 2 ** 31 ? end : null,
        title: String(c.title ?? '').slice(0, 500),
        source,
        url: httpOrNull(c.url),
        image: httpOrNull(c.image),
      };
    });
}

async function readOptionalText(_store: ArtifactStore, ref: ArtifactRef, name: string): Promise<string | null> {
  try {
    return await fs.readFile(path.join(ref.dir, name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function readOptionalJson<T>(store: ArtifactStore, ref: ArtifactRef, name: string): Promise<T | null> {
  const text = await readOptionalText(store, ref, name);
  return text === null ? null : (JSON.parse(text) as T);
}
