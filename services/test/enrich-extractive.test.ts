import { describe, expect, it } from 'vitest';
import type { EpisodeInfo } from '../src/enrich/assemble';
import { extractEntities, nameCandidates } from '../src/enrich/entities';
import { classifyInsight, enrichExtractive, insightProblem } from '../src/enrich/extractive';
import { normalise } from '../src/enrich/grounding';
import { parseVtt } from '../src/asr/feed/formats';
import { buildTranscriptText, splitSentences } from '../src/text/transcript-text';
import type { GiNode, KgNode } from '../src/enrich/types';
import { fixtureTranscript } from './support/fixture-transcript';

const normaliseText = (t: string) => normalise(t).text.replace(/[.!…]+$/, '');

const FEEDS = ['changing-the-tide.xml', 'sentimental-garbage.xml', '1865.xml'];

const episode = (over: Partial<EpisodeInfo> = {}): EpisodeInfo => ({
  episodeKey: 'ep-1',
  title: 'A long episode',
  persons: [],
  author: null,
  ...over,
});

describe('extractive enrichment on a 60-minute transcript from real fixture text', () => {
  const transcript = fixtureTranscript({ minutes: 60, feeds: FEEDS });
  const tt = buildTranscriptText(transcript.segments);
  const result = enrichExtractive(tt, episode({ persons: [{ name: 'Caroline O’Donoghue', role: 'host', group: null, href: null, img: null }] }));

  it('labels every artifact extractive/valid with schema_version 1', () => {
    expect(transcript.duration_ms).toBeGreaterThanOrEqual(60 * 60_000);
    for (const a of [result.summary, result.gi, result.kg]) {
      expect(a).toMatchObject({ schema_version: 1, episode_key: 'ep-1', method: 'extractive', status: 'valid' });
    }
  });

  it('summary: 5 bullets taken from the transcript in order, key quotes grounded with segment times', () => {
    const { summary } = result;
    expect(summary.title).toBe('A long episode');
    expect(summary.bullets).toHaveLength(5);
    const positions = summary.bullets.map((b) => tt.text.indexOf(b.replace(/…$/, '')));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // Bullets cover the episode: the last comes from its second half.
    expect(positions[positions.length - 1]).toBeGreaterThan(tt.text.length / 2);
    expect(summary.key_quotes.length).toBe(3);
    for (const q of summary.key_quotes) {
      expect(tt.text.slice(q.char_start, q.char_end)).toBe(q.text);
      const seg = transcript.segments.find((s) => s.start_ms === q.start_ms);
      expect(seg && q.text.startsWith(seg.text.slice(0, 10))).toBe(true);
    }
  });

  it('insights: typed, each grounded by its own sentence, no drops', () => {
    const insights = result.gi.nodes.filter((n): n is Extract<GiNode, { type: 'Insight' }> => n.type === 'Insight');
    expect(insights.length).toBeGreaterThanOrEqual(3);
    expect(insights.every((i) => i.grounded)).toBe(true);
    expect(result.gi.stats).toMatchObject({ quotes_dropped: 0, ungrounded_insights: 0 });
    expect(result.gi.stats.quotes_total).toBe(insights.length);
    const quoteOf = new Map(result.gi.edges.filter((e) => e.type === 'SUPPORTED_BY').map((e) => [e.from, result.gi.nodes.find((n) => n.id === e.to) as Extract<GiNode, { type: 'Quote' }>]));
    for (const i of insights) {
      const quote = quoteOf.get(i.id)!.text;
      expect(i.insight_type).toBe(classifyInsight(quote));
      // A headline, not the quote again; never a question.
      expect(i.text).not.toBe(quote);
      expect(quote).not.toContain('?');
      expect(i.confidence).toBeLessThan(1);
    }
    expect(new Set(insights.map((i) => i.confidence)).size).toBeGreaterThan(1);
    const support = result.gi.edges.filter((e) => e.type === 'SUPPORTED_BY');
    expect(support).toHaveLength(insights.length);
    // Boilerplate repeated in many episodes (ads, disclaimers) is not an insight twice.
    expect(new Set(insights.map((i) => i.text)).size).toBe(insights.length);
  });

  it('kg: feed host, mentioned people, topics; every edge joins known nodes', () => {
    const nodes = new Map(result.kg.nodes.map((n) => [n.id, n]));
    expect(nodes.get('episode:ep-1')).toMatchObject({ type: 'Episode' });
    expect(nodes.get('person:caroline-odonoghue')).toMatchObject({ type: 'Person', role: 'host' });
    expect(result.kg.edges).toContainEqual(expect.objectContaining({ type: 'HOSTS', from: 'person:caroline-odonoghue', to: 'episode:ep-1' }));
    expect(nodes.get('person:dolly-alderton')).toMatchObject({ type: 'Person', role: 'mentioned' });
    // A long credit list does not flood the graph: at most 40 mentioned people (+ the feed's).
    expect(result.kg.nodes.filter((n) => n.type === 'Person').length).toBeLessThanOrEqual(41);
    expect([...nodes.keys()].filter((id) => id.startsWith('topic:')).length).toBeGreaterThanOrEqual(3);
    expect(nodes.has('topic:bitcoin')).toBe(true);
    for (const e of result.kg.edges) {
      expect(nodes.has(e.from) && nodes.has(e.to)).toBe(true);
      expect(e.weight).toBeGreaterThanOrEqual(1);
    }
  });

  it('is deterministic', () => {
    expect(enrichExtractive(tt, episode({ persons: [{ name: 'Caroline O’Donoghue', role: 'host', group: null, href: null, img: null }] }))).toEqual(result);
  });
});

