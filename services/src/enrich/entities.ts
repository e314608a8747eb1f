import type { Sentence } from '../text/transcript-text';
import { ENRICH_STOPWORDS } from '../text/stopwords';
import { contentWords, slugify } from '../text/words';

/**
 * Heuristic entity extraction for the extractive KG: capitalised multi-word names become
 * people or organisations, salient keywords become topics. Ids are stable across episodes
 * (`person:<slug>`, `org:<slug>`, `topic:<slug>`), so the corpus graph is the union.
 */

/** Shouted words and everyday abbreviations that are not organisations. */
const ACRONYM_STOP = new Set('i tv ok rip os vp ceo cto cfo coo ps pm am diy faq lol omg fyi asap aka etc usb pdf dm dms pr ama lgbt lgbtq uk us usa eu final long new free now all and the not yes no'.split(' '));

/** Words every podcast says about itself: never a topic. */
const TOPIC_STOP = new Set(
  (
    'episode episodes show shows podcast podcasts listen listening listener listeners access early free exclusive exclusives weekly ' +
    'subscribe support join app behind inside part parts series season seasons host hosts guest guests interview interviews talk talks ' +
    'welcome minutes hour hours week weeks everybody discuss discusses discussed discussing discussion talked talking share shares ' +
    'shared joined joins dive dives explore explores explored learn hear tell told chat chats'
  ).split(' '),
);

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
    'episode season chapter part podcast show christmas easter god internet covid producer executive director editor host designer ' +
    'starring featuring music sound'
  ).split(' '),
);
/** Sentence-initial or filler capitals that never begin a name. */
const LEADING_NOISE = new Set([...ENRICH_STOPWORDS, 'i', 'im', "i'm", 'ive', "i've", 'okay', 'ok', 'well', 'yeah', 'oh', 'so', 'and', 'but', 'now', 'then', 'today', 'thanks', 'thank', 'hey', 'hi', 'hello', 'welcome']);

const NAME_RUN = /[A-Z][\p{L}'’.-]*(?:\s+(?:(?:of|for|&|de|van|von|der|del|da|la|le)\s+)?[A-Z][\p{L}'’.-]*)*/gu;
/** Titles before a name: the rest is a person ("General Grant", "Secretary Seward"). */
const PERSON_TITLES = new Set(
  (
    'general captain secretary congressman congresswoman major colonel lieutenant sergeant admiral commander president vice senator ' +
    'governor king queen prince princess lord lady pope father sister brother uncle aunt chief justice mayor minister ambassador rev reverend navy army'
  ).split(' '),
);
/** Common nouns that are capitalised in titles and credits but never end a person's name. */
const NOT_NAME_END = new Set(
  (
    'house war design app theater theatre music audio game party republicans democrats generals church street road park hall day week act ' +
    'bill court army navy daily show podcast news directed written produced editing episode episodes series edition special feature bonus ' +
    'interview interviews new look plus hosted'
  ).split(' '),
);

function cleanWord(w: string): string {
  return w.replace(/['’]s$/, '').replace(/[.'’-]+$/, '');
}

export interface NameCandidate {
  name: string;
  kind: 'person' | 'org' | 'single';
  /** A title or honorific said it is a person. */
  titled: boolean;
  /** The run began the sentence, so its first capital proves nothing. */
  atStart: boolean;
}

