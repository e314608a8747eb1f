import type { Config } from '../config/config';
import type { Database } from '../db/database';
import type { Logger } from '../core/logger';
import type { EmbeddingProvider } from '../index/embeddings';
import type { LlmProvider } from '../llm/provider';
import { DigestRepository, type ChunkRow, type EntityRow, type InsightRow, type QuoteRow, type WindowEpisodeRow } from '../repositories/digests.repository';
import { clusterPassages, type ClusterPassage } from './cluster';
import { shorten, titleClusters } from './titles';
import { computeTrends, TREND_WINDOWS_BEFORE } from './trends';
import { DIGEST_VERSION, type ClusterQuote, type DigestBody, type DigestEpisode, type DigestTrigger, type ShowLine, type StoredDigest, type StoryCluster } from './types';

export interface DigestDeps {
  config: Config;
  database: Database;
  log: Logger;
  /** The configured embeddings (createEmbeddingProvider). */
  embeddings: EmbeddingProvider;
  /** The LLM that titles clusters, or null (extractive titles). */
  llm: LlmProvider | null;
}

export interface DigestRequest {
  tenantId: string;
  /** Default: `config.digest.windowDays` days before `to`. */
  from?: Date;
  /** Default: now. */
  to?: Date;
  trigger: DigestTrigger;
  signal?: AbortSignal;
}

const DAY_MS = 86_400_000;
/** What one episode brings to the clustering: its best insights, and a few chunks (all when it has no insights). */
export const PASSAGES_PER_EPISODE = { insights: 6, chunks: 2, chunksWithoutInsights: 6 };
/** Entities per episode matched in its passages' text (its most mentioned ones). */
const ENTITIES_PER_EPISODE = 20;
const QUOTES_PER_CLUSTER = 3;
const SHOW_LINE_CHARS = 240;
/** At most this many passages are compared (≈ 4.5 M pairs). */
export const MAX_PASSAGES = 3000;
/** Words of a chunk that are embedded for the clustering. */
const CHUNK_WORDS_EMBEDDED = 120;

function firstWords(text: string, n: number): string {
  const words = text.split(/\s+/);
  return words.length <= n ? text : words.slice(0, n).join(' ');
}

/** How close two passages must be per provider: hash vectors share words, model vectors meaning. */
function clusterThreshold(provider: EmbeddingProvider['name']): number {
  return provider === 'hash' ? 0.3 : 0.55;
}

/** The window a request asks for: [from, to), from before to. */
export function digestWindow(config: Config, from?: Date, to?: Date, now = new Date()): { from: Date; to: Date } {
  const end = to ?? now;
  return { from: from ?? new Date(end.getTime() - config.digest.windowDays * DAY_MS), to: end };
}

/** 'weekly' for a 7-day window, else 'custom'. */
export const digestKind = (from: Date, to: Date) => (to.getTime() - from.getTime() === 7 * DAY_MS ? 'weekly' : 'custom');

interface Passage extends ClusterPassage {
  key: string;
  kind: 'insight' | 'chunk';
  text: string;
  insightId?: string;
  startMs?: number;
  endMs?: number;
}

const lower = (s: string) => s.toLowerCase();

/** Whether `label` occurs in the (lower-cased) text as whole words. */
function names(textLower: string, label: string): boolean {
  const l = lower(label);
  if (l.length < 3) return false;
  for (let i = textLower.indexOf(l); i >= 0; i = textLower.indexOf(l, i + 1)) {
    const before = textLower[i - 1];
    const after = textLower[i + l.length];
    if ((!before || !/[\p{L}\p{N}]/u.test(before)) && (!after || !/[\p{L}\p{N}]/u.test(after))) return true;
  }
  return false;
}

function summaryLine(e: WindowEpisodeRow): string | null {
  if (e.summary_title?.trim()) return e.summary_title.trim();
  const first = e.bullets?.find((b) => typeof b === 'string' && b.trim()) as string | undefined;
  return first ? shorten(first, 200) : null;
}

const feedTitle = (e: WindowEpisodeRow) => e.feed_title?.trim() || e.feed_id;

