import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatHits } from '../src/cli/commands/search';
import { loadConfig } from '../src/config/config';
import type { SearchHit, SearchResponse } from '../src/index/search.service';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';

afterAll(removeTempDataDirs);

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/search.ts', 'index/search.service.ts', 'index/vector-store.ts', 'index/embeddings/hash.ts', 'index/hits.ts'];

function distIsStale(): boolean {
  try {
    return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
  } catch {
    return true;
  }
}

async function podbrain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = { ...process.env, PODBRAIN_CONFIG: '', DATA_DIR: '', EMBEDDINGS_PROVIDER: '' };
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: SERVICES, env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('podbrain search (built CLI)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await tempDataDir('cli');
    await buildCorpus(loadConfig({ env: { DATA_DIR: dataDir } }), topicEpisodes());
    if (!distIsStale()) return;
    // Type errors elsewhere must not hide this command's behaviour: tsc still emits.
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
    expect(distIsStale()).toBe(false);
  }, 180_000);

  it('--json prints hits with episode, feed, times, snippet and score', async () => {
    const { code, stdout } = await podbrain('search', 'goalkeeper penalty', '--out', dataDir, '--json', '--k', '1');
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0]).toMatchObject({ episode_key: expect.stringMatching(/football/), feed_id: expect.any(String), title: expect.stringMatching(/football/) });
    expect(r.hits[0].snippet).toContain('«goalkeeper»');
    expect(typeof r.hits[0].start_ms).toBe('number');
    expect(r.index).toMatchObject({ episodes: 6, type: 'flat' });
  });

  it('prints a readable list by default', async () => {
    const { code, stdout } = await podbrain('search', 'sourdough bread', '--out', dataDir);
    expect(code).toBe(0);
    // Why it is a hit, never a raw fusion score.
    expect(stdout).toMatch(/^ 1\. (All about|More) cooking {2}\[\d\d:\d\d–\d\d:\d\d\] {2}matched: sourdough, bread\n/);
    expect(stdout).not.toMatch(/score/);
    expect(stdout).toContain('«sourdough»');
    expect(stdout).toMatch(/\n\d+ hits? in [1-6] episodes? \(searched 6 episodes, \d+ chunks, flat index\) in [\d.]+ ms\n$/);
  });

  it('rebuilds a missing index from the artifacts before searching', async () => {
    const copy = await tempDataDir('cli-copy');
    await fs.cp(dataDir, copy, { recursive: true });
    await fs.rm(path.join(copy, 'index'), { recursive: true });
    const { code, stdout } = await podbrain('search', 'telescope', '--out', copy, '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).hits[0].episode_key).toMatch(/astronomy/);
  });

  it('explains an empty corpus, an empty query and a bad --k (exit 2)', async () => {
    const empty = await tempDataDir('cli-empty');
    const a = await podbrain('search', 'bread', '--out', empty);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/nothing is indexed in .* yet: run `podbrain run --feed/);
    const b = await podbrain('search', '  ', '--out', dataDir);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/query is empty/);
    const c = await podbrain('search', 'bread', '--out', dataDir, '--k', 'lots');
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/k must be a whole number from 1 to 100/);
    const d = await podbrain('search', 'bread', '--out', dataDir);
    expect(d.code).toBe(0);
    const nonsense = await podbrain('search', 'xqzv blorf', '--out', dataDir);
    expect(nonsense.code).toBe(0);
    expect(nonsense.stdout).toMatch(/^no matches for "xqzv blorf" in 6 episodes, \d+ chunks\n$/);
  });
});

describe('formatHits: counts and plurals', () => {
  const hit = (episode: string, chunk: number): SearchHit => ({
    episode_key: episode, feed_id: 'f1', title: `Episode ${episode}`, chunk_no: chunk, start_ms: chunk * 1000, end_ms: chunk * 1000 + 900,
    snippet: '«bread»', matched_terms: ['bread'], why: 'matched: bread', relevance: 1, score: 0.03, vector_rank: 1, keyword_rank: 1,
  });
  const response = (hits: SearchHit[], episodes = 3, vectors = 40): SearchResponse => ({
    query: 'bread', k: 10, took_ms: 4, hits, index: { generation: 1, type: 'flat', vectors, episodes },
  });
  const last = (s: string) => s.trimEnd().split('\n').at(-1);

  it('counts the episodes the hits come from, not the episodes in the index', () => {
    expect(last(formatHits(response([hit('a', 1), hit('a', 2), hit('a', 3)])))).toBe('3 hits in 1 episode (searched 3 episodes, 40 chunks, flat index) in 4 ms');
    expect(last(formatHits(response([hit('a', 1), hit('b', 2), hit('a', 3)])))).toBe('3 hits in 2 episodes (searched 3 episodes, 40 chunks, flat index) in 4 ms');
  });

  it('says "1 hit", "1 episode", "1 chunk"', () => {
    expect(last(formatHits(response([hit('a', 1)], 1, 1)))).toBe('1 hit in 1 episode (searched 1 episode, 1 chunk, flat index) in 4 ms');
    expect(formatHits(response([], 1, 1))).toBe('no matches for "bread" in 1 episode, 1 chunk\n');
    expect(formatHits(response([], 2, 7))).toBe('no matches for "bread" in 2 episodes, 7 chunks\n');
  });
});
