import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/config';
import { closeEmbeddingProviders } from '../src/index/embeddings';
import { centredSnippet, judge, mergeOverlapping, queryTerms, sentenceSpans, termCoverage, timeAtOffset } from '../src/index/hits';
import { createSearchService, type SearchResponse, type SearchService } from '../src/index/search.service';
import { testEmbeddingModel } from './support/embedding-model';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';
import { FRUIT_FLY_SENTENCE, fruitFlyEpisodes } from './support/search-fixtures';

afterAll(async () => {
  await closeEmbeddingProviders();
  await removeTempDataDirs();
});

const SEGMENT_MS = 4000; // makeTranscript: sentence i spans [i·4 s, (i+1)·4 s)
const NONSENSE = ['xqzv blorf', 'asdf qwerty', 'zzyzx', 'qwertyuiop asdfghjkl zxcvbnm'];
// Small overlapping chunks (~3 sentences, ~1 of overlap), so one passage lands in several chunks.
const CHUNKS = { CHUNK_TOKENS: '60', CHUNK_OVERLAP_TOKENS: '30' };

const corpus = () => [...fruitFlyEpisodes(), ...topicEpisodes()];
const sentenceOf = (ms: number) => Math.floor(ms / SEGMENT_MS);
const snippetMarks = (h: SearchResponse['hits'][number]) => [...h.snippet.matchAll(/«([^»]*)»/g)].map((m) => m[1].toLowerCase());

describe('hits people can use (hash embeddings)', () => {
  let config: Config;
  let search: SearchService;

  beforeAll(async () => {
    config = loadConfig({ env: { DATA_DIR: await tempDataDir('hits-hash'), EMBEDDINGS_PROVIDER: 'hash', ...CHUNKS } });
    const reports = await buildCorpus(config, corpus());
    expect(reports.every((r) => r.state === 'done')).toBe(true);
    search = createSearchService(config);
  });

  it('ranks the fruit-fly passage first for the question of the issue, ahead of the episode that "gets" things', async () => {
    const r = await search.search('how do I get rid of fruit flies', { k: 10 });
    expect(r.hits[0].episode_key).toBe('feed-home:fruit-flies');
    expect(r.hits[0].matched_terms).toEqual(['get', 'rid', 'fruit', 'flies']);
    expect(r.hits[0].why).toBe('matched: get, rid, fruit, flies');
    // "gets" alone (one term of four) does not make the backup show a hit at all.
    expect(r.hits.map((h) => h.episode_key)).not.toContain('feed-tech:backups');
  });

  it('starts the hit at the sentence that matched, inside its chunk, and centres the snippet on it', async () => {
    const r = await search.search('fruit flies vinegar trap', { k: 5 });
    const top = r.hits[0];
    const fruitSentence = fruitFlyEpisodes()[0].sentences.indexOf(FRUIT_FLY_SENTENCE);
    expect(sentenceOf(top.start_ms)).toBe(fruitSentence);
    expect(top.start_ms).toBe(fruitSentence * SEGMENT_MS); // the sentence is its own segment
    expect(top.snippet).toContain('«fruit» «flies»');
    expect(top.snippet).toContain('«vinegar»');
    expect(snippetMarks(top)).toEqual(expect.arrayContaining(['fruit', 'flies', 'trap', 'vinegar']));
    expect(top.snippet.replace(/[«»…]/g, '').length).toBeLessThanOrEqual(240);
    expect(top.relevance).toBe(1);
  });

  it('merges the overlapping chunks of one passage into one hit spanning them', async () => {
    const r = await search.search('fruit flies', { k: 10 });
    const home = r.hits.filter((h) => h.episode_key === 'feed-home:fruit-flies');
    // The fruit-fly sentence is in several overlapping chunks; shown once.
    expect(home).toHaveLength(1);
    expect(home[0].end_ms).toBeGreaterThan(home[0].start_ms);
    // Without merging, the same search lists each chunk holding the sentence.
    const spans = r.hits.map((h) => [h.episode_key, h.start_ms, h.end_ms].join());
    expect(new Set(spans).size).toBe(spans.length);
    for (const a of r.hits) for (const b of r.hits) if (a !== b && a.episode_key === b.episode_key) expect(a.end_ms <= b.start_ms || b.end_ms <= a.start_ms).toBe(true);
  });

  it('returns no hit for nonsense, or for a query of stopwords only', async () => {
    for (const q of [...NONSENSE, 'the and of it']) expect((await search.search(q, { k: 10 })).hits, q).toEqual([]);
  });

  it('keeps real queries answering: a topic query finds its episodes, every hit says why', async () => {
    const r = await search.search('sourdough starter', { k: 10 });
    expect(r.hits.length).toBeGreaterThan(0);
    expect(r.hits.every((h) => /cooking/.test(h.episode_key))).toBe(true);
    expect(r.hits.every((h) => h.why.startsWith('matched: ') && h.relevance > 0 && h.relevance <= 1)).toBe(true);
  });

  it('treats hostile query strings as text', async () => {
    for (const q of ["'; DROP TABLE chunks; --", '<script>alert(1)</script> fruit', '\u0000\u202e fruit \ud83d\udc1b', '«fruit» »«', '((((((((((fruit', 'a'.repeat(1000)]) {
      const r = await search.search(q, { k: 5 });
      for (const h of r.hits) expect(h.snippet).not.toMatch(/<script>/);
    }
    const withMarkup = await search.search('<b>fruit</b> flies', { k: 3 });
    expect(withMarkup.hits[0].episode_key).toBe('feed-home:fruit-flies');
    await expect(search.search('a'.repeat(1001))).rejects.toMatchObject({ code: 'query_too_long' });
    await expect(search.search('   ')).rejects.toMatchObject({ code: 'empty_query' });
  });
});