/** A digest of the tenant's followed feeds for the window (see DigestBody); not stored. */
export async function buildDigest(deps: DigestDeps, req: DigestRequest): Promise<DigestBody> {
  const repo = new DigestRepository(deps.database);
  const { from, to } = digestWindow(deps.config, req.from, req.to);
  const windowEpisodes = await repo.windowEpisodes(req.tenantId, from, to);
  const done = windowEpisodes.filter((e) => e.state === 'done');
  const doneKeys = done.map((e) => e.episode_key);
  const [insights, quotes, chunks, entities, trendRows, history] = await Promise.all([
    repo.insights(doneKeys),
    repo.quotes(doneKeys),
    repo.chunks(doneKeys),
    repo.entities(doneKeys),
    repo.trendCounts(req.tenantId, from, to, TREND_WINDOWS_BEFORE),
    repo.processedBefore(req.tenantId, new Date(from.getTime() - TREND_WINDOWS_BEFORE * (to.getTime() - from.getTime())), from),
  ]);
  req.signal?.throwIfAborted();

  const episodes: DigestEpisode[] = windowEpisodes.map((e) => ({
    episode_key: e.episode_key,
    title: e.title,
    feed_id: e.feed_id,
    feed_title: feedTitle(e),
    published_at: e.at.toISOString(),
    state: e.state,
    summary: e.state === 'done' ? summaryLine(e) : null,
  }));

  const clustered = await storyClusters(deps, done, { insights, quotes, chunks, entities }, req.signal);
  const trends = computeTrends(trendRows);
  return {
    version: DIGEST_VERSION,
    from: from.toISOString(),
    to: to.toISOString(),
    episodes,
    clusters: clustered.clusters,
    trends,
    shows: showLines(windowEpisodes),
    stats: {
      episodes: windowEpisodes.length,
      processed: done.length,
      passages: clustered.passages,
      trend_windows: history ? TREND_WINDOWS_BEFORE : 0,
      llm_problem: clustered.llmProblem,
      embeddings: `${deps.embeddings.name} ${deps.embeddings.model}`,
    },
  };
}

