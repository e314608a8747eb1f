import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { createSearchService, inScope, type SearchService } from '../src/index/search.service';
import { CachedEmbeddings } from '../src/saved-searches/cached-embeddings';
import { HashEmbeddings } from '../src/index/embeddings/hash';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';

/**
 * The search core's episode scope (what a saved search is matched with): only the named episodes'
 * chunks, from both sides — BM25 and the vectors (scored exactly over the episode's rows, not
 * the index's nearest neighbours, which a large corpus would fill with other episodes).
 */
let config: Config;
let search: SearchService;

beforeAll(async () => {
  const dataDir = await tempDataDir('saved-search-scope');
  config = loadConfig({ env: { DATA_DIR: dataDir, EMBEDDINGS_PROVIDER: 'hash', EMBEDDINGS_DIM: '64', LOG_LEVEL: 'silent' } });
  await buildCorpus(config, topicEpisodes());
  search = createSearchService(config);
}, 60_000);

afterAll(removeTempDataDirs);

describe('search core: episode scope', () => {
  const feeds = new Set(['feed-a', 'feed-b']);

  it('finds the query within the named episode only', async () => {
    const all = await search.find('black hole telescope', { k: 10, scope: { feeds } });
    expect(new Set(all.hits.map((h) => h.chunk.episode_key)).size).toBeGreaterThan(1);
    const one = await search.find('black hole telescope', { k: 10, scope: { feeds, episodes: new Set(['feed-b:astronomy-2']) } });
    expect(one.vector).toBe(true);
    expect(one.hits.length).toBeGreaterThan(0);
    expect(one.hits.every((h) => h.chunk.episode_key === 'feed-b:astronomy-2')).toBe(true);
    expect(one.hits[0].relevance).toBe(1);
  });

  it('an episode about something else has no hit; an episode outside the feeds neither', async () => {
    expect((await search.find('black hole telescope', { k: 10, scope: { feeds, episodes: new Set(['feed-a:cooking-1']) } })).hits).toEqual([]);
    expect((await search.find('black hole telescope', { k: 10, scope: { feeds: new Set(['feed-a']), episodes: new Set(['feed-b:astronomy-2']) } })).hits).toEqual([]);
  });

  it('inScope: feeds, then episodes where named', () => {
    expect(inScope(null, 'f', 'e')).toBe(true);
    expect(inScope({ feeds: new Set(['f']) }, 'f', 'e')).toBe(true);
    expect(inScope({ feeds: new Set(['f']), episodes: new Set(['x']) }, 'f', 'e')).toBe(false);
    expect(inScope({ feeds: new Set(['g']), episodes: new Set(['e']) }, 'f', 'e')).toBe(false);
  });
});

describe('saved queries: embeddings cached', () => {
  it('embeds each text once, in one batch for the missing ones', async () => {
    const inner = new HashEmbeddings(32);
    const calls: string[][] = [];
    const cached = new CachedEmbeddings({ name: inner.name, model: inner.model, dim: inner.dim, embed: (t) => (calls.push([...t]), inner.embed(t)) }, 2);
    await cached.warm(['a', 'b', 'a']);
    const [a] = await cached.embed(['a']);
    expect(calls).toEqual([['a', 'b']]);
    expect(Array.from(a)).toEqual(Array.from((await inner.embed(['a']))[0]));
    await cached.embed(['c']); // over the limit: the least recently used (b) goes
    await cached.embed(['a', 'b']);
    expect(calls).toEqual([['a', 'b'], ['c'], ['b']]);
    expect(cached.size).toBe(2);
  });
});
