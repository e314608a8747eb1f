import type { Sentence } from './transcript-text';
import { STOPWORDS, contentWords, slugify } from './words';

/**
 * Heuristic entity extraction for the extractive KG: capitalised multi-word names become
 * people or organisations, salient keywords become topics. Ids are stable across episodes
 * (`person:<slug>`, `org:<slug>`, `topic:<slug>`), so the corpus graph is the union.
 */

export type EntityKind = 'person' | 'org' | 'topic';

export interface Entity {
  id: string;
  kind: EntityKind;
  name: string;
  slug: string;
  count: number;
  /** Topic salience (0..1 relative to the best topic); 1 for names. */
  score: number;
  /** Indexes of the sentences that mention it. */
  sentences: number[];
}

const ORG_SUFFIXES = new Set(
  (
    'inc incorporated corp corporation co company ltd llc plc gmbh ag labs lab laboratories university institute foundation ' +
    'group agency association society college school academy press media studios studio bank council committee department ministry ' +
    'party network radio news times journal magazine records systems technologies technology software ventures capital partners ' +
    'institution center centre hospital museum club league federation union commission office service services'
  ).split(' '),
);
const ORG_PREFIXES = new Set(['university', 'institute', 'bank', 'department', 'ministry', 'museum', 'league', 'office']);
const HONORIFICS = new Set(['mr', 'mrs', 'ms', 'dr', 'prof', 'professor', 'sir', 'dame', 'senator', 'president', 'governor', 'judge']);
/** Capitalised words that start names of things that are not people. */
const NOT_PERSON = new Set(
  (
    'january february march april may june july august september october november december monday tuesday wednesday thursday friday ' +
    'saturday sunday new north south east west united great saint san los las el la le de old central national international ' +
    'american british european african asian chinese english french german spanish world state states city county river lake mount ' +
    'episode season chapter part podcast show christmas easter god internet covid'
  ).split(' '),
);
/** Sentence-initial or filler capitals that never begin a name. */
const LEADING_NOISE = new Set([...STOPWORDS, 'i', 'im', "i'm", 'ive', "i've", 'okay', 'ok', 'well', 'yeah', 'oh', 'so', 'and', 'but', 'now', 'then', 'today', 'thanks', 'thank', 'hey', 'hi', 'hello', 'welcome']);

const NAME_RUN = /[A-Z][\p{L}'’.-]*(?:\s+(?:(?:of|for|and|&|de|van|von|der|del|da|la|le)\s+)?[A-Z][\p{L}'’.-]*)*/gu;

function cleanWord(w: string): string {
  return w.replace(/['’]s$/, '').replace(/[.'’-]+$/, '');
}

interface Candidate {
  name: string;
  kind: 'person' | 'org' | 'single';
}