async function storyClusters(
  deps: DigestDeps,
  done: readonly WindowEpisodeRow[],
  rows: { insights: InsightRow[]; quotes: QuoteRow[]; chunks: ChunkRow[]; entities: EntityRow[] },
  signal?: AbortSignal,
): Promise<{ clusters: StoryCluster[]; passages: number; llmProblem: string | null }> {
  const index = new Map(done.map((e, i) => [e.episode_key, i]));
  const entitiesOf = groupBy(rows.entities, (r) => r.episode_key);
  for (const list of entitiesOf.values()) list.sort((a, b) => b.weight - a.weight || a.id.localeCompare(b.id));

  // The passages: each episode's best insights (the rows come best first) and a few chunks.
  const passages: Passage[] = [];
  const insightCount = new Map<string, number>();
  for (const r of rows.insights) {
    const n = insightCount.get(r.episode_key) ?? 0;
    if (n >= PASSAGES_PER_EPISODE.insights || !r.text.trim()) continue;
    insightCount.set(r.episode_key, n + 1);
    passages.push({ key: r.episode_key, kind: 'insight', text: r.text, insightId: r.id, episode: index.get(r.episode_key)!, feed: '', vector: new Float32Array(0), entities: [], weight: 0.5 + (r.confidence ?? 0.5) / 2 });
  }
  const chunksOf = groupBy(rows.chunks, (c) => c.episode_key);
  for (const [key, list] of chunksOf) {
    const top = (entitiesOf.get(key) ?? []).slice(0, ENTITIES_PER_EPISODE);
    // A model pays per passage (the cost of a digest with onnx/openai is its embedding): there, an
    // episode's insights stand for it and its chunks come in only when it has none.
    const withInsights = deps.embeddings.name === 'hash' ? PASSAGES_PER_EPISODE.chunks : 0;
    const limit = insightCount.get(key) ? withInsights : PASSAGES_PER_EPISODE.chunksWithoutInsights;
    // The chunks that name the most of the episode's own entities carry its subjects.
    const ranked = list
      .map((c) => {
        const t = lower(c.text);
        return { c, n: top.reduce((sum, e) => sum + (names(t, e.label) ? e.weight : 0), 0) };
      })
      .sort((a, b) => b.n - a.n || a.c.idx - b.c.idx)
      .slice(0, limit);
    for (const { c } of ranked) passages.push({ key, kind: 'chunk', text: c.text, startMs: c.start_ms, endMs: c.end_ms, episode: index.get(key)!, feed: '', vector: new Float32Array(0), entities: [], weight: 0.3 });
  }
  trimPassages(passages);
  for (const p of passages) {
    p.feed = done[p.episode].feed_id;
    const t = lower(p.text);
    p.entities = (entitiesOf.get(p.key) ?? []).slice(0, ENTITIES_PER_EPISODE).filter((e) => names(t, e.label)).map((e) => e.id);
  }
  if (!passages.length) return { clusters: [], passages: 0, llmProblem: null };

  // A chunk's opening words carry its subject well enough; the rest only costs embedding time.
  const vectors = await deps.embeddings.embed(
    passages.map((p) => (p.kind === 'chunk' ? firstWords(p.text, CHUNK_WORDS_EMBEDDED) : p.text)),
    { signal },
  );
  passages.forEach((p, i) => (p.vector = vectors[i]));
  signal?.throwIfAborted();

  const found = clusterPassages(passages, {
    threshold: clusterThreshold(deps.embeddings.name),
    entityBonus: 0.08,
    maxBonus: 0.16,
    maxEpisodes: 12,
    maxClusters: deps.config.digest.maxClusters,
  });

  const quotesOfInsight = groupBy(
    rows.quotes.filter((q) => q.insight_id),
    (q) => `${q.episode_key}\u0000${q.insight_id}`,
  );
  const quotesOfEpisode = groupBy(rows.quotes, (q) => q.episode_key);
  const quotesOf = (p: Passage): QuoteRow[] => {
    if (p.kind === 'insight') return quotesOfInsight.get(`${p.key}\u0000${p.insightId}`) ?? [];
    return (quotesOfEpisode.get(p.key) ?? []).filter((q) => q.start_ms >= (p.startMs ?? 0) && q.start_ms < (p.endMs ?? 0));
  };
  const byKey = new Map(done.map((e) => [e.episode_key, e]));

  const drafts = found.map((c) => {
    const members = c.members.map((m) => passages[m]);
    const keys = [...new Set(members.map((p) => p.key))];
    // Entities at least two of the cluster's episodes mention, most shared (then most mentioned) first.
    const tally = new Map<string, { label: string; episodes: number; weight: number }>();
    for (const key of keys) {
      for (const e of entitiesOf.get(key) ?? []) {
        const t = tally.get(e.id) ?? { label: e.label, episodes: 0, weight: 0 };
        t.episodes++;
        t.weight += e.weight;
        tally.set(e.id, t);
      }
    }
    const sharedEntities = [...tally.values()].filter((t) => t.episodes >= 2).sort((a, b) => b.episodes - a.episodes || b.weight - a.weight || a.label.localeCompare(b.label));
    // Quotes: one per episode first (seed's first), then more, up to QUOTES_PER_CLUSTER; verbatim rows with their time.
    const candidates = members.map((p) => quotesOf(p).filter((q) => q.text.trim().length >= 12).sort((a, b) => quoteFit(a.text) - quoteFit(b.text)));
    const picked: QuoteRow[] = [];
    const seen = new Set<string>();
    for (let round = 0; round < QUOTES_PER_CLUSTER && picked.length < QUOTES_PER_CLUSTER; round++) {
      const episodesThisRound = new Set<string>();
      for (const list of candidates) {
        const q = list.find((x) => !seen.has(`${x.episode_key}\u0000${x.id}`) && !episodesThisRound.has(x.episode_key));
        if (!q || picked.length >= QUOTES_PER_CLUSTER) continue;
        if (round === 0 && picked.some((x) => x.episode_key === q.episode_key)) continue;
        seen.add(`${q.episode_key}\u0000${q.id}`);
        episodesThisRound.add(q.episode_key);
        picked.push(q);
      }
    }
    const quotes: ClusterQuote[] = picked.map((q) => ({
      text: q.text,
      episode_key: q.episode_key,
      start_ms: q.start_ms,
      episode_title: byKey.get(q.episode_key)?.title ?? q.episode_key,
      feed_title: feedTitle(byKey.get(q.episode_key)!),
    }));
    return {
      keys,
      entities: sharedEntities.slice(0, 6).map((t) => t.label),
      texts: [...members.filter((p) => p.kind === 'insight'), ...members.filter((p) => p.kind === 'chunk')].map((p) => p.text),
      quotes,
      feeds: c.feeds,
    };
  });

  const titled = await titleClusters(drafts, deps.llm, deps.log, signal);
  const clusters: StoryCluster[] = drafts.map((d, i) => ({
    title: titled.titles[i].title,
    title_source: titled.titles[i].source,
    episodes: d.keys.map((k) => {
      const e = byKey.get(k)!;
      return { episode_key: k, title: e.title, feed_id: e.feed_id, feed_title: feedTitle(e) };
    }),
    entities: d.entities,
    quotes: d.quotes,
    feeds: d.feeds,
  }));
  return { clusters, passages: passages.length, llmProblem: titled.problem };
}

