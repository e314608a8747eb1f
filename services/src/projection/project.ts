import fs from 'node:fs/promises';
import path from 'node:path';
import type { EntityManager } from 'typeorm';
import type { ArtifactRef, ArtifactStore } from '../artifacts/store';
import type { Transcript } from '../asr/types';
import type { FeedEpisode } from '../feeds/types';
import type { StageName } from '../pipeline/stage';

/** Bump when what `projectEpisode` writes changes (it is part of the project fingerprint). */
export const PROJECTION_VERSION = 1;

/**
 * Artifacts → canonical Postgres rows (ARCHITECTURE §4). Idempotent: an episode's rows are
 * replaced as a whole inside the caller's transaction; KG nodes are global (ids are stable
 * across episodes, e.g. `person:<slug>`) and upserted. Absent artifacts are skipped: what
 * exists is projected.
 */
export async function projectEpisode(em: EntityManager, store: ArtifactStore, episode: FeedEpisode, inputs: Partial<Record<StageName, ArtifactRef>>): Promise<ProjectionCounts> {
  const key = episode.episodeKey;
  const counts: ProjectionCounts = { segments: 0, summaries: 0, insights: 0, quotes: 0, support: 0, kgNodes: 0, kgEdges: 0, chunks: 0 };
  for (const t of ['insight_support', 'insights', 'quotes', 'kg_edges', 'chunks', 'transcript_segments', 'summaries']) {
    await em.query(`DELETE FROM ${t} WHERE episode_key = $1`, [key]);
  }

  const transcript = inputs.transcribe && (await readOptionalJson<Transcript>(store, inputs.transcribe, 'transcript.json'));
  if (transcript) {
    const segs = transcript.segments ?? [];
    await insertMany(em, 'transcript_segments', ['episode_key', 'fingerprint', 'idx', 'start_ms', 'end_ms', 'speaker', 'text'], segs.map((s, i) => [key, inputs.transcribe!.fingerprint, i, ms(s.start_ms), ms(s.end_ms), s.speaker ?? null, s.text]));
    counts.segments = segs.length;
  }

  const enrich = inputs.enrich;
  if (enrich) {
    const summary = await readOptionalJson<SummaryArtifact>(store, enrich, 'summary.json');
    if (summary) {
      await em.query(`INSERT INTO summaries (episode_key, fingerprint, title, bullets, key_quotes, status) VALUES ($1, $2, $3, $4, $5, $6)`, [
        key,
        enrich.fingerprint,
        summary.title ?? null,
        JSON.stringify(summary.bullets ?? []),
        JSON.stringify(summary.key_quotes ?? []),
        String(summary.status ?? 'valid'),
      ]);
      counts.summaries = 1;
    }
    const gi = await readOptionalJson<GraphArtifact>(store, enrich, 'gi.json');
    if (gi) Object.assign(counts, await projectGi(em, key, enrich.fingerprint, gi));
    const kg = await readOptionalJson<GraphArtifact>(store, enrich, 'kg.json');
    if (kg) Object.assign(counts, await projectKg(em, key, enrich.fingerprint, kg));
  }

  const index = inputs.index;
  if (index) {
    const text = await readOptionalText(store, index, 'chunks.jsonl');
    if (text) {
      const rows = text
        .split('\n')
        .filter((l) => l.trim())
        .map((l, i) => {
          const c = JSON.parse(l) as ChunkLine;
          const vectorId = c.vector_id ?? c.vectorId ?? null;
          return [key, index.fingerprint, c.chunk_no ?? c.idx ?? c.index ?? i, c.text, ms(c.start_ms), ms(c.end_ms), vectorId === null ? null : String(vectorId)];
        });
      await insertMany(em, 'chunks', ['episode_key', 'fingerprint', 'idx', 'text', 'start_ms', 'end_ms', 'vector_id'], rows);
      counts.chunks = rows.length;
    }
  }
  return counts;
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

async function projectGi(em: EntityManager, key: string, fp: string, gi: GraphArtifact): Promise<Partial<ProjectionCounts>> {
  const nodes = gi.nodes ?? [];
  const insights = nodes.filter((n) => nodeKind(n).toLowerCase() === 'insight');
  const quotes = nodes.filter((n) => nodeKind(n).toLowerCase() === 'quote');
  await insertMany(em, 'insights', ['id', 'episode_key', 'fingerprint', 'text', 'insight_type', 'confidence'], insights.map((n) => {
    const p = nodeProps(n);
    return [n.id, key, fp, String(p.text ?? ''), String(p.insight_type ?? p.insightType ?? 'observation'), num(p.confidence)];
  }));
  await insertMany(em, 'quotes', ['id', 'episode_key', 'fingerprint', 'text', 'char_start', 'char_end', 'start_ms', 'end_ms', 'speaker'], quotes.map((n) => {
    const p = nodeProps(n);
    return [n.id, key, fp, String(p.text ?? ''), int(p.char_start), int(p.char_end), int(p.start_ms), int(p.end_ms), (p.speaker as string | undefined) ?? null];
  }));
  const insightIds = new Set(insights.map((n) => n.id));
  const quoteIds = new Set(quotes.map((n) => n.id));
  const support = new Map<string, [string, string]>();
  for (const e of gi.edges ?? []) {
    const { source, target, kind } = edgeEnds(e);
    if (kind === 'SUPPORTED_BY' && insightIds.has(source) && quoteIds.has(target)) support.set(`${source}\u0000${target}`, [source, target]);
  }
  await insertMany(em, 'insight_support', ['episode_key', 'insight_id', 'quote_id'], [...support.values()].map(([i, q]) => [key, i, q]));
  return { insights: insights.length, quotes: quotes.length, support: support.size };
}

async function projectKg(em: EntityManager, key: string, fp: string, kg: GraphArtifact): Promise<Partial<ProjectionCounts>> {
  const nodes = kg.nodes ?? [];
  for (const n of nodes) {
    const p = nodeProps(n);
    const label = String(p.name ?? p.label ?? p.title ?? n.id);
    await em.query(
      `INSERT INTO kg_nodes (id, kind, label, props) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, props = kg_nodes.props || EXCLUDED.props`,
      [n.id, nodeKind(n), label, JSON.stringify(p)],
    );
  }
  const known = new Set(nodes.map((n) => n.id));
  const edges = (kg.edges ?? []).map((e) => ({ ...edgeEnds(e), props: edgeProps(e) })).filter((e) => known.has(e.source) && known.has(e.target));
  await insertMany(em, 'kg_edges', ['episode_key', 'fingerprint', 'source_id', 'target_id', 'kind', 'props'], edges.map((e) => [key, fp, e.source, e.target, e.kind, JSON.stringify(e.props)]));
  return { kgNodes: nodes.length, kgEdges: edges.length };
}

/** Multi-row INSERT in batches that stay under Postgres's 65535 bind parameters. */
async function insertMany(em: EntityManager, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  const perBatch = Math.max(1, Math.floor(60_000 / columns.length));
  for (let i = 0; i < rows.length; i += perBatch) {
    const batch = rows.slice(i, i + perBatch);
    const params: unknown[] = [];
    const values = batch.map((r) => `(${r.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
    await em.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values.join(', ')}`, params);
  }
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
