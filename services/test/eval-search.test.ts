import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RelevantSpan, parseQrels, scoreRanking } from '../src/eval/search-quality';
import { FIXTURES } from './support/fixtures';

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/eval.ts', 'cli/commands/eval-search.ts', 'eval/search-quality.ts', 'eval/search-corpus.ts', 'index/search.service.ts'];

const span = (episode: string, start_ms: number, end_ms: number, grade = 1): RelevantSpan => ({ episode, start_ms, end_ms, grade });
const hit = (episode_key: string, start_ms: number, end_ms: number) => ({ episode_key, start_ms, end_ms });

describe('scoreRanking (known values)', () => {
  const rel = [span('a', 10_000, 20_000, 2), span('b', 0, 5_000, 1)];

  it('first relevant hit at rank 3: RR 1/3; graded nDCG by hand', () => {
    const s = scoreRanking([hit('c', 0, 60_000), hit('a', 30_000, 90_000), hit('a', 15_000, 75_000), hit('b', 4_000, 9_000)], rel, 10);
    expect(s.firstRelevant).toBe(3);
    expect(s.reciprocalRank).toBeCloseTo(1 / 3, 12);
    expect(s.gains).toEqual([0, 0, 2, 1]);
    // DCG = 3/log2(4) + 1/log2(5); ideal = 3/log2(2) + 1/log2(3)
    expect(s.ndcg).toBeCloseTo((3 / 2 + 1 / Math.log2(5)) / (3 + 1 / Math.log2(3)), 12);
  });

  it('the ideal ranking scores 1; nothing relevant scores 0', () => {
    expect(scoreRanking([hit('a', 0, 12_000), hit('b', 1_000, 2_000)], rel).ndcg).toBeCloseTo(1, 12);
    expect(scoreRanking([hit('a', 20_000, 30_000), hit('b', 5_000, 9_000)], rel)).toMatchObject({ firstRelevant: null, reciprocalRank: 0, ndcg: 0 });
  });

  it('a passage found twice counts once; a relevant hit past k does not count', () => {
    const twice = scoreRanking([hit('a', 0, 15_000), hit('a', 12_000, 25_000)], rel);
    expect(twice.gains).toEqual([2, 0]);
    expect(twice.ndcg).toBeCloseTo(3 / (3 + 1 / Math.log2(3)), 12);
    const late = scoreRanking([hit('x', 0, 1), hit('x', 0, 1), hit('a', 10_000, 11_000)], rel, 2);
    expect(late).toMatchObject({ firstRelevant: null, reciprocalRank: 0, ndcg: 0 });
  });
});

describe('parseQrels', () => {
  it('reads YAML and JSON', () => {
    const q = parseQrels('queries:\n  - id: q1\n    query: fruit flies\n    relevant: [{ episode: e1, start_ms: 0, end_ms: 10, grade: 2 }]\n', 'x.yaml');
    expect(q.queries[0]).toMatchObject({ id: 'q1', relevant: [{ episode: 'e1', grade: 2 }] });
    expect(parseQrels(JSON.stringify({ queries: [{ id: 1, query: 'x', relevant: [{ episode: 'e', start_ms: 0, end_ms: 1 }] }] }), 'x.json').queries[0].relevant[0].grade).toBe(1);
  });

  it.each([
    ['queries: [', /x\.yaml: not YAML or JSON/],
    ['{}', /x\.yaml: queries: /],
    ['queries: [{ id: q1, query: a, relevant: [] }]', /queries\.0\.relevant: each query needs at least one relevant span/],
    ['queries: [{ id: q1, query: a, relevant: [{ episode: e, start_ms: 9, end_ms: 3 }] }]', /end_ms must be after start_ms/],
    ['queries: [{ id: q1, query: a, relevant: [{ episode: e, start: 1, end_ms: 3 }] }]', /queries\.0\.relevant\.0/],
    ['queries: [{ id: q1, query: a, relevant: [{ episode: e, start_ms: 0, end_ms: 3 }] }, { id: q1, query: b, relevant: [{ episode: e, start_ms: 0, end_ms: 3 }] }]', /duplicate query id q1/],
  ])('rejects %j clearly', (text, message) => {
    expect(() => parseQrels(text, 'x.yaml')).toThrow(message);
  });

  it('the repository qrels file is valid: at least 20 queries', async () => {
    const q = parseQrels(await fs.readFile(path.resolve(SERVICES, '../bench/search-quality/qrels.yaml'), 'utf8'), 'qrels.yaml');
    expect(q.queries.length).toBeGreaterThanOrEqual(20);
  });
});

