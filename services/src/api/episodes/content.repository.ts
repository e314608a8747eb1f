import fs from 'node:fs/promises';
import path from 'node:path';
import type { ApiDatabase } from '../database';

/** web/src/api/types.ts views of an episode's projected artifacts. */
export interface TranscriptView {
  engine: string;
  model: string;
  language: string | null;
  status: 'valid' | 'degraded';
  speech_coverage: number | null;
  segments: { start_ms: number; end_ms: number; text: string; speaker: string | null }[];
}

export interface SummaryView {
  title: string;
  bullets: string[];
  key_quotes: string[];
  status: 'valid' | 'degraded' | 'invalid';
  method: 'llm' | 'extractive';
}

export interface QuoteView {
  id: string;
  text: string;
  start_ms: number;
  end_ms: number;
  speaker: string | null;
}

export interface InsightView {
  id: string;
  text: string;
  insight_type: string;
  confidence: number;
  grounded: boolean;
  quotes: QuoteView[];
}

export interface GraphView {
  nodes: { id: string; type: string; label: string; episodes?: { episode_key: string; title: string }[] }[];
  edges: { source: string; target: string; type: string }[];
}

const textOf = (v: unknown): string => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { text?: unknown }).text === 'string' ? (v as { text: string }).text : String(v ?? ''));

