import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = path.resolve(__dirname, '../dist/cli/main.js');

function doctor(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'doctor', ...args], { env: { PATH: process.env.PATH, ...env } }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
}

describe('podbrain doctor', () => {
  it('a missing whisper.cpp / model blocks transcription of episodes without a publisher transcript (not `run`), with how to fix it, exit 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-doctor-'));
    const res = await doctor({
      WHISPER_CLI: path.join(dir, 'no-such-whisper-cli'),
      MODELS_DIR: path.join(dir, 'models'),
      DATA_DIR: path.join(dir, 'data'),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/podbrain',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✗ whisper\.cpp .*\n\s+fix: npm run build:whisper/);
    expect(res.stdout).toMatch(/✗ models .*wanted ggml-base\.en\.bin\n\s+fix: /);
    expect(res.stdout).toMatch(/✓ data dir .*writable/);
    expect(res.stdout).toMatch(/postgres .*127\.0\.0\.1:1/);
    expect(res.stdout).toMatch(/✓ redis\s+reachable/);
    expect(res.stdout).toMatch(/2 problem\(s\) block transcription of episodes without a publisher transcript \(whisper\.cpp, models\):\n`podbrain run` still processes episodes with one, and reports the others `incomplete` \("not configured: transcribe"\)\.\n$/);
    expect(res.stdout).not.toMatch(/block `podbrain run`/);
  });

  it('--json says what each missing check blocks', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-doctor-'));
    const res = await doctor({ WHISPER_CLI: path.join(dir, 'nope'), MODELS_DIR: path.join(dir, 'models'), DATA_DIR: path.join(dir, 'data') }, '--json');
    expect(res.code).toBe(1);
    const r = JSON.parse(res.stdout) as { ok: boolean; run_ok: boolean; transcription_ok: boolean; checks: { name: string; level: string; blocks: string | null }[] };
    expect(r).toMatchObject({ ok: false, run_ok: true, transcription_ok: false });
    expect(r.checks.filter((c) => c.level === 'missing').map((c) => [c.name, c.blocks])).toEqual([['whisper.cpp', 'transcription'], ['models', 'transcription']]);
    // No local embedding model: search falls back to hash, and doctor says so (a warning, nothing blocked).
    expect(r.checks.find((c) => c.name === 'embeddings')).toMatchObject({
      level: 'warn',
      blocks: null,
      detail: expect.stringMatching(/no ONNX embedding model in .*embeddings\/all-MiniLM-L6-v2 .*search uses hash embeddings \(keyword hashing, not semantic\)/),
    });
  });

  it('an unusable data dir blocks `podbrain run` itself', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-doctor-'));
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    const res = await doctor({ WHISPER_CLI: path.join(dir, 'nope'), MODELS_DIR: dir, DATA_DIR: file });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✗ data dir/);
    expect(res.stdout).toMatch(/1 problem\(s\) block `podbrain run` \(data dir\)\./);
  });

  it('with an OpenAI-compatible ASR server configured, a missing Whisper model is only a warning', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-doctor-'));
    const res = await doctor({
      WHISPER_CLI: path.join(dir, 'nope'), MODELS_DIR: path.join(dir, 'models'), DATA_DIR: path.join(dir, 'data'),
      ASR_ENGINES: 'feed,whisper-cpp,openai', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    });
    expect(res.stdout).toMatch(/! models .*\(openai transcribes instead\)/);
    expect(res.stdout).toMatch(/Ready for `podbrain run`\./);
    expect(res.code).toBe(0);
  });

  it('passes when whisper-cli and the model are there (Postgres and Redis are not needed by the CLI)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-doctor-'));
    const cli = path.join(dir, 'whisper-cli');
    writeFileSync(cli, '#!/bin/sh\necho "usage: whisper-cli [options] file0 file1 ..."\n');
    chmodSync(cli, 0o755);
    const models = path.join(dir, 'models');
    await import('node:fs/promises').then((fs) => fs.mkdir(models)).then(() => writeFileSync(path.join(models, 'ggml-tiny.bin'), 'x'));
    const res = await doctor({ WHISPER_CLI: cli, MODELS_DIR: models, WHISPER_MODEL: 'tiny', DATA_DIR: path.join(dir, 'data'), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' });
    expect(res.stdout).toMatch(/✓ models/);
    expect(res.stdout).not.toMatch(/block `podbrain run`/);
    expect(res.code).toBe(0);
  });
});
