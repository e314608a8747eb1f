import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixtures';

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/eval.ts', 'eval/wer.ts', 'eval/reference-text.ts', 'asr/feed/formats.ts'];

function distIsStale(): boolean {
  try {
    return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
  } catch {
    return true;
  }
}

async function podbrain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: SERVICES, env: { ...process.env, PODBRAIN_CONFIG: '' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let dir: string;
const JFK_REF = fixture('audio', 'jfk.txt');

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'podbrain-b2-eval-'));
  if (!distIsStale()) return;
  // Type errors elsewhere must not hide this command's behaviour: tsc still emits, and the checks below judge the result.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
  expect(distIsStale()).toBe(false);
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('podbrain eval wer (built CLI)', { timeout: 180_000 }, () => {
  it('scores a transcript.json against the reference text', async () => {
    const transcript = {
      schema_version: 1,
      engine: 'whisper-cpp',
      segments: [
        { start_ms: 0, end_ms: 4000, text: ' And so, my fellow Americans,' },
        { start_ms: 4000, end_ms: 11_000, text: ' ask not what your country can do for you, ask what you can do for our country.' },
      ],
    };
    const hyp = path.join(dir, 'transcript.json');
    writeFileSync(hyp, JSON.stringify(transcript));
    const json = await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', hyp, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      ref: JFK_REF,
      hyp,
      wer: Math.round((1 / 22) * 1e6) / 1e6,
      substitutions: 1,
      deletions: 0,
      insertions: 0,
      ref_words: 22,
      hyp_words: 22,
    });
    const text = await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', hyp);
    expect(text.stdout).toBe('WER   4.55%  (S 1, D 0, I 0; 22 reference words, 22 hypothesis words)\n');
  });

  it('reads plain text, SRT and verbose_json hypotheses', async () => {
    const txt = path.join(dir, 'hyp.txt');
    writeFileSync(txt, readFileSync(JFK_REF, 'utf8').toUpperCase());
    const srt = path.join(dir, 'hyp.srt');
    writeFileSync(srt, '1\n00:00:00,000 --> 00:00:05,000\nAnd so my fellow Americans\n\n2\n00:00:05,000 --> 00:00:11,000\nask not what your country can do for you\n');
    const verbose = path.join(dir, 'verbose.json');
    writeFileSync(verbose, JSON.stringify({ text: 'and so my fellow americans ask not what your country can do for you ask what you can do for your country' }));
    const wer = async (hyp: string) => JSON.parse((await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', hyp, '--json')).stdout);
    expect((await wer(txt)).wer).toBe(0);
    expect(await wer(srt)).toMatchObject({ deletions: 8, hyp_words: 14 });
    expect((await wer(verbose)).wer).toBe(0);
  });

  it('scores every clip of two directories and fails above --max-wer', async () => {
    const refs = path.join(dir, 'refs');
    const hyps = path.join(dir, 'hyps');
    mkdirSync(refs);
    mkdirSync(hyps);
    for (const name of ['fleurs-en-000', 'fleurs-en-001', 'jfk']) writeFileSync(path.join(refs, `${name}.txt`), readFileSync(fixture('audio', `${name}.txt`)));
    writeFileSync(path.join(hyps, 'fleurs-en-000.txt'), readFileSync(fixture('audio', 'fleurs-en-000.txt')));
    writeFileSync(path.join(hyps, 'jfk.json'), JSON.stringify({ segments: [{ start_ms: 0, end_ms: 1, text: 'and so my fellow americans' }] }));
    const res = await podbrain('eval', 'wer', '--ref', refs, '--hyp', hyps, '--json');
    expect(res.code).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc.missing).toEqual(['fleurs-en-001']);
    expect(doc.clips.map((c: { name: string; wer: number }) => [c.name, c.wer])).toEqual([
      ['fleurs-en-000', 0],
      ['jfk', Math.round((17 / 22) * 1e6) / 1e6],
    ]);
    expect(doc.total).toMatchObject({ deletions: 17, ref_words: doc.clips[0].ref_words + 22 });
    const gated = await podbrain('eval', 'wer', '--ref', refs, '--hyp', hyps, '--max-wer', '0.1');
    expect(gated.code).toBe(1);
    expect(gated.stdout).toMatch(/^fleurs-en-000\s+WER   0\.00%/m);
    expect(gated.stdout).toMatch(/no hypothesis for: fleurs-en-001/);
    expect(gated.stderr).toMatch(/WER \d+\.\d+% is above --max-wer 10\.00%/);
  });

  it('explains bad input', async () => {
    const missing = await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', path.join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.json: ENOENT/);
    const notTranscript = path.join(dir, 'other.json');
    writeFileSync(notTranscript, '{"hello": 1}');
    expect((await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', notTranscript)).stderr).toMatch(/neither "segments" nor "text"/);
    expect((await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', dir)).stderr).toMatch(/both be files or both be directories/);
    expect((await podbrain('eval', 'wer', '--ref', JFK_REF, '--hyp', JFK_REF, '--max-wer', 'lots')).stderr).toMatch(/--max-wer expects a number/);
  });
});
