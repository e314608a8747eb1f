import nlp from 'compromise';
import type { Sentence } from '../text/transcript-text';
import { ENRICH_STOPWORDS } from '../text/stopwords';
import { slugify } from '../text/words';

/**
 * Entity extraction for the extractive KG. compromise (an NLP library with its English lexicon
 * and tagger shipped in the npm package, no download) names the people, places, organisations
 * and noun phrases of each sentence; the older name-shape rules below only add multi-word names
 * it does not know, seen mid-sentence or after a title (credit lists, non-English names).
 * Acronyms of technical terms (RAID, NAS) are topics, never organisations or people; a show's
 * own name is never a person; filler nouns ("use", "others", "twelve") are never topics; product
 * and place names (Backblaze B2, Postgres, Berlin) are topics. Ids are stable across episodes
 * (`person:<slug>`, `org:<slug>`, `topic:<slug>`), so the corpus graph is the union.
 */

/** Acronyms that name technology, not an organisation: topics. */
const TECH_ACRONYMS = new Set(
  (
    'raid nas san ssd ssds hdd hdds nvme cpu cpus gpu gpus ram rom api apis sdk ui ux os vm vms vpn dns dhcp ip tcp udp http https ssh ftp sftp smb nfs ' +
    'zfs lvm usb hdmi wifi lan wan iot ai ml llm llms sql db json xml yaml csv html css js rss url cdn saas ci cd k8s ecc ups poe tls ssl 2fa mfa ' +
    'gpl mit oss bios uefi iso dvd cd rgb led lcd oled 4k hdr'
  ).split(' '),
);
/** Nouns that are no topic however often they are said. */
const FILLER_TOPICS = new Set(
  (
    'use uses used using user thing things stuff lot lots way ways kind kinds sort sorts bit bits others other another ask asks asked question questions ' +
    'answer answers point points time times day days year years people person guy guys folks everyone everybody someone somebody something anything ' +
    'nothing everything one ones zero two three four five six seven eight nine ten eleven twelve twenty thirty hundred thousand million billion ' +
    'idea ideas fact facts case cases reason reasons problem problems place places end start number numbers yeah okay ok word words minute second ' +
    'seconds today tomorrow yesterday morning night evening name names man men woman women friend friends right left side sides top bottom ' +
    'moment moments story stories mind sense matter matters example examples question part piece pieces level levels couple half rest place ' +
    'lol um uh hmm mm huh gonna wanna kinda sorta i me you we they he she it them us him her something'
  ).split(' '),
);
const PRONOUN = /^(i|i'm|i've|i'd|i'll|me|my|mine|you|your|yours|you're|we|we're|our|ours|us|they|they're|them|their|he|him|his|she|her|hers|it|it's|its|this|that|these|those|who|what|which|there|here|someone|anyone|everyone|nobody)$/i;
/** Names with these words are shows, not people ("the Self-Hosted Show"). */
const SHOW_WORDS = /\b(show|podcast|podcasts|radio|hour|live|weekly|daily|cast|episode|network|tv)\b/i;

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

export interface EntityOptions {
  maxTopics?: number;
  /** Hosts and guests the feed names: found by their full name. */
  knownPeople?: string[];
  /** Names of the show and feed: never people or organisations. */
  showNames?: string[];
  /** At most this many product/place/technology names besides the topics (default 10). */
  maxNames?: number;
}