function distIsStale(): boolean {
  try {
    return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
  } catch {
    return true;
  }
}

async function podbrain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = { ...process.env, PODBRAIN_CONFIG: '', DATA_DIR: '', EMBEDDINGS_PROVIDER: '', PODBRAIN_FIXTURES: FIXTURES };
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: SERVICES, env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('podbrain eval search (built CLI, fixture corpus)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pb-eval-search-'));
    if (!distIsStale()) return;
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
    expect(distIsStale()).toBe(false);
  }, 180_000);
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('scores a tiny qrels file end to end: a keyword query found at rank 1, a wrong span at 0', async () => {
    // reference-texts cue 8 (JFK) is 57.0–65.8 s of that episode; nothing about JFK is in 1865 at 0–1 s.
    const qrels = path.join(dir, 'tiny.yaml');
    await fs.writeFile(
      qrels,
      'corpus: fixtures\nqueries:\n' +
        '  - { id: jfk, query: ask not what your country can do for you, relevant: [{ episode: reference-texts, start_ms: 57000, end_ms: 65800, grade: 2 }] }\n' +
        '  - { id: wrong, query: ask not what your country can do for you, relevant: [{ episode: "1865", start_ms: 0, end_ms: 1000 }] }\n',
    );
    const { code, stdout, stderr } = await podbrain('eval', 'search', '--qrels', qrels, '--provider', 'hash', '--json');
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ corpus: 'fixtures', k: 10, queries: 2 });
    expect(r.providers).toHaveLength(1);
    expect(r.providers[0]).toMatchObject({ provider: 'hash', embeddings: { provider: 'hash' }, vector: true, mrr: 0.5, ndcg: 0.5, found: 0.5 });
    expect(r.providers[0].per_query).toEqual([
      expect.objectContaining({ id: 'jfk', first_relevant: 1, reciprocal_rank: 1, ndcg: 1 }),
      expect.objectContaining({ id: 'wrong', first_relevant: null, reciprocal_rank: 0, ndcg: 0 }),
    ]);

    const text = await podbrain('eval', 'search', '--qrels', qrels, '--provider', 'hash', '--verbose');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^hash +hash \S+ \(\d+\) +0\.500 +0\.500 +1\/2$/m);
    expect(text.stdout).toMatch(/^ {2}jfk +#1 {2}1\.000 {2}ask not/m);
  }, 120_000);

  it('a bad qrels file, a missing one, an unknown provider: exit 2 with a clear message', async () => {
    const bad = path.join(dir, 'bad.json');
    await fs.writeFile(bad, JSON.stringify({ queries: [{ id: 'q', query: 'x', relevant: [{ episode: 'e', start_ms: 5, end_ms: 1 }] }] }));
    const a = await podbrain('eval', 'search', '--qrels', bad, '--provider', 'hash');
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/bad\.json: queries\.0\.relevant\.0.*end_ms must be after start_ms/);
    const b = await podbrain('eval', 'search', '--qrels', path.join(dir, 'nope.yaml'));
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/cannot read --qrels .*nope\.yaml/);
    const c = await podbrain('eval', 'search', '--qrels', bad, '--provider', 'bm25');
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--provider expects auto\|hash\|openai\|onnx/);
    const d = await podbrain('eval', 'search', '--qrels', path.resolve(SERVICES, '../bench/search-quality/qrels.yaml'), '--corpus', 'data', '--provider', 'hash,onnx');
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/compare providers with --corpus fixtures/);
  }, 60_000);
});
