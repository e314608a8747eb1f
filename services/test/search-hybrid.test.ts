import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { Bm25Index } from '../src/index/bm25';
import { reciprocalRankFusion } from '../src/index/rrf';
import { createSearchService, type SearchService } from '../src/index/search.service';
import { bestSentence, centredSnippet, markedSnippet, queryTerms } from '../src/index/hits';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';

afterAll(removeTempDataDirs);

describe('reciprocal rank fusion (pure)', () => {
  it('sums 1/(k+rank) over the lists and keeps the ranks', () => {
    const fused = reciprocalRankFusion([[{ id: 'a' }, { id: 'b' }, { id: 'c' }], [{ id: 'c' }, { id: 'd' }]], 60);
    expect(fused.map((f) => f.id)).toEqual(['c', 'a', 'b', 'd']);
    expect(fused[0]).toEqual({ id: 'c', score: 1 / 63 + 1 / 61, ranks: [3, 1] });
    expect(fused[1]).toEqual({ id: 'a', score: 1 / 61, ranks: [1, null] });
    expect(fused[3].ranks).toEqual([null, 2]);
  });

  it('breaks ties by first appearance, ignores duplicates inside a list, handles empty lists', () => {
    expect(reciprocalRankFusion([[{ id: 'x' }], [{ id: 'y' }]]).map((f) => f.id)).toEqual(['x', 'y']);
    expect(reciprocalRankFusion([[{ id: 'x' }, { id: 'x' }]])).toEqual([{ id: 'x', score: 1 / 61, ranks: [1] }]);
    expect(reciprocalRankFusion([[], []])).toEqual([]);
  });
});

describe('BM25 and snippets', () => {
  it('ranks documents with rarer matching terms higher and matches by stem', () => {
    const bm = new Bm25Index();
    bm.add('1', 'The podcast talks about bread and baking bread.');
    bm.add('2', 'A podcast about football.');
    bm.add('3', 'Another podcast episode about podcasts.');
    expect(bm.search('baked breads', 3).map((h) => h.id)).toEqual(['1']);
    expect(bm.search('podcast football', 3)[0].id).toBe('2');
    expect(bm.search('the and of', 3)).toEqual([]);
  });

  it('marks matched words with «» in a window around the densest match', () => {
    const text = `${'Filler words here. '.repeat(30)}Black holes bend light. The telescope saw a black hole. ${'More filler text. '.repeat(30)}`;
    const q = queryTerms('black hole telescope');
    const makeSnippet = (t: string, max?: number) => markedSnippet(centredSnippet(t, bestSentence(t, q), q, max));
    const s = makeSnippet(text, 120);
    expect(s).toMatch(/^…/);
    expect(s).toMatch(/…$/);
    expect(s).toContain('«Black» «holes» bend light. The «telescope» saw a «black» «hole».');
    expect(s.replace(/[«»…]/g, '').length).toBeLessThanOrEqual(120);
    expect(makeSnippet('Short text without the words.')).toBe('Short text without the words.');
  });
});