const isNameToken = (t: string) => /^[A-Z][\p{Ll}'’.-]+$/u.test(t) || /^[A-Z]\.?$/.test(t);

/** Names found in one sentence. */
export function nameCandidates(sentence: string): NameCandidate[] {
  const out: NameCandidate[] = [];
  for (const m of sentence.matchAll(NAME_RUN)) {
    let tokens = m[0].split(/\s+/).map(cleanWord).filter(Boolean);
    const before = sentence.slice(0, m.index);
    let atStart = before.trim() === '' || /[.!?:;"“(]\s*$/.test(before);
    while (tokens.length && LEADING_NOISE.has(tokens[0].toLowerCase())) {
      tokens = tokens.slice(1);
      atStart = false; // "So Bitcoin…": the name itself is not sentence-initial
    }
    let titled = false;
    // "Later General Grant", "Dr. Mary Walker": what follows the last title is the name.
    for (let k = tokens.length - 2; k >= 0; k--) {
      const t = tokens[k].toLowerCase();
      if (HONORIFICS.has(t) || PERSON_TITLES.has(t)) {
        titled = true;
        atStart = false;
        tokens = tokens.slice(k + 1);
        break;
      }
    }
    while (tokens.length && /^(of|for|&|de|van|von|der|del|da|la|le)$/i.test(tokens[tokens.length - 1])) tokens = tokens.slice(0, -1);
    if (!tokens.length) continue;
    const lower = tokens.map((t) => t.toLowerCase());
    const name = tokens.join(' ');
    const isAcronym = tokens.length === 1 && /^[A-Z]{2,6}$/.test(tokens[0]) && !ACRONYM_STOP.has(lower[0]);
    const base = { name, titled, atStart };
    if (ORG_SUFFIXES.has(lower[lower.length - 1]) && tokens.length >= 2) out.push({ ...base, kind: 'org' });
    else if (ORG_PREFIXES.has(lower[0]) && tokens.length >= 3) out.push({ ...base, kind: 'org' });
    else if (isAcronym) out.push({ ...base, kind: 'org' });
    else if (titled && tokens.length <= 3 && tokens.every(isNameToken) && !ENRICH_STOPWORDS.has(lower[0])) out.push({ ...base, kind: 'person' });
    else if (
      tokens.length >= 2 &&
      tokens.length <= 4 &&
      !lower.some((t) => NOT_PERSON.has(t) || ENRICH_STOPWORDS.has(t)) &&
      !NOT_NAME_END.has(lower[lower.length - 1]) &&
      tokens.every(isNameToken) &&
      tokens[tokens.length - 1].length > 1
    )
      out.push({ ...base, kind: 'person' });
    else if (tokens.length === 1 && tokens[0].length >= 3 && !ENRICH_STOPWORDS.has(lower[0]) && !atStart) out.push({ ...base, kind: 'single' });
  }
  return out;
}

/**
 * Chooses the people among candidate runs. A run seen mid-sentence (or after a title) is
 * trusted; a sentence-initial run counts only when it, or a part of it ("Starring Jeremy
 * Schwartz" → "Jeremy Schwartz"), is trusted elsewhere. A lone surname after a title goes to
 * the one trusted full name ending in it ("General Grant" → "Ulysses S Grant").
 */
function resolvePeople(runs: { name: string; titled: boolean; atStart: boolean; sentence: number }[]): Map<string, { name: string; sentences: number[] }> {
  const trusted = new Set(runs.filter((r) => (!r.atStart || r.titled) && r.name.includes(' ')).map((r) => r.name));
  const out = new Map<string, { name: string; sentences: number[] }>();
  const add = (name: string, i: number) => {
    const e = out.get(name) ?? { name, sentences: [] };
    e.sentences.push(i);
    out.set(name, e);
  };
  const subRun = (name: string): string | null => {
    const t = name.split(' ');
    for (let len = t.length - 1; len >= 2; len--) {
      for (let from = 0; from + len <= t.length; from++) {
        const sub = t.slice(from, from + len).join(' ');
        if (trusted.has(sub)) return sub;
      }
    }
    return null;
  };
  for (const r of runs) {
    if (!r.name.includes(' ')) continue;
    const sub = trusted.has(r.name) ? null : subRun(r.name);
    if (sub) add(sub, r.sentence);
    else if (trusted.has(r.name)) add(r.name, r.sentence);
  }
  for (const r of runs) {
    if (r.name.includes(' ') || !r.titled) continue;
    const full = [...out.keys()].filter((n) => n.endsWith(` ${r.name}`));
    if (full.length === 1) add(full[0], r.sentence);
    else if (!full.length) add(r.name, r.sentence);
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
  const add = (kind: 'person' | 'org', name: string, sentences: number[]) => {
    const slug = slugify(name);
    if (!slug) return;
    const id = `${kind}:${slug}`;
    const e = names.get(id) ?? { id, kind, name, slug, count: 0, score: 1, sentences: [] };
    e.count += sentences.length;
    e.sentences = [...new Set([...e.sentences, ...sentences])].sort((a, b) => a - b);
    names.set(id, e);
  };
  const known = (opts.knownPeople ?? []).map((n) => ({ name: n, lower: n.toLowerCase() }));
  const personRuns: { name: string; titled: boolean; atStart: boolean; sentence: number }[] = [];

  sentences.forEach((s, i) => {
    for (const c of nameCandidates(s.text)) {
      if (c.kind === 'single') {
        const key = c.name.toLowerCase();
        const e = singles.get(key) ?? { name: c.name, sentences: [] };
        e.sentences.push(i);
        singles.set(key, e);
      } else if (c.kind === 'person') personRuns.push({ ...c, sentence: i });
      else add('org', c.name, [i]);
    }
  });
  const knownLower = new Set(known.map((k) => k.lower));
  for (const [name, e] of resolvePeople(personRuns)) if (!knownLower.has(name.toLowerCase())) add('person', name, e.sentences);
  for (const k of known) {
    const hits = sentences.flatMap((s, i) => (s.text.toLowerCase().includes(k.lower) ? [i] : []));
    if (hits.length) add('person', k.name, hits);
  }

  const people = [...names.values()].filter((e) => e.kind === 'person');
  // A lone acronym said once is as likely shouting as an organisation.
  const orgs = [...names.values()].filter((e) => e.kind === 'org' && (e.name.includes(' ') || e.count >= 2));
  // Words of people's names are not topics; organisation words may be ("Bitcoin" in "Bitcoin Ventures").
  const inNames = new Map<string, number>();
  for (const p of people) for (const w of p.name.toLowerCase().split(' ')) inNames.set(w, (inNames.get(w) ?? 0) + p.count);

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
  // A word of a person's name is no topic, unless it is mostly said on its own
  // ("Bitcoin" in "Bitcoin Beach" and a hundred times alone).
  const nameWords = new Set([...inNames].filter(([w, c]) => (tf.get(w)?.count ?? 0) - c < 2 * c).map(([w]) => w));
  const scored: { label: string; score: number; sentences: number[]; count: number }[] = [];
  for (const [term, e] of tf) {
    const isBigram = term.includes(' ');
    if (isBigram ? e.count < 3 : e.count < 2) continue;
    if (term.split(' ').some((w) => nameWords.has(w) || TOPIC_STOP.has(w))) continue;
    const score = e.count * Math.log(1 + e.sentences.size) * (isBigram ? 1.6 : 1) * Math.min(1, term.length / 6);
    scored.push({ label: term, score, sentences: [...e.sentences], count: e.count });
  }
  for (const [key, e] of singles) {
    if (e.sentences.length < 2 || nameWords.has(key) || ENRICH_STOPWORDS.has(key) || TOPIC_STOP.has(key)) continue;
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
