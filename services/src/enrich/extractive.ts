import { buildGi, buildKg, feedPeople, type EpisodeInfo, type InsightDraft, type KgDraft } from './assemble';
import { extractEntities, type Entity } from './entities';
import { Grounder, normalise } from './grounding';
import { rankSentences } from './rank';
import { splitSentences, type Sentence, type TranscriptText } from '../text/transcript-text';
import { ENRICH_SCHEMA_VERSION, type EnrichResult, type EnrichStatus, type InsightType, type SummaryArtifact } from './types';
import { shorten, slugify, words } from '../text/words';

/**
 * The extractive fallback (no LLM configured, or LLM output unusable): TextRank summary,
 * insights from the most salient statements (typed by cue phrases, headlined by their key
 * clause, each grounded by its sentence verbatim), and a KG from NLP entity extraction plus the
 * transcript's named speakers. Deterministic for a given transcript.
 */

/** Bumped when the extractive output changes; part of the enrich fingerprint. */
export const EXTRACTIVE_VERSION = 'textrank-v2-nlp';

export interface ExtractiveOptions {
  bullets?: number;
  keyQuotes?: number;
  maxInsights?: number;
  maxTopics?: number;
}

/** Cue phrases, strongest first within each type. */
const RECOMMENDATION = /\b(you should|you shouldn't|you should not|i recommend|i'd recommend|i would recommend|we recommend|i suggest|i'd suggest|my advice|make sure|be sure to|don't forget|never ever|you need to|you have to|you must|you ought to|always|avoid|try to|try the|i'd go with|go with)\b/i;
const ANECDOTE = /\b(last (?:year|week|month|summer|winter|time)|when i was|i remember|one time|years ago|a while ago|back in (?:the )?(?:\d{4}|day)|i once|the other day|yesterday|this morning|when we were|that time i|i had a|i lost|happened to me)\b/i;
const CLAIM = /\b(the (?:fact|truth|reality) is|in fact|actually|research|studies|study|data shows?|proves?|percent|%|\d+ (?:times|percent|x)|always|never|every|most|more than|less than|because|causes?|means?)\b/i;
const STRONG_CUE = /\b(you should|i recommend|i'd recommend|make sure|my advice|last year|when i was|i remember|the fact is|research|studies|percent|%)\b/i;

export function classifyInsight(sentence: string): InsightType {
  const s = sentence.trim();
  if (/\?["')\]]*$/.test(s)) return 'question';
  if (ANECDOTE.test(s) && /\b(i|we|my|our)\b/i.test(s)) return 'anecdote';
  if (RECOMMENDATION.test(s) || /^(?:so,? |and |but )?(?:try|use|avoid|never|always|don't|do not|make|keep|get|buy|install|back up|check)\b/i.test(s)) return 'recommendation';
  if (/\d/.test(s) || CLAIM.test(s) || /\b(is|are|was|were|will|has|have)\b/i.test(s)) return 'claim';
  return 'observation';
}

/** Words at the head of a sentence that say nothing: "So,", "Well, you know,", "And I think". */
const LEAD_FILLER = /^(?:(?:so|and|but|well|yeah|yes|okay|ok|oh|um|uh|like|now|right|look|listen|honestly|basically|i mean|you know|i think|i guess|i feel like)\b[,.]?\s+)+/i;
/** A sentence that opens with a pronoun has its subject somewhere else: not an insight on its own. */
const PRONOUN_LED = /^(?:it|it's|its|this|that|that's|these|those|they|they're|them|he|he's|she|she's|him|her|his|their|there|which)\b/i;
/** "…, didn't you", "…, right", "…, isn't it": said to the co-host, not to the listener. */
const TAG_QUESTION = /,\s*(?:didn't|don't|doesn't|isn't|aren't|wasn't|weren't|won't|wouldn't|haven't|hasn't|can't|couldn't|shouldn't)\s+(?:you|it|they|we|he|she|i)\b|,\s*(?:right|huh|eh|yeah|no)\s*[.!?]*$/i;

/** Why a sentence cannot stand as an insight, or null when it can. */
export function insightProblem(sentence: string, speakers: readonly string[] = []): string | null {
  const s = sentence.trim();
  if (/\?/.test(s)) return 'question';
  if (TAG_QUESTION.test(s)) return 'addressed to a co-host';
  const body = s.replace(LEAD_FILLER, '');
  if (PRONOUN_LED.test(body)) return 'pronoun without antecedent';
  // "Mike, you lost data": talking to someone in the room.
  const vocative = /^([A-Z][\p{L}'-]+),\s+(?:you|your|did|do|have|are|were|can|could|would|will)\b/u.exec(body);
  if (vocative && (speakers.some((sp) => sp.split(' ')[0] === vocative[1]) || /^[A-Z][a-z]+$/.test(vocative[1]))) return 'addressed to a co-host';
  return null;
}

/**
 * The insight's headline: the key clause of its sentence, not the sentence again. For advice,
 * what to do (from the cue on); otherwise the sentence without its lead-in filler, cut at the
 * first clause break when long. Extractive: every word comes from the sentence.
 */
export function headline(sentence: string, type: InsightType): string {
  let s = sentence.trim().replace(LEAD_FILLER, '');
  if (type === 'recommendation') {
    const cue = /\b(?:you should|you need to|you have to|you must|you ought to|i recommend|i'd recommend|i would recommend|we recommend|i suggest|i'd suggest|make sure(?: that)?|be sure to|don't forget to|my advice is(?: to)?|try to)\s+/i.exec(s);
    if (cue) {
      const rest = s.slice(cue.index + cue[0].length);
      const verbFirst = /^(make sure|be sure)/i.test(cue[0]) || /^(use|get|keep|buy|try|avoid|set|run|turn|check|back|test|install|read|put|have|pick|go|stop|start|write|do|don't|never|always)\b/i.test(rest);
      s = verbFirst || /^(?:you|i|we)\b/i.test(cue[0]) ? rest : s;
      if (/^(?:i|we) (?:recommend|suggest)/i.test(cue[0]) && !verbFirst) s = `Recommended: ${rest}`;
    }
  }
  // The main clause: what follows ", it is cheap" or ", because …" is an aside.
  const aside = /,\s+(?:it|it's|this|that|they|which|and|but|so|because|though|although)\b/i.exec(s);
  if (aside && s.slice(0, aside.index).split(/\s+/).length >= 4) s = s.slice(0, aside.index);
  const words = s.split(/\s+/);
  if (words.length > 16) {
    const cut = /[,;:–—-]\s/.exec(s);
    s = cut && cut.index > 20 ? s.slice(0, cut.index) : `${words.slice(0, 14).join(' ')}…`;
  }
  s = s.replace(/[,;:.!]+$/, '').replace(/\s+/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
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
  /** Named speakers of the transcript's cues (`<v Name>`, `Name:`), with how many segments each spoke. */
  speakers: { name: string; segments: number }[];
}

/** Diarisation labels and placeholders are no names. */
const GENERIC_SPEAKER = /^(?:speaker|spk|spkr|voice|person|unknown|host|guest|narrator|s)[\s_-]*\d*$|^\d+$/i;

export function transcriptSpeakers(tt: TranscriptText): { name: string; segments: number }[] {
  const counts = new Map<string, number>();
  for (const seg of tt.segments) {
    const name = seg.speaker?.trim();
    if (!name || GENERIC_SPEAKER.test(name) || name.length < 2 || name.split(/\s+/).length > 4) continue;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts.entries()].map(([name, segments]) => ({ name, segments })).sort((a, b) => b.segments - a.segments || a.name.localeCompare(b.name));
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
  const speakers = transcriptSpeakers(tt);
  const knownPeople = [...new Set([...feedPeople(episode).map((p) => p.name), ...speakers.map((sp) => sp.name)])];
  return { tt, sentences, scores, grounder: new Grounder(tt), entities: extractEntities(sentences, { maxTopics: opts.maxTopics, knownPeople }), speakers };
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
  const speakers = a.speakers.map((sp) => sp.name);
  const p = new Picker(a);
  const out: InsightDraft[] = [];
  for (const i of byScore(a)) {
    if (out.length >= k) break;
    const s = a.sentences[i];
    if (insightProblem(s.text, speakers)) continue;
    const type = classifyInsight(s.text);
    let text = headline(s.text, type);
    if (normalise(text).text.replace(/[.!…]+$/, '') === normalise(s.text).text.replace(/[.!…]+$/, '')) {
      // Already as short as a headline gets: its main clause, or it is no insight.
      const cut = /,\s/.exec(s.text);
      if (!cut || cut.index < 20) continue;
      text = headline(s.text.slice(0, cut.index), type);
    }
    if (!p.tryPick(i)) continue;
    const topics = a.entities.topics.filter((t) => t.sentences.includes(i));
    out.push({
      text,
      insight_type: type,
      confidence: insightConfidence(a.scores[i], topics, s.text, type),
      quotes: [a.grounder.fromOffsets(s.char_start, s.char_end)],
      topics: topics.map((t) => t.name),
    });
  }
  return out;
}

/**
 * How sure the extractive path is, from what it measured: the sentence's TextRank score, how much
 * of the episode is about its topics (mentions across the episode) and how strong its cue
 * phrase is. Never 1: a rule is not a reader.
 */
export function insightConfidence(rank: number, topics: readonly Entity[], sentence: string, type: InsightType): number {
  const mentions = topics.reduce((n, t) => n + t.count, 0);
  const repetition = Math.min(1, Math.log1p(mentions) / Math.log1p(20));
  const cue = STRONG_CUE.test(sentence) ? 1 : type === 'observation' ? 0 : 0.5;
  const c = 0.25 + 0.35 * Math.max(0, Math.min(1, rank)) + 0.2 * repetition + 0.15 * cue;
  return Math.round(Math.min(0.95, c) * 100) / 100;
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
  // Named speakers are in the episode, not just mentioned: guests unless the feed says they host.
  const speakerSlugs = new Set(a.speakers.map((sp) => slugify(sp.name)));
  return {
    people: [
      ...people.filter((p) => !speakerSlugs.has(p.slug)).map((p) => ({ name: p.name, role: 'mentioned' as const, count: p.count })),
      ...a.speakers.map((sp) => ({ name: sp.name, role: 'guest' as const, count: sp.segments })),
    ],
    orgs: orgs.map((o) => ({ name: o.name, count: o.count })),
    topics: topics.map((t) => ({ name: t.name, count: t.count })),
    relations,
  };
}

export function entityNames(a: Analysis, episode: EpisodeInfo): { people: string[]; orgs: string[]; topics: string[] } {
  return {
    people: [...new Set([...a.entities.people.map((p) => p.name), ...feedPeople(episode).map((p) => p.name), ...a.speakers.map((sp) => sp.name)])],
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