describe('SearchService (hybrid, atomic mode)', () => {
  let config: Config;
  let search: SearchService;

  beforeAll(async () => {
    const dataDir = await tempDataDir('hybrid');
    config = loadConfig({ env: { DATA_DIR: dataDir } });
    const reports = await buildCorpus(config, topicEpisodes());
    expect(reports.every((r) => r.state === 'done')).toBe(true);
    search = createSearchService(config);
  });

  it('returns the chunks about the query with episode, feed, title, times and marked snippets', async () => {
    const r = await search.search('sourdough starter', { k: 5 });
    expect(r.hits.length).toBeGreaterThan(0);
    const top = r.hits[0];
    expect(top.episode_key).toMatch(/cooking/);
    expect(top.title).toMatch(/cooking/);
    expect(['feed-a', 'feed-b']).toContain(top.feed_id);
    expect(top.snippet).toContain('«sourdough»');
    expect(top.snippet).toContain('«starter»');
    expect(top.vector_rank).not.toBeNull();
    expect(top.keyword_rank).not.toBeNull();
    expect(top.end_ms).toBeGreaterThan(top.start_ms);
    expect(top.score).toBeCloseTo(1 / 61 + 1 / 61, 3);
    // Both cooking episodes come before anything else.
    const cooking = r.hits.filter((h) => /cooking/.test(h.episode_key)).length;
    expect(r.hits.slice(0, cooking).every((h) => /cooking/.test(h.episode_key))).toBe(true);
    expect(new Set(r.hits.filter((h) => /cooking/.test(h.episode_key)).map((h) => h.episode_key)).size).toBe(2);
    expect(r.index).toMatchObject({ type: 'flat', episodes: 6 });
  });

  it('times of a hit point at the sentences it quotes', async () => {
    const r = await search.search('goalkeeper saved a penalty', { k: 10 });
    const hit = r.hits.find((h) => h.episode_key === 'feed-b:football-2')!;
    // In episode 2 the penalty sentence is the 7th sentence (index 6), 4 s per segment.
    expect(hit.start_ms).toBeLessThanOrEqual(6 * 4000);
    expect(hit.end_ms).toBeGreaterThanOrEqual(7 * 4000 - 100);
  });

  it('respects k and returns fewer hits for a query matching nothing', async () => {
    expect((await search.search('telescope', { k: 2 })).hits).toHaveLength(2);
    const none = await search.search('zzyzx qwertyuiop', { k: 5 });
    expect(none.hits.every((h) => h.keyword_rank === null)).toBe(true);
  });

  it('rejects an empty query, an over-long one and a bad k with clear errors', async () => {
    for (const q of ['', '   ', '\n\t']) {
      await expect(search.search(q)).rejects.toMatchObject({ code: 'empty_query', message: expect.stringMatching(/query is empty/) });
    }
    await expect(search.search('x'.repeat(1001))).rejects.toMatchObject({ code: 'query_too_long' });
    await expect(search.search('bread', { k: 0 })).rejects.toMatchObject({ code: 'bad_k' });
    await expect(search.search('bread', { k: 101 })).rejects.toMatchObject({ code: 'bad_k' });
  });

  it('says clearly that an empty corpus has nothing to search', async () => {
    const empty = loadConfig({ env: { DATA_DIR: await tempDataDir('empty') } });
    const err = await createSearchService(empty)
      .search('bread')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PodbrainError);
    expect(err).toMatchObject({ code: 'empty_corpus', message: expect.stringMatching(/nothing is indexed in .* yet: run `podbrain run/) });
  });

  it('picks up episodes whose artifacts exist but are missing from the index (sync)', async () => {
    const other = loadConfig({ env: { DATA_DIR: await tempDataDir('sync-src') } });
    await buildCorpus(other, [{ feedId: 'feed-c', key: 'feed-c:jazz', title: 'Jazz night', sentences: ['The saxophone solo in the jazz club was improvised.', 'Bebop changed jazz harmony.'] }]);
    // An artifact that arrived without the index stage running here (e.g. reused by `run`).
    await fs.cp(`${other.dataDir}/corpus/feed-c`, `${config.dataDir}/corpus/feed-c`, { recursive: true });
    expect((await search.search('saxophone jazz')).hits.some((h) => h.episode_key === 'feed-c:jazz')).toBe(false);
    const r = await search.sync();
    expect(r).toMatchObject({ added: 1, removed: 0 });
    const hits = (await search.search('saxophone jazz')).hits;
    expect(hits[0]).toMatchObject({ episode_key: 'feed-c:jazz', title: 'Jazz night', feed_id: 'feed-c' });
    expect(await search.sync()).toBeNull(); // nothing left to do, no new generation
  });

  it('skips hits of an episode whose artifacts vanished instead of failing the search', async () => {
    const own = loadConfig({ env: { DATA_DIR: await tempDataDir('vanished') } });
    await buildCorpus(own, topicEpisodes().filter((e) => /cooking/.test(e.key)));
    await fs.rm(`${own.dataDir}/corpus/feed-a/feed-a:cooking-1`, { recursive: true });
    const r = await createSearchService(own).search('sourdough starter', { k: 5 });
    expect(r.hits.length).toBeGreaterThan(0);
    expect(r.hits.every((h) => h.episode_key === 'feed-b:cooking-2')).toBe(true);
  });
});
