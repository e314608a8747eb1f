import { sha256 } from '../core/hash';
import type { FeedEpisode } from '../feeds/types';
import { normalise, type Grounder } from './grounding';
import {
  ENRICH_SCHEMA_VERSION,
  type EnrichMethod,
  type EnrichStatus,
  type GiArtifact,
  type GiEdge,
  type GiNode,
  type GroundedQuote,
  type InsightType,
  type KgArtifact,
  type KgEdge,
  type KgNode,
  type PersonRole,
} from './types';
import { slugify } from '../text/words';

/** Builds gi.json / kg.json from drafts (LLM answers or extractive picks); grounding happens here. */

export type EpisodeInfo = Pick<FeedEpisode, 'episodeKey' | 'title' | 'persons' | 'author'>;

export interface InsightDraft {
  text: string;
  insight_type: InsightType;
  confidence: number;
  /** Model quotes (grounded here) or quotes already taken from the transcript. */
  quotes: (string | GroundedQuote)[];
  topics: string[];
}

export interface NamedThing {
  name: string;
  count: number;
}

export interface KgDraft {
  people: (NamedThing & { role: PersonRole })[];
  orgs: NamedThing[];
  topics: NamedThing[];
  /** Endpoints are names/labels of the things above. */
  relations: { from: string; to: string; weight: number }[];
}

interface Outcome {
  method: EnrichMethod;
  status: EnrichStatus;
  problem?: string;
}

const isWordChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

/** Whether a normalised name occurs in a normalised text as whole words. */
function containsName(haystackNorm: string, nameNorm: string): boolean {
  if (nameNorm.length < 3) return false;
  for (let i = haystackNorm.indexOf(nameNorm); i >= 0; i = haystackNorm.indexOf(nameNorm, i + 1)) {
    if (!isWordChar(haystackNorm[i - 1]) && !isWordChar(haystackNorm[i + nameNorm.length])) return true;
  }
  return false;
}

export function buildGi(
  episode: EpisodeInfo,
  insights: readonly InsightDraft[],
  grounder: Grounder,
  entities: { people: string[]; orgs: string[]; topics: string[] },
  outcome: Outcome,
): GiArtifact {
  const nodes = new Map<string, GiNode>();
  const edges: GiEdge[] = [];
  const edgeKeys = new Set<string>();
  const edge = (type: GiEdge['type'], from: string, to: string) => {
    const k = `${type}|${from}|${to}`;
    if (edgeKeys.has(k)) return;
    edgeKeys.add(k);
    edges.push({ type, from, to });
  };
  let quotesTotal = 0;
  let quotesDropped = 0;
  let ungrounded = 0;
  const seenInsights = new Set<string>();
  const named = [
    ...entities.people.map((name) => ({ type: 'Person' as const, id: `person:${slugify(name)}`, name, norm: normalise(name).text })),
    ...entities.orgs.map((name) => ({ type: 'Organization' as const, id: `org:${slugify(name)}`, name, norm: normalise(name).text })),
  ];
  const topics = entities.topics.map((label) => ({ label, norm: normalise(label).text }));

  for (const ins of insights) {
    const key = normalise(ins.text).text;
    if (!key || seenInsights.has(key)) continue;
    seenInsights.add(key);
    const insightId = `insight:${sha256(key).slice(0, 12)}`;
    const grounded: GroundedQuote[] = [];
    for (const q of ins.quotes) {
      quotesTotal++;
      const g = typeof q === 'string' ? grounder.ground(q) : q;
      if (g) grounded.push(g);
      else quotesDropped++;
    }
    if (!grounded.length) ungrounded++;
    nodes.set(insightId, {
      id: insightId,
      type: 'Insight',
      text: ins.text,
      insight_type: ins.insight_type,
      confidence: Math.round(Math.min(1, Math.max(0, ins.confidence)) * 100) / 100,
      grounded: grounded.length > 0,
    });
    const haystacks = [normalise(ins.text).text];
    for (const g of grounded) {
      const quoteId = `quote:${g.char_start}-${g.char_end}`;
      if (!nodes.has(quoteId)) nodes.set(quoteId, { id: quoteId, type: 'Quote', ...g });
      edge('SUPPORTED_BY', insightId, quoteId);
      const qn = normalise(g.text).text;
      haystacks.push(qn);
      for (const e of named) {
        if (!containsName(qn, e.norm)) continue;
        if (!nodes.has(e.id)) nodes.set(e.id, { id: e.id, type: e.type, name: e.name });
        edge('MENTIONS', quoteId, e.id);
      }
    }
    const topicLabels = new Set(ins.topics.map((t) => t.trim()).filter(Boolean));
    for (const t of topics) if (haystacks.some((h) => containsName(h, t.norm))) topicLabels.add(t.label);
    for (const label of topicLabels) {
      const slug = slugify(label);
      if (!slug) continue;
      const id = `topic:${slug}`;
      if (!nodes.has(id)) nodes.set(id, { id, type: 'Topic', label, slug });
      edge('ABOUT', insightId, id);
    }
  }

  const artifact: GiArtifact = {
    schema_version: ENRICH_SCHEMA_VERSION,
    episode_key: episode.episodeKey,
    status: outcome.status,
    method: outcome.method,
    nodes: [...nodes.values()],
    edges,
    stats: { insights: seenInsights.size, quotes_total: quotesTotal, quotes_dropped: quotesDropped, ungrounded_insights: ungrounded },
  };
  if (outcome.problem) artifact.problem = outcome.problem;
  return artifact;
}

