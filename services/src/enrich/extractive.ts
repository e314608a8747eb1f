import { buildGi, buildKg, feedPeople, type EpisodeInfo, type InsightDraft, type KgDraft } from './assemble';
import { extractEntities, type Entity } from './entities';
import { Grounder } from './grounding';
import { rankSentences } from './rank';
import { splitSentences, type Sentence, type TranscriptText } from '../text/transcript-text';
import { ENRICH_SCHEMA_VERSION, type EnrichResult, type EnrichStatus, type InsightType, type SummaryArtifact } from './types';
import { shorten, words } from '../text/words';

/**
 * The extractive fallback (no LLM configured, or LLM output unusable): TextRank summary,
 * insights from the most salient sentences (typed by simple rules, each grounded by
 * itself), and a KG from heuristic entity extraction. Deterministic for a given transcript.
 */

/** Bumped when the extractive output changes; part of the enrich fingerprint. */
export const EXTRACTIVE_VERSION = 'textrank-v1';

export interface ExtractiveOptions {
  bullets?: number;
  keyQuotes?: number;
  maxInsights?: number;
  maxTopics?: number;
}

export function classifyInsight(sentence: string): InsightType {
  const s = sentence.trim();
  if (/\?["')\]]*$/.test(s)) return 'question';
  if (/\b(should|must|ought to|need to|needs to|recommend\w*|suggest\w*|try|make sure|have to|avoid|don't|never)\b/i.test(s)) return 'recommendation';
  if (/\d/.test(s) || /\b(is|are|was|were|will|has|have|causes?|means?|shows?|proves?)\b/i.test(s)) return 'claim';
  return 'observation';
}

/** Sentences worth showing: not too short to say anything, not a run-on wall of text. */
function usable(s: Sentence): boolean {
  const tokens = s.text.split(/\s+/);
  const n = tokens.length;
  if (n < 6 || n > MAX_SENTENCE_WORDS) return false;
  // Credit lists and show-note debris ("Starring A as B, C as D …") are mostly capitalised words.
  const caps = tokens.filter((t) => /^["“(]?[A-Z]/.test(t)).length;
  return caps / n <= 0.45;
}

export interface Analysis {
  tt: TranscriptText;
  sentences: Sentence[];
  scores: number[];
  grounder: Grounder;
  entities: { people: Entity[]; orgs: Entity[]; topics: Entity[] };
}

const MAX_SENTENCE_WORDS = 70;

/**
 * Sentences of the transcript. Text without punctuation (some ASR engines) would be one
 * endless "sentence": long ones are cut at segment ends, then every ~40 words.
 */
function transcriptSentences(tt: TranscriptText): Sentence[] {
  const out: Sentence[] = [];
  const push = (from: number, to: number) => {
    while (from < to && tt.text[from] === ' ') from++;
    while (to > from && tt.text[to - 1] === ' ') to--;
    if (to > from) out.push({ text: tt.text.slice(from, to), char_start: from, char_end: to });
  };
  for (const s of splitSentences(tt.text)) {
    if (s.text.split(' ').length <= MAX_SENTENCE_WORDS) {
      out.push(s);
      continue;
    }
    const cuts = tt.ends.filter((e) => e > s.char_start && e < s.char_end);
    let from = s.char_start;
    for (const to of [...cuts, s.char_end]) {
      // Within one over-long piece: every 40 words.
      let pieceStart = from;
      let words = 0;
      for (let i = from; i < to; i++) {
        if (tt.text[i] === ' ' && ++words >= 40) {
          push(pieceStart, i);
          pieceStart = i + 1;
          words = 0;
        }
      }
      push(pieceStart, to);
      from = to;
    }
  }
  return out;
}

export function analyse(tt: TranscriptText, episode: EpisodeInfo, opts: ExtractiveOptions = {}): Analysis {
  const sentences = transcriptSentences(tt);
  const scores = rankSentences(sentences.map((s) => s.text));
  const knownPeople = feedPeople(episode).map((p) => p.name);
  return { tt, sentences, scores, grounder: new Grounder(tt), entities: extractEntities(sentences, { maxTopics: opts.maxTopics, knownPeople }) };
}

/** Picks sentences best first, skipping near-duplicates (Jaccard ≥ 0.6 of their word sets). */
class Picker {
  readonly picked: number[] = [];
  private readonly seen: Set<string>[] = [];
  constructor(private readonly a: Analysis) {}

  tryPick(i: number): boolean {
    const ws = new Set(words(this.a.sentences[i].text));
    const dup = this.seen.some((s) => {
      let inter = 0;
      for (const w of ws) if (s.has(w)) inter++;
      return inter / (ws.size + s.size - inter) >= 0.6;
    });
    if (dup) return false;
    this.picked.push(i);
    this.seen.push(ws);
    return true;
  }
}

function byScore(a: Analysis, from = 0, to = a.sentences.length): number[] {
  const order: number[] = [];
  // A transcript of nothing but short fragments ("Yeah. Right.") still gets a summary.
  const ok = a.sentences.some(usable) ? usable : (s: Sentence) => s.text.split(' ').length >= 2;
  for (let i = from; i < to; i++) if (ok(a.sentences[i])) order.push(i);
  return order.sort((x, y) => a.scores[y] - a.scores[x] || x - y);
}

/** Indexes of the best usable sentences, best first. */
function topSentences(a: Analysis, k: number): number[] {
  const p = new Picker(a);
  for (const i of byScore(a)) {
    if (p.picked.length >= k) break;
    p.tryPick(i);
  }
  return p.picked;
}

/** One best sentence per equal stretch of the episode, so bullets cover it from start to end. */
function coveringSentences(a: Analysis, k: number): number[] {
  const p = new Picker(a);
  const n = a.sentences.length;
  for (let part = 0; part < k; part++) {
    for (const i of byScore(a, Math.floor((part * n) / k), Math.floor(((part + 1) * n) / k))) if (p.tryPick(i)) break;
  }
  // Short transcripts: fill up from the global ranking.
  if (p.picked.length < k) for (const i of byScore(a)) if (p.picked.length < k) p.tryPick(i);
  return p.picked.sort((x, y) => x - y);
}

export function extractiveSummary(a: Analysis, episode: EpisodeInfo, opts: ExtractiveOptions = {}, status: EnrichStatus = 'valid', problem?: string): SummaryArtifact {
  const bullets = coveringSentences(a, opts.bullets ?? 5).map((i) => shorten(a.sentences[i].text, 240));
  const keyQuotes = topSentences(a, opts.keyQuotes ?? 3).map((i) => a.grounder.fromOffsets(a.sentences[i].char_start, a.sentences[i].char_end));
  const summary: SummaryArtifact = {
    schema_version: ENRICH_SCHEMA_VERSION,
    episode_key: episode.episodeKey,
    title: episode.title?.trim() || (a.sentences[0] ? shorten(a.sentences[0].text, 100) : 'Untitled episode'),
    bullets,
    key_quotes: keyQuotes,
    status,
    method: 'extractive',
  };
  if (problem) summary.problem = problem;
  return summary;
}

export function extractiveInsights(a: Analysis, opts: ExtractiveOptions = {}): InsightDraft[] {
  const k = opts.maxInsights ?? Math.min(12, Math.max(3, Math.round(a.sentences.length / 25)));
  return topSentences(a, k).map((i) => {
    const s = a.sentences[i];
    return {
      text: s.text,
      insight_type: classifyInsight(s.text),
      confidence: a.scores[i],
      quotes: [a.grounder.fromOffsets(s.char_start, s.char_end)],
      topics: a.entities.topics.filter((t) => t.sentences.includes(i)).map((t) => t.name),
    };
  });
}

/** Caps per episode: a name said once in a long credit list should not flood the corpus graph. */
const MAX_KG_PEOPLE = 40;
const MAX_KG_ORGS = 30;

export function extractiveKgDraft(a: Analysis): KgDraft {
  // Entities come sorted by mention count.
  const people = a.entities.people.slice(0, MAX_KG_PEOPLE);
  const orgs = a.entities.orgs.slice(0, MAX_KG_ORGS);
  const topics = a.entities.topics;
  const all = [...people, ...orgs, ...topics];
  // Co-occurrence in the same sentence → RELATED_TO, strongest 40 pairs.
  const bySentence = new Map<number, Entity[]>();
  for (const e of all) for (const i of e.sentences) (bySentence.get(i) ?? bySentence.set(i, []).get(i)!).push(e);
  const pairs = new Map<string, { from: string; to: string; weight: number }>();
  for (const list of bySentence.values()) {
    for (let x = 0; x < list.length; x++) {
      for (let y = x + 1; y < list.length; y++) {
        if (list[x].id === list[y].id) continue;
        const [p, q] = list[x].id < list[y].id ? [list[x], list[y]] : [list[y], list[x]];
        const k = `${p.id}|${q.id}`;
        const cur = pairs.get(k);
        if (cur) cur.weight++;
        else pairs.set(k, { from: p.name, to: q.name, weight: 1 });
      }
    }
  }
  const relations = [...pairs.values()].sort((x, y) => y.weight - x.weight || x.from.localeCompare(y.from)).slice(0, 40);
  return {
    people: people.map((p) => ({ name: p.name, role: 'mentioned' as const, count: p.count })),
    orgs: orgs.map((o) => ({ name: o.name, count: o.count })),
    topics: topics.map((t) => ({ name: t.name, count: t.count })),
    relations,
  };
}

export function entityNames(a: Analysis, episode: EpisodeInfo): { people: string[]; orgs: string[]; topics: string[] } {
  return {
    people: [...new Set([...a.entities.people.map((p) => p.name), ...feedPeople(episode).map((p) => p.name)])],
    orgs: a.entities.orgs.map((o) => o.name),
    topics: a.entities.topics.map((t) => t.name),
  };
}

/** The whole extractive enrichment of one transcript. */
export function enrichExtractive(tt: TranscriptText, episode: EpisodeInfo, opts: ExtractiveOptions = {}): EnrichResult {
  const a = analyse(tt, episode, opts);
  const outcome = { method: 'extractive' as const, status: 'valid' as const };
  return {
    summary: extractiveSummary(a, episode, opts),
    gi: buildGi(episode, extractiveInsights(a, opts), a.grounder, entityNames(a, episode), outcome),
    kg: buildKg(episode, extractiveKgDraft(a), outcome),
  };
}
