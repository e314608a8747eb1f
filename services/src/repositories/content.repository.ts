import fs from 'node:fs/promises';
import path from 'node:path';
import { Injectable } from '@nestjs/common';
import type { GraphView, InsightView, QuoteView, SummaryView, TranscriptView } from '../api/contract/responses';
import { Database } from '../db/database';
import { SUMMARY_FILE } from '../enrich/types';

/** The views of an episode's projected artifacts are the API contract's. */
export type { GraphView, InsightView, QuoteView, SummaryView, TranscriptView } from '../api/contract/responses';

/** A summary bullet or quote as projected: a string, or an object with its `text`. */
function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'text' in v && typeof v.text === 'string') return v.text;
  return String(v ?? '');
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** An artifact's JSON object, or null when there is none (no directory, no file, not JSON). */
async function readJsonIfExists(dir: string | null, name: string): Promise<Record<string, unknown> | null> {
  if (!dir) return null;
  try {
    const parsed: unknown = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8'));
    return isRecord(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

const stringOr = <T>(v: unknown, fallback: T): string | T => (typeof v === 'string' ? v : fallback);
const numberOr = <T>(v: unknown, fallback: T): number | T => (typeof v === 'number' ? v : fallback);

/**
 * An episode's content as the api shows it: the Postgres projections (the project stage writes
 * them, repositories/projection.repository.ts); artifact files only for metadata not projected.
 */
@Injectable()
export class ContentRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  async transcript(key: string, transcribeDir: string | null): Promise<TranscriptView | null> {
    const segs = await this.db.selectFrom('transcript_segments').select(['start_ms', 'end_ms', 'text', 'speaker']).where('episode_key', '=', key).orderBy('idx').execute();
    if (!segs.length) return null;
    const meta = await readJsonIfExists(transcribeDir, 'transcript.json');
    return {
      engine: stringOr(meta?.engine, 'unknown'),
      model: stringOr(meta?.model, 'unknown'),
      language: stringOr(meta?.language, null),
      status: meta?.status === 'degraded' ? 'degraded' : 'valid',
      quality_reasons: Array.isArray((meta?.quality as { reasons?: unknown } | undefined)?.reasons)
        ? ((meta!.quality as { reasons: unknown[] }).reasons.filter((r) => typeof r === 'string') as string[])
        : [],
      speech_coverage: numberOr(meta?.speech_coverage, null),
      segments: segs.map((s) => ({ start_ms: s.start_ms, end_ms: s.end_ms, text: s.text, speaker: s.speaker })),
    };
  }

  async summary(key: string, enrichDir: string | null): Promise<SummaryView | null> {
    const r = await this.db.selectFrom('summaries').select(['title', 'bullets', 'key_quotes', 'status']).where('episode_key', '=', key).executeTakeFirst();
    if (!r) return null;
    const artifact = await readJsonIfExists(enrichDir, SUMMARY_FILE);
    const status = r.status === 'degraded' || r.status === 'invalid' ? r.status : 'valid';
    return {
      title: r.title ?? '',
      bullets: (r.bullets ?? []).map(textOf),
      key_quotes: (r.key_quotes ?? []).map(textOf),
      status,
      method: artifact?.method === 'llm' ? 'llm' : 'extractive',
      problem: typeof artifact?.problem === 'string' ? artifact.problem : null,
    };
  }

  /** Whether the episode was enriched (its summary is projected): what tells "none" from "not yet". */
  private async enriched(key: string): Promise<boolean> {
    return (await this.db.selectFrom('summaries').select('episode_key').where('episode_key', '=', key).executeTakeFirst()) !== undefined;
  }

  async insights(key: string): Promise<InsightView[] | null> {
    const insights = await this.db
      .selectFrom('insights')
      .select(['id', 'text', 'insight_type', 'confidence'])
      .where('episode_key', '=', key)
      .orderBy('confidence', (o) => o.desc().nullsLast())
      .orderBy('id')
      .execute();
    if (!insights.length) {
      // Enriched with zero insights is an answer ([]); not enriched yet is 404.
      return (await this.enriched(key)) ? [] : null;
    }
    const support = await this.db
      .selectFrom('insight_support as s')
      .innerJoin('quotes as q', (j) => j.onRef('q.episode_key', '=', 's.episode_key').onRef('q.id', '=', 's.quote_id'))
      .select(['s.insight_id', 'q.id', 'q.text', 'q.start_ms', 'q.end_ms', 'q.speaker'])
      .where('s.episode_key', '=', key)
      .orderBy('q.start_ms', (o) => o.nullsLast())
      .orderBy('q.id')
      .execute();
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
    const edges = await this.db.selectFrom('kg_edges').select(['source_id', 'target_id', 'kind']).where('episode_key', '=', key).orderBy('id').execute();
    if (!edges.length) return (await this.enriched(key)) ? { nodes: [], edges: [] } : null;
    const nodes = await this.nodes([...new Set(edges.flatMap((e) => [e.source_id, e.target_id]))]);
    return {
      nodes: nodes.map((n) => ({ id: n.id, type: n.kind, label: n.label })),
      edges: edges.map((e) => ({ source: e.source_id, target: e.target_id, type: e.kind })),
    };
  }

  /** The corpus graph of the tenant's episodes: the most connected nodes, each with the episodes that mention it. */
  async corpusGraph(tenantId: string, maxNodes = 300): Promise<GraphView> {
    const edges = await this.db
      .selectFrom('kg_edges as k')
      .innerJoin('episodes as e', 'e.episode_key', 'k.episode_key')
      .select(['k.source_id', 'k.target_id', 'k.kind', 'k.episode_key', 'e.title'])
      .where('e.feed_id', 'in', (eb) => eb.selectFrom('subscriptions').select('feed_id').where('tenant_id', '=', tenantId))
      .orderBy('k.id')
      .limit(20000)
      .execute();
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
    const nodes = keep.size ? await this.nodes([...keep]) : [];
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

  /** KG nodes by id (one array parameter, however many ids), ordered by id. */
  private nodes(ids: string[]) {
    return this.db
      .selectFrom('kg_nodes')
      .select(['id', 'kind', 'label'])
      .where('id', '=', (eb) => eb.fn.any(eb.val(ids)))
      .orderBy('id')
      .execute();
  }
}