describe('hits with ONNX embeddings (random-weight test model: plumbing, no meaning)', () => {
  for (const provider of ['onnx', 'auto']) {
    it(`EMBEDDINGS_PROVIDER=${provider}: nonsense returns no hit; a keyword query still finds its passage`, async () => {
      const config = loadConfig({
        env: { DATA_DIR: await tempDataDir(`hits-${provider}`), EMBEDDINGS_PROVIDER: provider, EMBEDDINGS_MODEL_PATH: testEmbeddingModel(), EMBEDDINGS_DIM: '64', ...CHUNKS },
      });
      await buildCorpus(config, corpus());
      const search = createSearchService(config);
      for (const q of NONSENSE) expect((await search.search(q, { k: 10 })).hits, q).toEqual([]);
      const r = await search.search('how do I get rid of fruit flies', { k: 10 });
      expect(r.index.type).toBe('flat');
      expect(r.hits[0].episode_key).toBe('feed-home:fruit-flies');
      expect(sentenceOf(r.hits[0].start_ms)).toBe(fruitFlyEpisodes()[0].sentences.indexOf(FRUIT_FLY_SENTENCE));
    }, 120_000);
  }
});

describe('hit pieces (pure)', () => {
  const q = queryTerms('fruit flies');

  it('splits sentences, centres the snippet on the focus sentence and gives highlight offsets into it', () => {
    const text = `${'Filler words here. '.repeat(20)}Fruit flies love vinegar. ${'More filler text. '.repeat(20)}`;
    const spans = sentenceSpans(text);
    const focus = spans[20];
    expect(text.slice(focus.start, focus.end)).toBe('Fruit flies love vinegar.');
    const s = centredSnippet(text, focus, q, 120);
    expect(s.text.startsWith('…') && s.text.endsWith('…')).toBe(true);
    expect(s.highlights.map((h) => s.text.slice(h.start, h.end))).toEqual(['Fruit', 'flies']);
    const mid = (s.highlights[0].start / s.text.length) * 100;
    expect(mid).toBeGreaterThan(25);
    expect(mid).toBeLessThan(60);
  });

  it('times an offset from the segments that line up with the chunk, else shares the chunk out', () => {
    const segments = [
      { start_ms: 10_000, end_ms: 14_000, text: 'One two. Three four.' },
      { start_ms: 20_000, end_ms: 24_000, text: 'Five six.' },
    ];
    const chunk = { text: 'Three four. Five six.', start_ms: 10_000, end_ms: 24_000 };
    expect(timeAtOffset(chunk, chunk.text.indexOf('Five'), segments)).toBe(20_000);
    expect(timeAtOffset(chunk, 0, segments)).toBe(12_000 - 200); // 9/20 of the first segment
    expect(timeAtOffset(chunk, chunk.text.indexOf('Five'), null)).toBe(Math.round(10_000 + (12 / 21) * 14_000));
    expect(timeAtOffset(chunk, 0, [{ start_ms: 0, end_ms: 1, text: 'unrelated' }])).toBe(10_000);
  });

  it('judges: enough query words, or a cosine over the floor; never a bare rank', () => {
    const q4 = queryTerms('how do I get rid of fruit flies');
    expect(q4.terms).toEqual(['get', 'rid', 'fruit', 'fly']);
    // idf-weighted: a common word carries little of a long question.
    const idf = new Map([['get', 0.2], ['rid', 2], ['fruit', 3], ['fly', 3]]);
    expect(termCoverage(['get'], q4, idf)).toBeCloseTo(0.2 / 8.2, 6);
    expect(termCoverage(['fruit'], q4, idf)).toBeCloseTo(3 / 8.2, 6);
    expect(termCoverage(['get'], q4, null)).toBe(0.25);
    expect(judge({ matched: ['get'], coverage: termCoverage(['get'], q4, idf), similarity: 0.2 }, q4, Number.POSITIVE_INFINITY).keep).toBe(false);
    expect(judge({ matched: ['fruit'], coverage: termCoverage(['fruit'], q4, idf), similarity: null }, q4, Number.POSITIVE_INFINITY)).toEqual({ keep: true, why: 'matched: fruit', relevance: 0.37 });
    expect(judge({ matched: ['fruit', 'fly'], coverage: 0.5, similarity: null }, q4, 0.3)).toEqual({ keep: true, why: 'matched: fruit, fly', relevance: 0.5 });
    expect(judge({ matched: [], coverage: 0, similarity: 0.62 }, q4, 0.3)).toEqual({ keep: true, why: 'similar meaning', relevance: 0.62 });
    expect(judge({ matched: [], coverage: 0, similarity: 0.29 }, q4, 0.3).keep).toBe(false);
  });

  it('merges overlapping hits of one episode into the first, not those of other episodes or apart in time', () => {
    const h = (episodeKey: string, spanStart: number, spanEnd: number, terms: string[], matched = terms) => ({ episodeKey, spanStart, spanEnd, terms, matched });
    const merged = mergeOverlapping([
      h('a', 60, 120, ['fruit', 'fly'], ['fruit', 'flies']),
      h('b', 60, 120, ['fly']),
      h('a', 90, 150, ['fly', 'rid'], ['fly', 'rid']),
      h('a', 150, 200, ['rid']),
    ]);
    expect(merged).toEqual([h('a', 60, 150, ['fruit', 'fly', 'rid'], ['fruit', 'flies', 'rid']), h('b', 60, 120, ['fly']), h('a', 150, 200, ['rid'])]);
  });
});
