import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { buildCorpus, removeTempDataDirs, tempDataDir, topicEpisodes } from './support/index-corpus';

afterAll(removeTempDataDirs);

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/search.ts', 'index/search.service.ts', 'index/vector-store.ts', 'index/embeddings/hash.ts', 'index/snippet.ts'];

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
    expect(stdout).toMatch(/^ 1\. (All about|More) cooking {2}\[\d\d:\d\d–\d\d:\d\d\] {2}score /);
    expect(stdout).toContain('«sourdough»');
    expect(stdout).toMatch(/hits in 6 episodes/);
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
  });
});
