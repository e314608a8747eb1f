import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAiAsrEngine, type OpenAiAsrResult } from '../src/asr/openai/engine';
import { writeFakeWhisperModel } from '../src/asr/whisper/fake-model';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { fixture } from './support/fixtures';

/**
 * The openai engine against a real OpenAI-compatible server: whisper.cpp's `whisper-server`
 * (`--inference-path /v1/audio/transcriptions`) with a fake tiny model. The text is garbage
 * (random weights); what is checked is the protocol: the multipart upload (MP3 decoded by the
 * server), verbose_json parsing, and split + offset stitching over real answers.
 * `npm run build:whisper` builds the server next to whisper-cli; WHISPER_SERVER_BIN points at
 * another one. Without either (a whisper.cpp source without examples/server) the test is skipped.
 */

const BIN = process.env.WHISPER_SERVER_BIN || path.resolve(__dirname, '../native/whisper/build/bin/whisper-server');
const HAVE_SERVER = existsSync(BIN);
if (!HAVE_SERVER) console.log(`asr-openai-whisper-server: skipped: no whisper-server at ${BIN} (run npm run build:whisper -w services, or set WHISPER_SERVER_BIN)`);

let dir: string;
let server: ChildProcess | null = null;
let baseUrl = '';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => (sock.destroy(), resolve(true)));
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    if (server?.exitCode !== null) throw new Error(`whisper-server exited with ${server?.exitCode}`);
    if (Date.now() > until) throw new Error(`whisper-server did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!HAVE_SERVER)('openai engine against whisper.cpp whisper-server (skipped without the binary)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-b2-wsrv-'));
    const model = await writeFakeWhisperModel({ shape: 'tiny', outDir: dir });
    const port = await freePort();
    server = spawn(BIN, ['-m', model.path, '-t', '2', '--host', '127.0.0.1', '--port', String(port), '--inference-path', '/v1/audio/transcriptions'], {
      stdio: 'ignore',
    });
    await waitForPort(port, 60_000);
    baseUrl = `http://127.0.0.1:${port}/v1`;
  }, 120_000);

  afterAll(() => {
    server?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const engine = (env: Record<string, string> = {}) =>
    createOpenAiAsrEngine(loadConfig({ env: { OPENAI_BASE_URL: baseUrl, OPENAI_ASR_RETRIES: '0', WHISPER_LANGUAGE: 'en', ...env } }), { logger: silentLogger });
  const input = (wavPath: string) => ({ wavPath, durationMs: null, transcripts: [], signal: new AbortController().signal });

  it('uploads an MP3 and reads verbose_json segments', async () => {
    const res = (await engine().transcribe(input(fixture('audio', 'jfk.wav')))) as OpenAiAsrResult;
    expect(res.parts).toEqual([expect.objectContaining({ start_ms: 0, attempts: 1 })]);
    expect(res.timing).toBe('segments');
    console.log(`whisper-server (fake tiny model) answered ${res.segments.length} segment(s) for jfk.wav`);
    for (const s of res.segments) {
      expect(s.end_ms).toBeGreaterThanOrEqual(s.start_ms);
      expect(s.end_ms).toBeLessThanOrEqual(11_100);
      expect(s.text.trim()).not.toBe('');
    }
  }, 120_000);

  it('splits over the byte limit and stitches the real answers by part offset', async () => {
    const res = (await engine({ OPENAI_ASR_MAX_BYTES: '40000' }).transcribe(input(fixture('audio', 'jfk.wav')))) as OpenAiAsrResult;
    expect(res.parts.length).toBeGreaterThanOrEqual(3);
    for (const p of res.parts) expect(p.bytes).toBeLessThanOrEqual(40_000);
    for (const s of res.segments) {
      const part = res.parts.find((p) => s.start_ms >= p.start_ms && s.start_ms <= p.end_ms);
      expect(part, `segment ${JSON.stringify(s)} lies in a part`).toBeDefined();
      expect(s.end_ms).toBeLessThanOrEqual(part!.end_ms);
    }
  }, 180_000);
});