async function readJsonIfExists<T>(dir: string | null, name: string): Promise<T | null> {
  if (!dir) return null;
  try {
    return JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Reads the Postgres projections (the project stage writes them); artifact files only for metadata not projected. */
export class ApiContentRepository {
  constructor(private readonly db: ApiDatabase) {}

  async transcript(key: string, transcribeDir: string | null): Promise<TranscriptView | null> {
    const segs = await this.db.query<{ start_ms: number; end_ms: number; text: string; speaker: string | null }>(
      `SELECT start_ms, end_ms, text, speaker FROM transcript_segments WHERE episode_key = $1 ORDER BY idx`,
      [key],
    );
    if (!segs.length) return null;
    const meta = await readJsonIfExists<{ engine?: string; model?: string; language?: string | null; status?: 'valid' | 'degraded'; speech_coverage?: number | null }>(transcribeDir, 'transcript.json');
    return {
      engine: meta?.engine ?? 'unknown',
      model: meta?.model ?? 'unknown',
      language: meta?.language ?? null,
      status: meta?.status === 'degraded' ? 'degraded' : 'valid',
      speech_coverage: meta?.speech_coverage ?? null,
      segments: segs.map((s) => ({ start_ms: s.start_ms, end_ms: s.end_ms, text: s.text, speaker: s.speaker })),
    };
  }

  async summary(key: string, enrichDir: string | null): Promise<SummaryView | null> {
    const rows = await this.db.query<{ title: string | null; bullets: unknown[]; key_quotes: unknown[]; status: string }>(
      `SELECT title, bullets, key_quotes, status FROM summaries WHERE episode_key = $1`,
      [key],
    );
    const r = rows[0];
    if (!r) return null;
    const artifact = await readJsonIfExists<{ method?: string }>(enrichDir, 'summary.json');
    const status = r.status === 'degraded' || r.status === 'invalid' ? r.status : 'valid';
    return {
      title: r.title ?? '',
      bullets: (r.bullets ?? []).map(textOf),
      key_quotes: (r.key_quotes ?? []).map(textOf),
      status,
      method: artifact?.method === 'llm' ? 'llm' : 'extractive',
    };
  }

  async insights(key: string): Promise<InsightView[] | null> {
    const insights = await this.db.query<{ id: string; text: string; insight_type: string; confidence: number | null }>(
      `SELECT id, text, insight_type, confidence FROM insights WHERE episode_key = $1 ORDER BY confidence DESC NULLS LAST, id`,
      [key],
    );
    if (!insights.length) {
      // Enriched with zero insights is an answer ([]); not enriched yet is 404.
      const enriched = await this.db.query(`SELECT 1 FROM summaries WHERE episode_key = $1`, [key]);
      return enriched.length ? [] : null;
    }
    const support = await this.db.query<{ insight_id: string; id: string; text: string; start_ms: number | null; end_ms: number | null; speaker: string | null }>(
      `SELECT s.insight_id, q.id, q.text, q.start_ms, q.end_ms, q.speaker FROM insight_support s
       JOIN quotes q ON q.episode_key = s.episode_key AND q.id = s.quote_id WHERE s.episode_key = $1 ORDER BY q.start_ms NULLS LAST, q.id`,
      [key],
    );
    const byInsight = new Map<string, QuoteView[]>();
    for (const s of support) {
      const list = byInsight.get(s.insight_id) ?? [];
      list.push({ id: s.id, text: s.text, start_ms: s.start_ms ?? 0, end_ms: s.end_ms ?? s.start_ms ?? 0, speaker: s.speaker });
      byInsight.set(s.insight_id, list);
    }
    return insights.map((i) => {
      const quotes = byInsight.get(i.id) ?? [];
      return { id: i.id, text: i.text, insight_type: i.insight_type, confidence: i.confidence ?? 0, grounded: quotes.length > 0, quotes };
    });
  }

  async episodeGraph(key: string): Promise<GraphView | null> {
    const edges = await this.db.query<{ source_id: string; target_id: string; kind: string }>(
      `SELECT source_id, target_id, kind FROM kg_edges WHERE episode_key = $1 ORDER BY id`,
      [key],
    );
    if (!edges.length) {
      const enriched = await this.db.query(`SELECT 1 FROM summaries WHERE episode_key = $1`, [key]);
      return enriched.length ? { nodes: [], edges: [] } : null;
    }
    const ids = [...new Set(edges.flatMap((e) => [e.source_id, e.target_id]))];
    const nodes = await this.db.query<{ id: string; kind: string; label: string }>(`SELECT id, kind, label FROM kg_nodes WHERE id = ANY($1) ORDER BY id`, [ids]);
    return {
      nodes: nodes.map((n) => ({ id: n.id, type: n.kind, label: n.label })),
      edges: edges.map((e) => ({ source: e.source_id, target: e.target_id, type: e.kind })),
    };
  }

  /** The corpus graph of the tenant's episodes: the most connected nodes, each with the episodes that mention it. */
  async corpusGraph(tenantId: string, maxNodes = 300): Promise<GraphView> {
    const edges = await this.db.query<{ source_id: string; target_id: string; kind: string; episode_key: string; title: string }>(
      `SELECT k.source_id, k.target_id, k.kind, k.episode_key, e.title FROM kg_edges k JOIN episodes e ON e.episode_key = k.episode_key
       WHERE e.feed_id IN (SELECT feed_id FROM subscriptions WHERE tenant_id = $1) ORDER BY k.id LIMIT 20000`,
      [tenantId],
    );
    const degree = new Map<string, number>();
    const episodesOf = new Map<string, Map<string, string>>();
    for (const e of edges) {
      for (const id of [e.source_id, e.target_id]) {
        degree.set(id, (degree.get(id) ?? 0) + 1);
        const m = episodesOf.get(id) ?? new Map<string, string>();
        m.set(e.episode_key, e.title);
        episodesOf.set(id, m);
      }
    }
    const keep = new Set([...degree.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, maxNodes).map(([id]) => id));
    const nodes = keep.size ? await this.db.query<{ id: string; kind: string; label: string }>(`SELECT id, kind, label FROM kg_nodes WHERE id = ANY($1) ORDER BY id`, [[...keep]]) : [];
    const seen = new Set<string>();
    const outEdges: GraphView['edges'] = [];
    for (const e of edges) {
      const k = `${e.source_id}\u0000${e.target_id}\u0000${e.kind}`;
      if (!keep.has(e.source_id) || !keep.has(e.target_id) || seen.has(k)) continue;
      seen.add(k);
      outEdges.push({ source: e.source_id, target: e.target_id, type: e.kind });
    }
    return {
      nodes: nodes.map((n) => ({
        id: n.id,
        type: n.kind,
        label: n.label,
        episodes: [...(episodesOf.get(n.id) ?? new Map<string, string>()).entries()].map(([episode_key, title]) => ({ episode_key, title })),
      })),
      edges: outEdges,
    };
  }
}
