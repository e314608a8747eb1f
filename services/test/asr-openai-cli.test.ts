import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { empty, fail, type FakeOpenAiAsr, loop, speech, startFakeOpenAiAsr } from './support/fake-openai-asr';
import { fixture } from './support/fixtures';

/**
 * Issue 3's bad ASR servers end to end: `podbrain transcribe --engine openai --json` (the built
 * CLI, with the real preprocess and VAD of the transcribe stage) against the fake server.
 */

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/transcribe.ts', 'stages/transcribe.stage.ts', 'asr/engines.ts', 'asr/openai/engine.ts', 'asr/quality.ts'];
const JFK = fixture('audio', 'jfk.wav');

function distIsStale(): boolean {
  try {
    return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
  } catch {
    return true;
  }
}

let asr: FakeOpenAiAsr;

async function transcribe(env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'transcribe', JFK, '--engine', 'openai', '--json'], {
      cwd: SERVICES,
      env: { ...process.env, PODBRAIN_CONFIG: '', OPENAI_BASE_URL: asr.baseUrl, OPENAI_ASR_RETRY_BASE_MS: '10', LOG_LEVEL: 'warn', ...env },
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  asr = await startFakeOpenAiAsr();
  if (!distIsStale()) return;
  // Type errors elsewhere must not hide this command's behaviour: tsc still emits, and the checks below judge the result.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
  expect(distIsStale()).toBe(false);
}, 180_000);

afterAll(async () => {
  await asr?.close();
});

describe('podbrain transcribe --engine openai (built CLI, fake ASR server)', { timeout: 180_000 }, () => {
  it('a server that answers 500 then 200 still gives a valid transcript', async () => {
    asr.requests.length = 0;
    asr.behave(fail(1, 500, speech()));
    const res = await transcribe();
    expect(res.stderr).not.toMatch(/degraded:/);
    expect(res.code).toBe(0);
    const t = JSON.parse(res.stdout);
    expect(asr.requests).toHaveLength(2);
    expect(t).toMatchObject({ engine: 'openai', model: 'whisper-1', status: 'valid', quality: { reasons: [] } });
    expect(t.segments).toEqual([expect.objectContaining({ start_ms: 0, text: 'part 1' })]);
    // null when the stage has no VAD here (no whisper VAD binary/model); otherwise the segment covers the speech.
    if (t.speech_coverage !== null) expect(t.speech_coverage).toBeGreaterThanOrEqual(0.9);
    console.log(`speech_coverage with a 200 after a 500: ${t.speech_coverage}`);
  });

  it('a server that answers 200 with an empty transcript gives a degraded transcript that says so', async () => {
    asr.behave(empty());
    const res = await transcribe();
    expect(res.code).toBe(0);
    const t = JSON.parse(res.stdout);
    expect(t.status).toBe('degraded');
    expect(t.segments).toEqual([]);
    expect(t.quality.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^empty_transcript: /)]));
    expect(res.stderr).toMatch(/degraded: empty_transcript/);
  });

  it('a server that answers 200 with a looping transcript gives a degraded transcript (repetition_loop)', async () => {
    asr.behave(loop('Thank you.', 5, 2));
    const res = await transcribe();
    expect(res.code).toBe(0);
    const t = JSON.parse(res.stdout);
    expect(t.status).toBe('degraded');
    expect(t.quality.reasons).toEqual([expect.stringMatching(/^repetition_loop: /)]);
    expect(t.quality.repetition_ratio).toBeGreaterThan(0.5);
  });
});