/** Punctuation around a name, a possessive, a title in front ("Dr.", "General"). */
function cleanName(raw: string): string {
  let tokens = raw
    .replace(/[’]/g, "'")
    .replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')
    .replace(/'s$/i, '')
    .split(/\s+/)
    .filter(Boolean);
  while (tokens.length > 1 && (HONORIFICS.has(tokens[0].toLowerCase().replace(/\.$/, '')) || PERSON_TITLES.has(tokens[0].toLowerCase()))) tokens = tokens.slice(1);
  return tokens.join(' ').replace(/[.,;:!?]+$/, '');
}

const isAcronym = (name: string) => /^[A-Z][A-Z0-9]{1,5}s?$/.test(name) && /[A-Z]{2}/.test(name);

interface Phrase {
  label: string;
  proper: boolean;
}

type SentenceAnalysis = { people: string[]; orgs: string[]; places: string[]; phrases: Phrase[] };

/** What compromise finds in one sentence. */
function analyseSentence(text: string): SentenceAnalysis {
  // cache(): each match below first checks the words and tags it needs against the sentence's index, not term by term.
  const doc = nlp(text);
  doc.cache();
  // "YouTube, Twitter": a list comes back as one match.
  const list = (matches: string[]) => matches.flatMap((m) => m.split(/,\s*|\s+(?:and|&)\s+/)).map(cleanName).filter(Boolean);
  const people = list(doc.people().out('array') as string[]);
  const orgs = list(doc.organizations().out('array') as string[]);
  const places = list(doc.places().out('array') as string[]);
  const phrases: Phrase[] = [];
  const first = /^[^\p{L}\p{N}]*([\p{L}\p{N}'-]+)/u.exec(text)?.[1] ?? '';
  for (const raw of nounRoots(doc.nouns())) {
    const root = cleanName(raw);
    let tokens = root.split(' ').filter((t) => !PRONOUN.test(t) && !/^\d+$/.test(t));
    while (tokens.length && ENRICH_STOPWORDS.has(tokens[0].toLowerCase())) tokens = tokens.slice(1);
    while (tokens.length && ENRICH_STOPWORDS.has(tokens[tokens.length - 1].toLowerCase())) tokens = tokens.slice(0, -1);
    if (!tokens.length || tokens.length > 3) continue;
    // A capital that only starts the sentence proves nothing; one inside it, a digit in a name (B2) or an acronym does.
    const proper = tokens.some((t, k) => (/^\p{Lu}/u.test(t) && !(k === 0 && t === first && root.startsWith(first))) || isAcronym(t) || (/^\p{Lu}/u.test(t) && /\d/.test(t)));
    phrases.push({ label: proper ? tokens.join(' ') : tokens.join(' ').toLowerCase(), proper });
  }
  return { people, orgs, places, phrases };
}

/** A compromise term, as `View.docs` hands it out. */
interface Term {
  text: string;
  normal?: string;
  pre: string;
  post: string;
  tags: Set<string>;
}
type NounView = ReturnType<ReturnType<typeof nlp>['nouns']>;

/** Tags compromise's noun parser removes from a noun run to find its root. */
const NOT_ROOT_TAGS = ['Adjective', 'Preposition', 'Determiner', 'Value'];

/**
 * The root of each noun phrase, the text compromise's `nouns().json()` gives as `noun.root` (the
 * first run of nouns without adjectives, determiners, numbers, prepositions and possessives), read
 * straight from the tagged terms: `json()` also parses numbers, plurals and offsets for every
 * phrase and cost more than the tagging itself. A run that would lose a term inside it goes
 * through compromise's own parser, which rewrites the document to do so (a safety net: compromise's
 * tag rules keep those tags off nouns).
 */
export function nounRoots(nouns: NounView): string[] {
  const docs = nouns.docs as unknown as Term[][];
  const pointers = nouns.fullPointer;
  return docs.map((terms, k) => {
    const start = pointers[k][1] ?? 0;
    const runs: Term[][] = [];
    let run: Term[] | null = null;
    for (const t of terms) {
      if (t.tags.has('Noun')) (run ??= []).push(t);
      else if (run) {
        runs.push(run);
        run = null;
      }
    }
    if (run) runs.push(run);
    if (runs.some((r) => r.some((t) => NOT_ROOT_TAGS.some((tag) => t.tags.has(tag))))) return compromiseRoot(nouns.eq(k));
    for (const r of runs) {
      const from = r.findIndex((t) => !t.tags.has('Possessive'));
      if (from < 0) continue;
      let to = from;
      while (to < r.length && !r[to].tags.has('Possessive')) to++;
      return viewText(r.slice(from, to), start + terms.indexOf(r[from]));
    }
    return viewText(terms, start);
  });
}

/** compromise's noun root (nouns/api/parse.js getRoot), for the runs it has to rewrite. */
function compromiseRoot(m: ReturnType<NounView['eq']>): string {
  const root = m.clone().match('#NN+').remove('(#Adj|#Prep|#Det|#Val)').not('#Poss').first();
  return (root.found ? root : m).text();
}

const TEXT_END_PUNCTUATION = /[,:;)\]*.?~!\u0022\uFF02\u201D\u2019\u00BB\u203A\u2032\u2033\u2034\u301E\u00B4—-]/;
const TEXT_START_PUNCTUATION = /^[(['"*~\uFF02\u201C\u2018\u201F\u201B\u201E\u2E42\u201A\u00AB\u2039\u2035\u2036\u2037\u301D\u0060\u301F]+/;

/** `View.text()` of a part of one sentence (compromise's output/api/text.js and _text.js, default format). */
function viewText(terms: Term[], start: number): string {
  let text = terms.reduce((s, t) => s + (t.pre || '') + (t.text || t.normal || '') + (t.post || ''), '').trim();
  const last = terms[terms.length - 1];
  if (!terms.length || (start === 0 && !/^\s+[-—]\s+$/.test(last.post ?? ''))) return text;
  if (!terms[0].tags.has('Emoticon')) text = text.replace(TEXT_START_PUNCTUATION, '');
  if (!last.tags.has('Emoticon')) {
    let end = text.length;
    while (end > 0 && TEXT_END_PUNCTUATION.test(text[end - 1])) end--;
    text = text.slice(0, end).trimEnd();
  }
  if (text.endsWith("'") && !text.endsWith("s'")) text = text.replace(/'/, '');
  return text;
}

export function extractEntities(sentences: readonly Sentence[], opts: EntityOptions = {}): ExtractedEntities {
  const names = new Map<string, Entity>();
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
  const knownLower = new Set(known.map((k) => k.lower));
  const showSlugs = (opts.showNames ?? []).map(slugify).filter(Boolean);
  const isShow = (name: string) => SHOW_WORDS.test(name) || showSlugs.some((s) => slugify(name) === s || slugify(name).includes(s));
  const personRuns: { name: string; titled: boolean; atStart: boolean; sentence: number }[] = [];
  /** Products, places, technology: proper names that are neither people nor organisations. */
  const things = new Map<string, { label: string; sentences: number[] }>();
  const thing = (label: string, i: number) => {
    const key = slugify(label);
    if (!key) return;
    const e = things.get(key) ?? { label, sentences: [] };
    e.sentences.push(i);
    things.set(key, e);
  };
  const phraseCounts = new Map<string, { count: number; sentences: Set<number> }>();
  const orgAcronyms = new Map<string, number[]>();

  // Ad reads, intros and catchphrases come back word for word: each distinct sentence is tagged once.
  const analysed = new Map<string, SentenceAnalysis>();
  sentences.forEach((s, i) => {
    let found = analysed.get(s.text);
    if (!found) analysed.set(s.text, (found = analyseSentence(s.text)));
    const taken = new Set<string>();
    for (const name of found.people) {
      if (isAcronym(name)) {
        if (TECH_ACRONYMS.has(name.toLowerCase())) thing(name, i);
        taken.add(name);
        continue;
      }
      // A lone first name ("Mike,") is a speaker addressed, found through the speakers; the show is nobody.
      if (!name.includes(' ') || isShow(name) || knownLower.has(name.toLowerCase())) continue;
      personRuns.push({ name, titled: false, atStart: false, sentence: i });
      taken.add(name);
    }
    for (const raw of found.orgs) {
      const name = raw.replace(/^the\s+/i, '');
      taken.add(raw);
      taken.add(name);
      // "The power", "British press", "Coinkite's design": an organisation's name is capitalised throughout.
      if (isShow(name) || !name.split(' ').every((w) => /^[\p{Lu}\d&]/u.test(w) || /^(of|for|and|de|la|the)$/.test(w))) continue;
      if (isAcronym(name)) {
        if (TECH_ACRONYMS.has(name.toLowerCase())) thing(name, i);
        else (orgAcronyms.get(name) ?? orgAcronyms.set(name, []).get(name)!).push(i);
      } else add('org', name, [i]);
    }
    for (const name of found.places) {
      taken.add(name);
      thing(name, i);
    }
    // The name-shape rules add what the lexicon does not know: names mid-sentence or after a title, suffixed organisations.
    for (const c of nameCandidates(s.text)) {
      // Untitled capitalised runs are as often films, bands and shows as people: only a title makes them one.
      if (c.kind === 'person' && c.titled && !isShow(c.name) && !knownLower.has(c.name.toLowerCase())) personRuns.push({ ...c, sentence: i });
      else if (c.kind === 'org' && c.name.includes(' ') && !isShow(c.name)) {
        add('org', c.name, [i]);
        taken.add(c.name);
      } else if (c.kind === 'org' && isAcronym(c.name) && !taken.has(c.name)) {
        if (TECH_ACRONYMS.has(c.name.toLowerCase())) thing(c.name, i);
        else (orgAcronyms.get(c.name) ?? orgAcronyms.set(c.name, []).get(c.name)!).push(i);
      }
      if (c.kind !== 'single') taken.add(c.name);
    }
    for (const p of found.phrases) {
      if ([...taken].some((t) => t.toLowerCase() === p.label.toLowerCase())) continue;
      if (p.proper) {
        if (!isShow(p.label) && !(isAcronym(p.label) && !TECH_ACRONYMS.has(p.label.toLowerCase()))) thing(p.label, i);
        continue;
      }
      const e = phraseCounts.get(p.label) ?? { count: 0, sentences: new Set<number>() };
      e.count++;
      e.sentences.add(i);
      phraseCounts.set(p.label, e);
    }
  });
  const seenRuns = new Set<string>();
  const uniqueRuns = personRuns.filter((r) => {
    const key = `${r.sentence}|${r.name}|${r.titled}`;
    return !seenRuns.has(key) && !!seenRuns.add(key);
  });
  for (const [name, e] of resolvePeople(uniqueRuns)) if (!knownLower.has(name.toLowerCase())) add('person', name, e.sentences);
  for (const k of known) {
    const hits = sentences.flatMap((s, i) => (s.text.toLowerCase().includes(k.lower) ? [i] : []));
    if (hits.length) add('person', k.name, hits);
  }
  // A lone acronym said once is as likely shouting as an organisation.
  for (const [name, list] of orgAcronyms) if (list.length >= 2 && !ACRONYM_STOP.has(name.toLowerCase())) add('org', name, list);

  // A one-word "organisation" that other names are built on (Bitcoin in Bitcoin Beach, Bitcoin Ventures) is a field: a topic.
  const allNames = [...names.values()];
  for (const e of allNames) {
    if (e.kind !== 'org' || e.name.includes(' ')) continue;
    const builtOn = allNames.filter((o) => o !== e && o.name.split(' ').length > 1 && o.name.split(' ')[0].toLowerCase().startsWith(e.name.toLowerCase())).length;
    if (builtOn >= 2) {
      names.delete(e.id);
      for (const i of e.sentences) thing(e.name, i);
    }
  }
  const people = [...names.values()].filter((e) => e.kind === 'person');
  const orgs = [...names.values()].filter((e) => e.kind === 'org');
  const nameWords = new Set(people.flatMap((p) => p.name.toLowerCase().split(' ')));
  const orgSlugs = new Set(orgs.map((o) => o.slug));

  // Topics: noun phrases by frequency × spread, multi-word phrases favoured; never filler.
  const scored: { label: string; score: number; sentences: number[]; count: number }[] = [];
  for (const [label, e] of phraseCounts) {
    const ws = label.split(' ');
    if (e.count < 2 || ws.some((w) => nameWords.has(w)) || ws.every((w) => FILLER_TOPICS.has(w) || TOPIC_STOP.has(w) || ENRICH_STOPWORDS.has(w))) continue;
    if (ws.length === 1 && (FILLER_TOPICS.has(label) || TOPIC_STOP.has(label) || label.length < 3)) continue;
    const score = e.count * Math.log(1 + e.sentences.size) * (ws.length > 1 ? 1.6 : 1) * Math.min(1, label.length / 6);
    scored.push({ label, score, sentences: [...e.sentences], count: e.count });
  }
  scored.sort((a, b) => b.score - a.score || a.label.localeCompare(b.label));
  const best = scored.length ? scored[0].score : 1;
  const topics: Entity[] = [];
  const seenWords = new Set<string>();
  for (const t of scored) {
    if (topics.length >= (opts.maxTopics ?? 8)) break;
    const slug = slugify(t.label);
    const ws = t.label.split(' ');
    // "machine learning" wins over "machine" and "learning" once chosen (and vice versa).
    if (!slug || ws.every((w) => seenWords.has(w))) continue;
    ws.forEach((w) => seenWords.add(w));
    topics.push({ id: `topic:${slug}`, kind: 'topic', name: t.label, slug, count: t.count, score: Math.round((t.score / best) * 100) / 100, sentences: t.sentences });
  }
  // Named things (products, places, technology), most mentioned first, besides the topics.
  const namedThings = [...things.entries()]
    .filter(([slug, e]) => !orgSlugs.has(slug) && !people.some((p) => p.slug === slug) && !e.label.split(' ').every((w) => nameWords.has(w.toLowerCase())) && !topics.some((t) => t.slug === slug))
    .sort((a, b) => b[1].sentences.length - a[1].sentences.length || a[0].localeCompare(b[0]))
    .slice(0, opts.maxNames ?? 10);
  for (const [slug, e] of namedThings) {
    const sentencesOf = [...new Set(e.sentences)];
    topics.push({ id: `topic:${slug}`, kind: 'topic', name: e.label, slug, count: e.sentences.length, score: Math.round(Math.min(1, e.sentences.length / 3) * 100) / 100, sentences: sentencesOf });
  }

  const byCount = (a: Entity, b: Entity) => b.count - a.count || a.name.localeCompare(b.name);
  return { people: people.sort(byCount), orgs: orgs.sort(byCount), topics };
}