const ROLE_RANK: Record<PersonRole, number> = { mentioned: 0, guest: 1, host: 2 };

/** Hosts and guests named by the feed: podcast:person tags, else the episode author as host. */
export function feedPeople(episode: EpisodeInfo): { name: string; role: PersonRole }[] {
  const out: { name: string; role: PersonRole }[] = [];
  for (const p of episode.persons ?? []) {
    const role = (p.role ?? 'host').toLowerCase();
    if (!p.name?.trim()) continue;
    if (role === 'host' || role === 'co-host' || role === 'cohost') out.push({ name: p.name.trim(), role: 'host' });
    else if (role === 'guest') out.push({ name: p.name.trim(), role: 'guest' });
  }
  if (!out.some((p) => p.role === 'host') && episode.author) {
    for (const name of episode.author.split(/\s*(?:,|&|\band\b|;)\s*/)) {
      // "NPR", "Acme Media": an organisation, not a host person
      if (name.trim().split(/\s+/).length >= 2 && !/\b(inc|llc|ltd|media|network|radio|news|studios?|productions?|podcasts?)\b/i.test(name))
        out.push({ name: name.trim(), role: 'host' });
    }
  }
  return out;
}

export function buildKg(episode: EpisodeInfo, draft: KgDraft, outcome: Outcome): KgArtifact {
  const episodeId = `episode:${episode.episodeKey}`;
  const nodes = new Map<string, KgNode>([[episodeId, { id: episodeId, type: 'Episode', title: episode.title, episode_key: episode.episodeKey }]]);
  const weights = new Map<string, KgEdge>();
  const edge = (type: KgEdge['type'], from: string, to: string, weight: number) => {
    if (from === to) return;
    const [a, b] = type === 'RELATED_TO' && to < from ? [to, from] : [from, to];
    const k = `${type}|${a}|${b}`;
    const e = weights.get(k);
    if (e) e.weight += weight;
    else weights.set(k, { type, from: a, to: b, weight });
  };
  const byName = new Map<string, string>();

  const people = new Map<string, { name: string; role: PersonRole; count: number }>();
  for (const p of [...draft.people, ...feedPeople(episode).map((p) => ({ ...p, count: 0, fromFeed: true }))]) {
    const slug = slugify(p.name);
    if (!slug) continue;
    const cur = people.get(slug);
    const fromFeed = 'fromFeed' in p;
    if (!cur) people.set(slug, { name: p.name, role: p.role, count: p.count });
    else {
      cur.count += p.count;
      // The feed knows who hosts; otherwise keep the strongest role seen.
      if (fromFeed || ROLE_RANK[p.role] > ROLE_RANK[cur.role]) cur.role = p.role;
      if (fromFeed) cur.name = p.name;
    }
  }
  for (const [slug, p] of people) {
    const id = `person:${slug}`;
    nodes.set(id, { id, type: 'Person', name: p.name, role: p.role });
    byName.set(p.name.toLowerCase(), id);
    if (p.role === 'host') edge('HOSTS', id, episodeId, 1);
    if (p.role === 'guest') edge('GUESTS_ON', id, episodeId, 1);
    if (p.count > 0) edge('MENTIONS', episodeId, id, p.count);
  }
  for (const o of draft.orgs) {
    const slug = slugify(o.name);
    if (!slug) continue;
    const id = `org:${slug}`;
    if (!nodes.has(id)) nodes.set(id, { id, type: 'Organization', name: o.name });
    byName.set(o.name.toLowerCase(), id);
    edge('MENTIONS', episodeId, id, Math.max(1, o.count));
  }
  for (const t of draft.topics) {
    const slug = slugify(t.name);
    if (!slug) continue;
    const id = `topic:${slug}`;
    if (!nodes.has(id)) nodes.set(id, { id, type: 'Topic', label: t.name, slug });
    byName.set(t.name.toLowerCase(), id);
    edge('MENTIONS', episodeId, id, Math.max(1, t.count));
  }
  for (const r of draft.relations) {
    const a = byName.get(r.from.toLowerCase());
    const b = byName.get(r.to.toLowerCase());
    if (a && b) edge('RELATED_TO', a, b, Math.max(1, r.weight));
  }

  const artifact: KgArtifact = {
    schema_version: ENRICH_SCHEMA_VERSION,
    episode_key: episode.episodeKey,
    status: outcome.status,
    method: outcome.method,
    nodes: [...nodes.values()],
    edges: [...weights.values()],
  };
  if (outcome.problem) artifact.problem = outcome.problem;
  return artifact;
}
