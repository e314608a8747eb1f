import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { preprocessAudio } from '../src/audio/preprocess';
import { detectNonSilent, detectSpeech, mergeSpans, parseVadOutput, vadLoadTimer } from '../src/audio/vad';
import { registry } from '../src/telemetry/metrics';
import { readWavInfo } from '../src/audio/wav';
import { PodbrainError } from '../src/core/errors';
import { ffmpeg, JFK_WAV, makeSpeechBetweenSilence, requireWhisperBuild, SILERO, tempDir } from './support/audio';

const work = tempDir('vad');
let vad = '';

const total = (spans: { start_ms: number; end_ms: number }[]) => spans.reduce((n, s) => n + s.end_ms - s.start_ms, 0);

beforeAll(() => {
  vad = requireWhisperBuild().vad;
});

describe('detectSpeech (whisper.cpp Silero VAD)', () => {
  it('finds the speech of the JFK clip, in ms, inside the clip', async () => {
    const spans = await detectSpeech(JFK_WAV, { binary: vad, model: SILERO, threads: 2 });
    expect(spans.length).toBeGreaterThanOrEqual(1);
    for (const s of spans) {
      expect(s.start_ms).toBeGreaterThanOrEqual(0);
      expect(s.end_ms).toBeLessThanOrEqual(11_100);
      expect(s.end_ms).toBeGreaterThan(s.start_ms);
    }
    expect(total(spans)).toBeGreaterThan(7000);
    const loads = (await registry.getSingleMetric('podbrain_model_load_seconds')!.get()).values;
    expect(loads.find((x) => (x as { metricName?: string }).metricName === 'podbrain_model_load_seconds_count' && x.labels.model === path.basename(SILERO))?.value).toBeGreaterThanOrEqual(1);
  });

  it('runs the VAD only on what the energy gate kept and puts the spans back at their real time', async () => {
    const file = makeSpeechBetweenSilence(path.join(work, 'gap.wav'), 30);
    const spans = await detectSpeech(file, { binary: vad, model: SILERO, threads: 2 });
    expect(spans.length).toBeGreaterThanOrEqual(1);
    expect(spans[0].start_ms).toBeGreaterThan(29_500);
    expect(spans[spans.length - 1].end_ms).toBeLessThan(41_500);
    expect(total(spans)).toBeGreaterThan(7000);
  });

  it('silence never reaches the VAD (a VAD binary that does not exist is never run)', async () => {
    const silent = path.join(work, 'silence.mp3');
    ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=stereo', '-t', '90', '-c:a', 'libmp3lame', '-b:a', '32k', silent);
    const audio = await preprocessAudio(silent);
    try {
      expect(audio.nonSilent).toEqual([]);
      const spans = await detectSpeech(audio.wavPath, { binary: '/nonexistent/vad', model: SILERO, nonSilent: audio.nonSilent });
      expect(spans).toEqual([]);
      // Without the gate's answer it measures the gate itself, with the same result.
      expect(await detectSpeech(audio.wavPath, { binary: '/nonexistent/vad', model: SILERO })).toEqual([]);
    } finally {
      await audio.cleanup();
    }
  });

  it('measures the energy gate itself when preprocess did not', async () => {
    const file = path.join(work, 'gap.wav');
    const info = await readWavInfo(file);
    const gate = await detectNonSilent(file, info.durationMs);
    expect(gate).toHaveLength(1);
    expect(gate[0].start_ms).toBeGreaterThan(29_000);
  });

  it('a VAD model that is not a model fails with a clear error', async () => {
    const e = await detectSpeech(JFK_WAV, { binary: vad, model: JFK_WAV }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(PodbrainError);
    expect((e as PodbrainError).code).toBe('vad_failed');
    expect((e as PodbrainError).message).toMatch(/VAD .* failed \(model .*jfk\.wav\)/);
  });
});

describe('VAD helpers', () => {
  it('times the VAD model load from its stderr lines into podbrain_model_load_seconds', async () => {
    let t = 1000;
    const feed = vadLoadTimer('/models/ggml-silero-test.bin', () => t);
    feed("whisper_vad_init_from_file_with_params: loading VAD model from '/models/ggml-silero-test.bin'\nwhisper_vad_init_with_params: model type: silero-16k\n");
    t = 1250;
    feed('whisper_vad_detect_speech_no_reset: detecting speech in 176000 samples\n');
    t = 9000;
    feed('whisper_vad_detect_speech_no_reset: vad time = 4943.67 ms\n');
    const v = (await registry.getSingleMetric('podbrain_model_load_seconds')!.get()).values;
    expect(v.find((x) => (x as { metricName?: string }).metricName === 'podbrain_model_load_seconds_sum' && x.labels.model === 'ggml-silero-test.bin')?.value).toBeCloseTo(0.25, 6);
    expect(v.find((x) => (x as { metricName?: string }).metricName === 'podbrain_model_load_seconds_count' && x.labels.model === 'ggml-silero-test.bin')?.value).toBe(1);
  });

  it('parses whisper.cpp centiseconds into ms', () => {
    const out = '\nDetected 2 speech segments:\nSpeech segment 0: start = 32.00, end = 227.00\nSpeech segment 1: start = 327.50, end = 441.00\n';
    expect(parseVadOutput(out)).toEqual([
      { start_ms: 320, end_ms: 2270 },
      { start_ms: 3275, end_ms: 4410 },
    ]);
    expect(parseVadOutput('\nDetected 0 speech segments:\n')).toEqual([]);
  });

  it('merges close spans, pads, and clips to the file', () => {
    expect(mergeSpans([{ start_ms: 5000, end_ms: 6000 }, { start_ms: 100, end_ms: 1000 }, { start_ms: 1200, end_ms: 2000 }], 500, 200, 5800)).toEqual([
      { start_ms: 0, end_ms: 2200 },
      { start_ms: 4800, end_ms: 5800 },
    ]);
  });
});
