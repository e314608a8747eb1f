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
  it('names what blocks `podbrain run` and how to fix it, with exit code 1', async () => {
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
    expect(res.stdout).toMatch(/2 problem\(s\) block `podbrain run`/);
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
