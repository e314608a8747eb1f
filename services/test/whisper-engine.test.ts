import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../src/telemetry/metrics';
import { preprocessAudio } from '../src/audio/preprocess';
import { clampToAudio, createWhisperCppEngine, mapBack, parseWhisperJson, whisperLoadSeconds } from '../src/asr/whisper/engine';
import { PodbrainError } from '../src/core/errors';
import { silentLogger } from '../src/core/logger';
import { fakeTinyModelDir, JFK_WAV, makeSpeechBetweenSilence, makeToneMp3, requireWhisperBuild, tempDir, whisperTestConfig } from './support/audio';

const work = tempDir('whisper');
let models = '';

beforeAll(async () => {
  requireWhisperBuild();
  models = await fakeTinyModelDir();
}, 60_000);

const input = (wavPath: string, extra: Partial<Parameters<ReturnType<typeof createWhisperCppEngine>['transcribe']>[0]> = {}) => ({
  wavPath,
  durationMs: null,
  transcripts: [],
  signal: new AbortController().signal,
  ...extra,
});

async function failure(p: Promise<unknown>): Promise<PodbrainError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(PodbrainError);
  return e as PodbrainError;
}

describe('whisper-cpp engine (real whisper-cli, fake tiny model)', () => {
  it('whisper-cli and whisper-vad-speech-segments are built (else: npm run build:whisper -w services)', () => {
    const { cli, vad } = requireWhisperBuild();
    expect(existsSync(cli)).toBe(true);
    expect(existsSync(vad)).toBe(true);
  });

  it('loads the fake tiny model and returns segments with ms timestamps inside the audio, with progress', async () => {
    const engine = createWhisperCppEngine(whisperTestConfig(models), { logger: silentLogger });
    expect(engine.unavailableReason({ transcripts: [] })).toBeNull();
    const progress: number[] = [];
    const res = await engine.transcribe(input(JFK_WAV, { onProgress: (f) => progress.push(f) }));
    expect(res.engine).toBe('whisper-cpp');
    expect(res.model).toBe('tiny');
    expect(res.language).toBe('en');
    expect(res.segments.length).toBeGreaterThanOrEqual(1);
    for (const s of res.segments) {
      expect(Number.isInteger(s.start_ms)).toBe(true);
      expect(s.start_ms).toBeGreaterThanOrEqual(0);
      expect(s.end_ms).toBeGreaterThanOrEqual(s.start_ms);
      expect(s.end_ms).toBeLessThanOrEqual(11_100);
      expect(s.text.trim()).not.toBe('');
    }
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.max(...progress)).toBeLessThanOrEqual(1);
    // the model load whisper-cli reports lands in podbrain_model_load_seconds{model} (Grafana: Model load time p95)
    const loads = (await registry.getSingleMetric('podbrain_model_load_seconds')!.get()).values.find((v) => (v as { metricName?: string }).metricName === 'podbrain_model_load_seconds_count' && v.labels.model === 'ggml-tiny.bin');
    expect(loads?.value).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('with speech spans it transcribes only the speech and maps times back into the full recording', async () => {
    const file = makeSpeechBetweenSilence(path.join(work, 'gap.wav'), 40);
    const engine = createWhisperCppEngine(whisperTestConfig(models), { logger: silentLogger });
    const res = await engine.transcribe(input(file, { speech: [{ start_ms: 40_300, end_ms: 50_600 }] }));
    expect(res.segments.length).toBeGreaterThanOrEqual(1);
    for (const s of res.segments) {
      expect(s.start_ms).toBeGreaterThanOrEqual(40_000);
      expect(s.end_ms).toBeLessThanOrEqual(51_000);
    }
  }, 120_000);

  it('no speech: no whisper run, no segments', async () => {
    const config = whisperTestConfig(models, { WHISPER_CLI: '' });
    const engine = createWhisperCppEngine(config, { logger: silentLogger });
    const started = Date.now();
    const res = await engine.transcribe(input(JFK_WAV, { speech: [] }));
    expect(res.segments).toEqual([]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('bad input: a corrupt model file (random bytes) fails with a clear error', async () => {
    const dir = tempDir('corrupt');
    writeFileSync(path.join(dir, 'ggml-tiny.bin'), Buffer.from('this is not a model '.repeat(5000)));
    const engine = createWhisperCppEngine(whisperTestConfig(dir), { logger: silentLogger });
    const e = await failure(engine.transcribe(input(JFK_WAV)));
    expect(e.code).toBe('whisper_model_corrupt');
    expect(e.message).toMatch(/ggml-tiny\.bin is corrupt: not a ggml model file/);
  });

  it('bad input: a model cut short after a valid header fails in whisper-cli with a clear error', async () => {
    const dir = tempDir('cut');
    writeFileSync(path.join(dir, 'ggml-tiny.bin'), readFileSync(path.join(models, 'ggml-tiny.bin')).subarray(0, 4 << 20));
    const engine = createWhisperCppEngine(whisperTestConfig(dir), { logger: silentLogger });
    const e = await failure(engine.transcribe(input(JFK_WAV)));
    expect(e.code).toBe('whisper_model_corrupt');
    expect(e.message).toMatch(/ggml-tiny\.bin is corrupt or not a whisper model \(.+\)/);
    const failures = (await registry.getSingleMetric('podbrain_model_load_failures_total')!.get()).values.find((v) => v.labels.model === 'ggml-tiny.bin');
    expect(failures?.value).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a missing model makes the engine unavailable, naming the file, MODELS_DIR and `podbrain models`', async () => {
    const dir = tempDir('empty-models');
    const engine = createWhisperCppEngine(whisperTestConfig(dir, { WHISPER_MODEL: 'base.en' }), { logger: silentLogger });
    const reason = engine.unavailableReason({ transcripts: [] });
    expect(reason).toContain(path.join(dir, 'ggml-base.en.bin'));
    expect(reason).toMatch(/MODELS_DIR .*podbrain models list/);
    const e = await failure(engine.transcribe(input(JFK_WAV)));
    expect(e.code).toBe('whisper_unavailable');
    expect(e.details.unavailable).toBe(true);
  });

  it('a WHISPER_CLI that does not exist makes the engine unavailable with the build command', async () => {
    const engine = createWhisperCppEngine(whisperTestConfig(models, { WHISPER_CLI: '/nonexistent/whisper-cli' }), { logger: silentLogger });
    expect(engine.unavailableReason({ transcripts: [] })).toMatch(/whisper-cli is not built: run `npm run build:whisper -w services`/);
    const e = await failure(engine.transcribe(input(JFK_WAV)));
    expect(e.code).toBe('whisper_unavailable');
    expect(e.message).toContain('/nonexistent/whisper-cli');
  });

  it('fingerprints what changes the output (model, language, beam, fallback, VAD), not the thread count', () => {
    const a = createWhisperCppEngine(whisperTestConfig(models), { logger: silentLogger }).fingerprintParts();
    expect(a).toEqual({ engine: 'whisper-cpp', model: 'tiny', language: 'en', beam_size: 1, temperature_fallback: false, vad: true });
    expect(createWhisperCppEngine(whisperTestConfig(models, { WHISPER_THREADS: '8' }), { logger: silentLogger }).fingerprintParts()).toEqual(a);
    expect(createWhisperCppEngine(whisperTestConfig(models, { WHISPER_MODEL: 'base' }), { logger: silentLogger }).fingerprintParts()).not.toEqual(a);
  });

  it('abort kills whisper-cli', async () => {
    const audio = await preprocessAudio(makeToneMp3(path.join(work, 'tone.mp3'), 240));
    const dir = tempDir('abort-models');
    execFileSync('cp', [path.join(models, 'ggml-tiny.bin'), dir]);
    try {
      const engine = createWhisperCppEngine(whisperTestConfig(dir), { logger: silentLogger });
      const ac = new AbortController();
      const started = Date.now();
      const running = engine.transcribe(input(audio.wavPath, { signal: ac.signal }));
      await new Promise((r) => setTimeout(r, 1500));
      const before = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(dir));
      expect(before.length, 'whisper-cli should be running').toBeGreaterThanOrEqual(1);
      ac.abort(new PodbrainError('aborted', 'test abort'));
      const e = await failure(running);
      expect(e.code).toBe('aborted');
      expect(Date.now() - started).toBeLessThan(10_000);
      await new Promise((r) => setTimeout(r, 200));
      const after = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(dir) && !l.includes('<defunct>'));
      expect(after).toEqual([]);
    } finally {
      await audio.cleanup();
    }
  }, 60_000);
});

describe('whisper JSON and time mapping', () => {
  it('reads the model load time whisper-cli prints', () => {
    expect(whisperLoadSeconds(['whisper_init_from_file_with_params_no_state: loading model', 'whisper_print_timings:     load time =   123.45 ms', 'whisper_print_timings:    total time =  2000.00 ms'])).toBeCloseTo(0.12345, 6);
    expect(whisperLoadSeconds(['no timings here'])).toBeNull();
  });

  it('clamps segment times to the audio and drops segments that start after it', () => {
    expect(
      clampToAudio(
        [
          { start_ms: 1000, end_ms: 28_880, text: 'a' },
          { start_ms: 11_500, end_ms: 12_000, text: 'b' },
        ],
        11_000,
      ),
    ).toEqual([{ start_ms: 1000, end_ms: 11_000, text: 'a' }]);
  });

  it('parses whisper-cli -oj output, dropping empty segments', () => {
    const doc = {
      result: { language: 'en' },
      transcription: [
        { offsets: { from: 0, to: 2000 }, text: ' And so my fellow Americans' },
        { offsets: { from: 2000, to: 2500 }, text: '  ' },
        { offsets: { from: 2500, to: 4000 }, text: ' ask not' },
      ],
    };
    expect(parseWhisperJson(doc)).toEqual({
      language: 'en',
      segments: [
        { start_ms: 0, end_ms: 2000, text: 'And so my fellow Americans' },
        { start_ms: 2500, end_ms: 4000, text: 'ask not' },
      ],
    });
  });

  it('maps times in the speech-only WAV back to the recording (gaps map to the end of the previous stretch)', () => {
    const placed = [
      { start_ms: 10_000, end_ms: 12_000, at_ms: 0 },
      { start_ms: 60_000, end_ms: 61_000, at_ms: 2300 },
    ];
    expect(mapBack(0, placed)).toBe(10_000);
    expect(mapBack(1500, placed)).toBe(11_500);
    expect(mapBack(2100, placed)).toBe(12_000);
    expect(mapBack(2300, placed)).toBe(60_000);
    expect(mapBack(2800, placed)).toBe(60_500);
    expect(mapBack(9999, placed)).toBe(61_000);
  });
});