/**
 * The pairwise comparison is quadratic: a long window of a big library keeps MAX_PASSAGES in all,
 * the same number of each episode's best passages (its insights first) for every episode.
 */
export function trimPassages<P extends { key: string }>(passages: P[]): void {
  if (passages.length <= MAX_PASSAGES) return;
  const byEpisode = groupBy(passages, (p) => p.key);
  const sizes = [...byEpisode.values()].map((l) => l.length);
  let k = Math.max(...sizes);
  while (k > 1 && sizes.reduce((sum, n) => sum + Math.min(n, k), 0) > MAX_PASSAGES) k--;
  const keep = new Set([...byEpisode.values()].flatMap((l) => l.slice(0, k)));
  const kept = passages.filter((p) => keep.has(p));
  passages.length = 0;
  passages.push(...kept);
}

/** Lower is better: a quote of one or two sentences (60–240 characters) reads best in a digest. */
function quoteFit(text: string): number {
  const n = text.trim().length;
  return n < 60 ? 60 - n : n > 240 ? n - 240 : 0;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    const list = out.get(k);
    if (list) list.push(t);
    else out.set(k, [t]);
  }
  return out;
}

function showLines(episodes: readonly WindowEpisodeRow[]): ShowLine[] {
  const byFeed = groupBy(episodes, (e) => e.feed_id);
  const out: ShowLine[] = [];
  for (const [feedId, list] of byFeed) {
    const parts = list.map((e) => (e.state === 'done' ? (summaryLine(e) ?? e.title) : e.title));
    const pending = list.filter((e) => e.state !== 'done').length;
    let line = [...new Set(parts)].join('; ');
    if (pending) line += ` (${pending} not processed yet)`;
    out.push({ feed_id: feedId, feed_title: feedTitle(list[0]), episodes: list.length, line: shorten(line, SHOW_LINE_CHARS) });
  }
  return out.sort((a, b) => b.episodes - a.episodes || a.feed_title.localeCompare(b.feed_title));
}

/** Generates a digest for the window and stores it; a scheduled one whose window is stored already is answered as stored. */
export async function generateDigest(deps: DigestDeps, req: DigestRequest): Promise<{ digest: StoredDigest; created: boolean }> {
  const started = performance.now();
  const repo = new DigestRepository(deps.database);
  const { from, to } = digestWindow(deps.config, req.from, req.to);
  if (req.trigger === 'scheduled') {
    const existing = await repo.scheduled(req.tenantId, from, to);
    if (existing) return { digest: existing, created: false };
  }
  const body = await buildDigest(deps, { ...req, from, to });
  const durationMs = Math.round(performance.now() - started);
  const stored = await repo.insert({ tenantId: req.tenantId, from, to, kind: digestKind(from, to), trigger: req.trigger, body, durationMs });
  if (stored) {
    deps.log.info({ tenant_id: req.tenantId, digest_id: stored.id, episodes: body.episodes.length, clusters: body.clusters.length, duration_ms: durationMs, trigger: req.trigger }, 'digest generated');
    return { digest: stored, created: true };
  }
  // Another run stored this scheduled window meanwhile.
  const existing = await repo.scheduled(req.tenantId, from, to);
  if (!existing) throw new Error('the digest was neither stored nor found');
  return { digest: existing, created: false };
}
