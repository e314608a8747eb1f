import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { JFK_MP3, requireWhisperBuild, SILERO, tempDir } from './support/audio';

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/transcribe.ts', 'cli/commands/models.ts', 'stages/transcribe.stage.ts', 'asr/whisper/engine.ts', 'audio/preprocess.ts', 'audio/vad.ts'];
const models = tempDir('cli-models');

function distIsStale(): boolean {
  try {
    return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
  } catch {
    return true;
  }
}

async function podbrain(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const full = {
      ...process.env, PODBRAIN_CONFIG: '', MODELS_DIR: models, WHISPER_MODEL: 'tiny', WHISPER_THREADS: '2', WHISPER_BEAM_SIZE: '1',
      WHISPER_LANGUAGE: 'en', WHISPER_TEMPERATURE_FALLBACK: 'false', WHISPER_VAD_MODEL: SILERO, ASR_ENGINES: 'whisper-cpp', ...env,
    };
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: SERVICES, env: full, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('podbrain transcribe / models (built CLI)', () => {
  beforeAll(async () => {
    requireWhisperBuild();
    if (!distIsStale()) return;
    // Type errors elsewhere must not hide this command's behaviour: tsc still emits, and the checks below judge the result.
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
    expect(distIsStale()).toBe(false);
  }, 180_000);

  it('models fake --shape tiny --out DIR writes ggml-tiny.bin and prints its path', async () => {
    const { code, stdout } = await podbrain(['models', 'fake', '--shape', 'tiny', '--out', models]);
    expect(code).toBe(0);
    const file = stdout.trim();
    expect(file).toBe(path.join(models, 'ggml-tiny.bin'));
    expect(readFileSync(file).readUInt32LE(0)).toBe(0x67676d6c);
    expect(statSync(file).size).toBeGreaterThan(70 << 20);
  }, 60_000);

  it('models fake refuses an unknown shape', async () => {
    const { code, stderr } = await podbrain(['models', 'fake', '--shape', 'huge', '--out', models]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown shape huge: expected one of tiny, .*large-v3/);
  });

  it('models list shows what is in MODELS_DIR and marks WHISPER_MODEL', async () => {
    const { code, stdout } = await podbrain(['models', 'list']);
    expect(code).toBe(0);
    expect(stdout).toContain(`MODELS_DIR ${models}`);
    expect(stdout).toMatch(/\* ggml-tiny\.bin\s+whisper/);
    const json = JSON.parse((await podbrain(['models', 'list', '--json'], { WHISPER_MODEL: 'base.en' })).stdout);
    expect(json.models).toEqual([expect.objectContaining({ file: 'ggml-tiny.bin', kind: 'whisper', selected: false })]);
    const text = (await podbrain(['models', 'list'], { WHISPER_MODEL: 'base.en' })).stdout;
    expect(text).toContain('WHISPER_MODEL=base.en: ggml-base.en.bin is not there');
  });

  it('transcribe --json prints transcript.json for an MP3', async () => {
    const { code, stdout, stderr } = await podbrain(['transcribe', JFK_MP3, '--json']);
    expect(stderr).toMatch(/whisper-cpp \(tiny\): \d+ segment\(s\), 11\.0 s of audio/);
    expect(code).toBe(0);
    const t = JSON.parse(stdout);
    expect(t).toMatchObject({ schema_version: 1, engine: 'whisper-cpp', model: 'tiny', episode_key: 'file:jfk.mp3' });
    expect(t.segments.length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('transcribe prints timestamped text', async () => {
    const { code, stdout } = await podbrain(['transcribe', JFK_MP3, '--model', path.join(models, 'ggml-tiny.bin')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\[00:00:\d\d\.\d{3} --> 00:00:\d\d\.\d{3}\]  \S/m);
  }, 120_000);

  it('transcribe refuses a text file named .mp3 with a clear message and exit 2', async () => {
    const fake = path.join(tempDir('cli'), 'notes.mp3');
    writeFileSync(fake, 'hello\n'.repeat(100));
    const { code, stderr } = await podbrain(['transcribe', fake]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/podbrain: .*notes\.mp3 is not an audio or video file ffmpeg can read/);
  });

  it('transcribe says how to get a model when there is none', async () => {
    const { code, stderr } = await podbrain(['transcribe', JFK_MP3], { WHISPER_MODEL: 'medium.en' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/no ASR engine can transcribe .*ggml-medium\.en\.bin not found.*podbrain models list/);
  });

  it('transcribe refuses an unknown engine', async () => {
    const { code, stderr } = await podbrain(['transcribe', JFK_MP3, '--engine', 'bogus']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown engine bogus: expected one of feed, whisper-cpp, openai/);
  });
});