describe('extractive pieces', () => {
  it('types insights by simple rules', () => {
    expect(classifyInsight('Why would anyone run their own node?')).toBe('question');
    expect(classifyInsight('You should back up your seed phrase offline.')).toBe('recommendation');
    expect(classifyInsight('Try the self-hosted version first.')).toBe('recommendation');
    expect(classifyInsight('About 90% of all coins were issued by 2021.')).toBe('claim');
    expect(classifyInsight('The network is slower than card payments.')).toBe('claim');
    expect(classifyInsight('A quiet morning in the valley.')).toBe('observation');
    expect(classifyInsight('Last year I lost every photo when the drive died.')).toBe('anecdote');
    expect(classifyInsight('I recommend Postgres for the catalog.')).toBe('recommendation');
  });

  it('finds people and organisations by name shape, titles and org suffixes', () => {
    const c = (s: string) => nameCandidates(s).map((x) => `${x.kind}:${x.name}`);
    expect(c('Yesterday we met Ada Lovelace and Charles Babbage at Acme Labs.')).toEqual(['person:Ada Lovelace', 'person:Charles Babbage', 'org:Acme Labs']);
    expect(c('She moved to the University of Toronto after NASA.')).toEqual(['org:University of Toronto', 'org:NASA']);
    expect(c('Later General Grant wrote to Dr. Mary Walker.')).toEqual(['person:Grant', 'person:Mary Walker']);
    // Places and days are no people or organisations (single words may still become topics).
    expect(c('It happened in New York on Monday.').filter((x) => !x.startsWith('single:'))).toEqual([]);
  });

  it('a sentence-initial run counts only through a name trusted elsewhere', () => {
    const s = splitSentences('Starring Jeremy Schwartz as the lead. We cast Jeremy Schwartz early. Join Wondery today. Then General Grant spoke to Ulysses S Grant.');
    const { people } = extractEntities(s);
    const ids = people.map((p) => p.id);
    expect(ids).toContain('person:jeremy-schwartz');
    expect(ids).not.toContain('person:starring-jeremy-schwartz');
    expect(ids).not.toContain('person:join-wondery');
    // "General Grant" goes to the one full name ending in Grant
    expect(people.find((p) => p.id === 'person:ulysses-s-grant')?.count).toBe(2);
  });

  it('gives people the same id in every episode, so the corpus graph is their union', () => {
    const a = enrichExtractive(buildTranscriptText([{ start_ms: 0, end_ms: 5000, text: 'Today we spoke with Grace Hopper about compilers and early computers at the Navy.' }]), episode({ episodeKey: 'a' }));
    const b = enrichExtractive(
      buildTranscriptText([{ start_ms: 0, end_ms: 5000, text: 'Later the team read letters from Grace Hopper on compilers and programming languages.' }]),
      episode({ episodeKey: 'b', persons: [{ name: 'Grace Hopper', role: 'guest', group: null, href: null, img: null }] }),
    );
    const person = (kg: { nodes: KgNode[] }) => kg.nodes.find((n) => n.id === 'person:grace-hopper');
    expect(person(a.kg)).toMatchObject({ role: 'mentioned' });
    expect(person(b.kg)).toMatchObject({ role: 'guest' });
    expect(b.kg.edges).toContainEqual(expect.objectContaining({ type: 'GUESTS_ON', from: 'person:grace-hopper', to: 'episode:b' }));
  });

  it('uses the episode author as host when the feed names no podcast:person host', () => {
    const r = enrichExtractive(buildTranscriptText([{ start_ms: 0, end_ms: 3000, text: 'Hello and welcome to the show, this is our first episode.' }]), episode({ author: 'Jane Doe & John Roe' }));
    const hosts = r.kg.edges.filter((e) => e.type === 'HOSTS').map((e) => e.from);
    expect(hosts.sort()).toEqual(['person:jane-doe', 'person:john-roe']);
  });

  it('a transcript without punctuation is cut at segment ends, so it still gets bullets and grounded insights', () => {
    const words = fixtureTranscript({ minutes: 5, feeds: ['changing-the-tide.xml'] }).segments.map((s) => s.text.replace(/[.!?,;:"“”]/g, '').toLowerCase());
    const segs = words.map((text, i) => ({ start_ms: i * 5000, end_ms: i * 5000 + 4800, text }));
    const tt = buildTranscriptText(segs);
    const r = enrichExtractive(tt, episode());
    expect(r.summary.bullets.length).toBe(5);
    expect(r.gi.stats.insights).toBeGreaterThan(0);
    for (const q of r.summary.key_quotes) {
      expect(tt.text.slice(q.char_start, q.char_end)).toBe(q.text);
      expect(q.text.split(' ').length).toBeLessThanOrEqual(70);
      expect(segs.some((s) => s.start_ms === q.start_ms)).toBe(true);
    }
  });

  it('a transcript of short fragments still gets a summary', () => {
    const r = enrichExtractive(
      buildTranscriptText(['Yeah.', 'Right, totally.', 'Bitcoin again?', 'Sure thing.', 'Okay then.'].map((text, i) => ({ start_ms: i * 1000, end_ms: i * 1000 + 900, text }))),
      episode(),
    );
    expect(r.summary.bullets.length).toBeGreaterThan(0);
  });

  it('an empty transcript gives empty but valid artifacts', () => {
    const r = enrichExtractive(buildTranscriptText([]), episode());
    expect(r.summary).toMatchObject({ title: 'A long episode', bullets: [], key_quotes: [], status: 'valid' });
    expect(r.gi.nodes).toEqual([]);
    expect(r.kg.nodes.map((n) => n.id)).toEqual(['episode:ep-1']);
  });
});

describe('insights and graph of a two-speaker episode (the bad cases of issue 16)', () => {
  // A WebVTT as publishers write it: speakers in <v> tags. Every expectation below was checked against this text.
  const vtt = `WEBVTT

00:00:00.000 --> 00:00:04.000
<v Alex Kretzschmar>Welcome back to the Self-Hosted Show, this week is all about backups.

00:00:04.000 --> 00:00:09.000
<v Chris Fisher>RAID is not a backup, and a NAS can die just like any other computer.

00:00:09.000 --> 00:00:13.000
<v Alex Kretzschmar>Chris, you lost data last year, didn't you?

00:00:13.000 --> 00:00:20.000
<v Chris Fisher>Last year I lost two terabytes of family photos when my Synology died during a RAID rebuild.

00:00:20.000 --> 00:00:24.000
<v Chris Fisher>It was terrible.

00:00:24.000 --> 00:00:30.000
<v Alex Kretzschmar>You should use Backblaze B2 for offsite copies of your backups, it is cheap and boring.

00:00:30.000 --> 00:00:36.000
<v Chris Fisher>I recommend Postgres for the backup catalog because a database dump restores in minutes.

00:00:36.000 --> 00:00:41.000
<v Alex Kretzschmar>Twelve others ask us about it, and we use it every day.

00:00:41.000 --> 00:00:47.000
<v Chris Fisher>Make sure you test a restore of your backups every single month.

00:00:47.000 --> 00:00:53.000
<v Alex Kretzschmar>Backblaze B2 costs about six dollars per terabyte per month for offsite copies.

00:00:53.000 --> 00:00:58.000
<v Chris Fisher>A Postgres dump of the backup catalog is small and easy to restore.

00:00:58.000 --> 00:01:04.000
<v Alex Kretzschmar>Why would anyone skip the restore test when a NAS fails so often?
`;
  const tt = buildTranscriptText(parseVtt(vtt).segments);
  const r = enrichExtractive(tt, episode({ title: 'Backups' }), { maxInsights: 8 });
  const kg = new Map(r.kg.nodes.map((n) => [n.id, n]));
  const insights = r.gi.nodes.filter((n): n is Extract<GiNode, { type: 'Insight' }> => n.type === 'Insight');
  const quoteOf = (id: string) => (r.gi.nodes.find((n) => n.id === r.gi.edges.find((e) => e.type === 'SUPPORTED_BY' && e.from === id)!.to) as Extract<GiNode, { type: 'Quote' }>).text;

  it('the speakers of the cues are people in the graph; the show is not', () => {
    expect(kg.get('person:alex-kretzschmar')).toMatchObject({ type: 'Person', role: 'guest' });
    expect(kg.get('person:chris-fisher')).toMatchObject({ type: 'Person', role: 'guest' });
    const people = r.kg.nodes.filter((n) => n.type === 'Person').map((n) => (n as { name: string }).name);
    expect(people.filter((p) => /show/i.test(p))).toEqual([]);
  });

  it('RAID and NAS are topics, not organisations; the products are found; filler is no topic', () => {
    const orgs = r.kg.nodes.filter((n) => n.type === 'Organization').map((n) => (n as { name: string }).name);
    expect(orgs).not.toContain('RAID');
    expect(orgs).not.toContain('NAS');
    for (const id of ['topic:raid', 'topic:nas', 'topic:backblaze-b2', 'topic:postgres']) expect(kg.has(id), id).toBe(true);
    for (const filler of ['use', 'twelve', 'others', 'ask', 'it']) expect(kg.has(`topic:${filler}`), filler).toBe(false);
  });

  it('insights are no questions, not said to the co-host, not pronoun-led, and headline rather than restate their quote', () => {
    expect(insights.length).toBeGreaterThanOrEqual(3);
    for (const i of insights) {
      const q = quoteOf(i.id);
      expect(q).not.toContain('?');
      expect(q).not.toMatch(/^It /);
      expect(normaliseText(i.text)).not.toBe(normaliseText(q));
      expect(i.confidence).toBeGreaterThan(0);
      expect(i.confidence).toBeLessThan(1);
    }
    const byQuote = new Map(insights.map((i) => [quoteOf(i.id), i]));
    expect(byQuote.get('You should use Backblaze B2 for offsite copies of your backups, it is cheap and boring.')).toMatchObject({
      insight_type: 'recommendation',
      text: 'Use Backblaze B2 for offsite copies of your backups',
    });
    expect(byQuote.get('Last year I lost two terabytes of family photos when my Synology died during a RAID rebuild.')).toMatchObject({ insight_type: 'anecdote' });
    expect(new Set(insights.map((i) => i.confidence)).size).toBeGreaterThan(1);
  });

  it('insightProblem says why a sentence is no insight', () => {
    expect(insightProblem('Chris, you lost data last year, didn\u2019t you.')).toBe('addressed to a co-host');
    expect(insightProblem('Why would anyone do that?')).toBe('question');
    expect(insightProblem('So it was terrible.')).toBe('pronoun without antecedent');
    expect(insightProblem('Backups that were never restored are only hopes.')).toBeNull();
  });
});
