import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PodbrainError } from '../core/errors';

/**
 * Search quality against judged queries (qrels, `podbrain eval search`, issue 16): a hit is
 * relevant when its episode matches a judged span's and its time span overlaps it; reported as
 * MRR@k and nDCG@k (graded: gain 2^grade − 1).
 */

const span = z
  .object({
    episode: z.union([z.string().min(1), z.number()]).transform(String),
    start_ms: z.number().int().nonnegative(),
    end_ms: z.number().int().nonnegative(),
    grade: z.number().int().min(1).max(3).default(1),
  })
  .strict()
  .refine((s) => s.end_ms > s.start_ms, { message: 'end_ms must be after start_ms' });

const qrelsSchema = z
  .object({
    corpus: z.string().optional(),
    queries: z
      .array(
        z
          .object({
            id: z.union([z.string().min(1), z.number()]).transform(String),
            query: z.string().trim().min(1).max(1000),
            relevant: z.array(span).min(1, 'each query needs at least one relevant span'),
          })
          .strict(),
      )
      .min(1, 'no queries'),
  })
  .strict()
  .superRefine((q, ctx) => {
    const seen = new Set<string>();
    q.queries.forEach((x, i) => {
      if (seen.has(x.id)) ctx.addIssue({ code: 'custom', path: ['queries', i, 'id'], message: `duplicate query id ${x.id}` });
      seen.add(x.id);
    });
  });

export type Qrels = z.infer<typeof qrelsSchema>;
export type JudgedQuery = Qrels['queries'][number];
export type RelevantSpan = JudgedQuery['relevant'][number];

/** Parses a qrels file's text (YAML, of which JSON is a subset); `source` names it in errors. */
export function parseQrels(text: string, source: string): Qrels {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new PodbrainError('eval_bad_qrels', `${source}: not YAML or JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const r = qrelsSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new PodbrainError('eval_bad_qrels', `${source}: ${where}: ${issue.message} (expected { queries: [{ id, query, relevant: [{ episode, start_ms, end_ms, grade }] }] })`);
  }
  return r.data;
}

/** What a ranking is judged on: the hit's episode and time span. */
export interface RankedHit {
  episode_key: string;
  start_ms: number;
  end_ms: number;
}

export interface QueryScore {
  /** 1-based rank of the first relevant hit within k, null when none. */
  firstRelevant: number | null;
  reciprocalRank: number;
  ndcg: number;
  /** Grade credited at each rank (0: not relevant, or only spans an earlier hit already found). */
  gains: number[];
}

const overlaps = (h: RankedHit, s: RelevantSpan) => h.episode_key === s.episode && h.start_ms < s.end_ms && s.start_ms < h.end_ms;
const gainOf = (grade: number) => 2 ** grade - 1;
const discount = (rank: number) => 1 / Math.log2(rank + 1);

/**
 * Scores one ranking (best first) against a query's relevant spans, at cut-off k. A hit's grade
 * is the best of the spans it overlaps that no earlier hit overlapped, so the same passage found
 * twice (overlapping chunks) counts once. The ideal ranking finds every span with its own hit,
 * best grade first.
 */
export function scoreRanking(hits: readonly RankedHit[], relevant: readonly RelevantSpan[], k = 10): QueryScore {
  const found = new Set<RelevantSpan>();
  const gains: number[] = [];
  let firstRelevant: number | null = null;
  hits.slice(0, k).forEach((h, i) => {
    const hitSpans = relevant.filter((s) => overlaps(h, s));
    if (hitSpans.length && firstRelevant === null) firstRelevant = i + 1;
    const fresh = hitSpans.filter((s) => !found.has(s));
    for (const s of hitSpans) found.add(s);
    gains.push(fresh.reduce((g, s) => Math.max(g, s.grade), 0));
  });
  const dcg = gains.reduce((sum, g, i) => sum + gainOf(g) * discount(i + 1), 0);
  const ideal = relevant
    .map((s) => s.grade)
    .sort((a, b) => b - a)
    .slice(0, k)
    .reduce((sum, g, i) => sum + gainOf(g) * discount(i + 1), 0);
  return { firstRelevant, reciprocalRank: firstRelevant ? 1 / firstRelevant : 0, ndcg: ideal ? dcg / ideal : 0, gains };
}

export interface QueryResult extends QueryScore {
  id: string;
  query: string;
  hits: RankedHit[];
}

export interface QualityReport {
  k: number;
  queries: number;
  /** Mean reciprocal rank of the first relevant hit within k. */
  mrr: number;
  /** Mean nDCG@k. */
  ndcg: number;
  /** Share of queries with a relevant hit within k. */
  recall: number;
  perQuery: QueryResult[];
}

/** Runs every judged query through `search` (best first, at least k hits asked for) and averages. */
export async function evaluateSearch(qrels: Qrels, search: (query: string, k: number) => Promise<RankedHit[]>, k = 10): Promise<QualityReport> {
  const perQuery: QueryResult[] = [];
  for (const q of qrels.queries) {
    const hits = await search(q.query, k);
    perQuery.push({ id: q.id, query: q.query, hits: hits.slice(0, k), ...scoreRanking(hits, q.relevant, k) });
  }
  const mean = (f: (r: QueryResult) => number) => perQuery.reduce((s, r) => s + f(r), 0) / perQuery.length;
  return { k, queries: perQuery.length, mrr: mean((r) => r.reciprocalRank), ndcg: mean((r) => r.ndcg), recall: mean((r) => (r.firstRelevant ? 1 : 0)), perQuery };
}