/** Names found in one sentence. */
export function nameCandidates(sentence: string): Candidate[] {
  const out: Candidate[] = [];
  for (const m of sentence.matchAll(NAME_RUN)) {
    let tokens = m[0].split(/\s+/).map(cleanWord).filter(Boolean);
    const atStart = sentence.slice(0, m.index).trim() === '' || /[.!?:"“]\s*$/.test(sentence.slice(0, m.index));
    let honorific = false;
    while (tokens.length && LEADING_NOISE.has(tokens[0].toLowerCase())) tokens = tokens.slice(1);
    if (tokens.length && HONORIFICS.has(tokens[0].toLowerCase().replace(/\.$/, ''))) {
      honorific = true;
      tokens = tokens.slice(1);
    }
    while (tokens.length && /^(of|for|and|&|de|van|von|der|del|da|la|le)$/i.test(tokens[tokens.length - 1])) tokens = tokens.slice(0, -1);
    if (!tokens.length) continue;
    const lower = tokens.map((t) => t.toLowerCase());
    const name = tokens.join(' ');
    const isAcronym = tokens.length === 1 && /^[A-Z]{2,6}$/.test(tokens[0]) && tokens[0] !== 'I';
    if (ORG_SUFFIXES.has(lower[lower.length - 1]) && tokens.length >= 2) out.push({ name, kind: 'org' });
    else if (ORG_PREFIXES.has(lower[0]) && tokens.length >= 3) out.push({ name, kind: 'org' });
    else if (isAcronym) out.push({ name, kind: 'org' });
    else if (honorific && tokens.length <= 3) out.push({ name, kind: 'person' });
    else if (tokens.length >= 2 && tokens.length <= 3 && !lower.some((t) => NOT_PERSON.has(t) || STOPWORDS.has(t)) && tokens.every((t) => /^[A-Z][\p{Ll}'’.-]+$/u.test(t)))
      out.push({ name, kind: 'person' });
    else if (tokens.length === 1 && tokens[0].length >= 3 && !STOPWORDS.has(lower[0]) && !atStart)
      out.push({ name, kind: 'single' });
  }
  return out;
}

export interface ExtractedEntities {
  people: Entity[];
  orgs: Entity[];
  topics: Entity[];
}

export function extractEntities(sentences: readonly Sentence[], opts: { maxTopics?: number; knownPeople?: string[] } = {}): ExtractedEntities {
  const names = new Map<string, Entity>();
  const singles = new Map<string, { name: string; sentences: number[] }>();
  const add = (kind: 'person' | 'org', name: string, i: number) => {
    const slug = slugify(name);
    if (!slug) return;
    const id = `${kind}:${slug}`;
    const e = names.get(id) ?? { id, kind, name, slug, count: 0, score: 1, sentences: [] };
    e.count++;
    if (e.sentences[e.sentences.length - 1] !== i) e.sentences.push(i);
    names.set(id, e);
  };
  const known = (opts.knownPeople ?? []).map((n) => ({ name: n, lower: n.toLowerCase() }));

  sentences.forEach((s, i) => {
    for (const c of nameCandidates(s.text)) {
      if (c.kind === 'single') {
        const key = c.name.toLowerCase();
        const e = singles.get(key) ?? { name: c.name, sentences: [] };
        e.sentences.push(i);
        singles.set(key, e);
      } else add(c.kind, c.name, i);
    }
    const lower = s.text.toLowerCase();
    for (const k of known) if (lower.includes(k.lower)) add('person', k.name, i);
  });

  // A single capitalised word that is the last name of a known person counts for that person.
  const people = [...names.values()].filter((e) => e.kind === 'person');
  const orgs = [...names.values()].filter((e) => e.kind === 'org');
  const nameWords = new Set(people.flatMap((p) => p.name.toLowerCase().split(' ')).concat(orgs.flatMap((o) => o.name.toLowerCase().split(' '))));

  // Topics: content-word salience = frequency × spread over sentences, plus repeated proper nouns.
  const tf = new Map<string, { count: number; sentences: Set<number> }>();
  sentences.forEach((s, i) => {
    const ws = contentWords(s.text);
    for (let j = 0; j < ws.length; j++) {
      const terms = [ws[j]];
      if (j + 1 < ws.length) terms.push(`${ws[j]} ${ws[j + 1]}`);
      for (const t of terms) {
        const e = tf.get(t) ?? { count: 0, sentences: new Set<number>() };
        e.count++;
        e.sentences.add(i);
        tf.set(t, e);
      }
    }
  });
  const scored: { label: string; score: number; sentences: number[]; count: number }[] = [];
  for (const [term, e] of tf) {
    const isBigram = term.includes(' ');
    if (isBigram ? e.count < 3 : e.count < 2) continue;
    if (term.split(' ').some((w) => nameWords.has(w))) continue;
    const score = e.count * Math.log(1 + e.sentences.size) * (isBigram ? 1.6 : 1) * Math.min(1, term.length / 6);
    scored.push({ label: term, score, sentences: [...e.sentences], count: e.count });
  }
  for (const [key, e] of singles) {
    if (e.sentences.length < 2 || nameWords.has(key) || STOPWORDS.has(key)) continue;
    scored.push({ label: e.name, score: e.sentences.length * Math.log(1 + e.sentences.length) * 2, sentences: e.sentences, count: e.sentences.length });
  }
  scored.sort((a, b) => b.score - a.score || a.label.localeCompare(b.label));
  const best = scored.length ? scored[0].score : 1;
  const topics: Entity[] = [];
  const seenWords = new Set<string>();
  for (const t of scored) {
    if (topics.length >= (opts.maxTopics ?? 8)) break;
    const slug = slugify(t.label);
    const ws = t.label.toLowerCase().split(' ');
    // "machine learning" wins over "machine" and "learning" once chosen (and vice versa).
    if (!slug || ws.every((w) => seenWords.has(w))) continue;
    ws.forEach((w) => seenWords.add(w));
    topics.push({ id: `topic:${slug}`, kind: 'topic', name: t.label, slug, count: t.count, score: Math.round((t.score / best) * 100) / 100, sentences: t.sentences });
  }

  const byCount = (a: Entity, b: Entity) => b.count - a.count || a.name.localeCompare(b.name);
  return { people: people.sort(byCount), orgs: orgs.sort(byCount), topics };
}
