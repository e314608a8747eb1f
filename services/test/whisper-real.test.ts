import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createWhisperCppEngine } from '../src/asr/whisper/engine';
import { silentLogger } from '../src/core/logger';
import { wordErrorRate } from '../src/eval/wer';
import { transcribeEpisode } from '../src/stages/transcribe.stage';
import { requireWhisperBuild, whisperTestConfig } from './support/audio';
import { fixture } from './support/fixtures';

/**
 * Real weights are never downloaded by tests. When WHISPER_MODEL_PATH points at a real ggml
 * model (e.g. ggml-base.en.bin), every clip in ../shared/fixtures/audio is transcribed and its
 * WER against the reference printed; otherwise this says it was skipped and why.
 */
const modelPath = process.env.WHISPER_MODEL_PATH ?? '';
const haveModel = modelPath !== '' && existsSync(modelPath);
if (!haveModel) console.log(`whisper-real: skipped, WHISPER_MODEL_PATH is ${modelPath ? `${modelPath} (missing)` : 'unset'}: no real whisper weights to test with`);

const clips = readdirSync(fixture('audio'))
  .filter((f) => /\.(wav|mp3|flac|ogg)$/.test(f))
  .filter((f) => existsSync(fixture('audio', f.replace(/\.\w+$/, '.txt'))))
  .sort();

describe('whisper-cpp with real weights (WHISPER_MODEL_PATH)', () => {
  it.skipIf(!haveModel)(`transcribes every fixture clip and reports WER per clip (skipped: WHISPER_MODEL_PATH unset)`, async () => {
    requireWhisperBuild();
    const config = whisperTestConfig(path.dirname(modelPath), {
      WHISPER_MODEL_PATH: modelPath,
      WHISPER_TEMPERATURE_FALLBACK: 'true',
      WHISPER_BEAM_SIZE: '5',
      WHISPER_THREADS: process.env.WHISPER_THREADS ?? '2',
    });
    const rows: string[] = [];
    let worst = 0;
    for (const clip of clips) {
      const ref = readFileSync(fixture('audio', clip.replace(/\.\w+$/, '.txt')), 'utf8');
      const { transcript } = await transcribeEpisode({
        config, engines: [createWhisperCppEngine(config, { logger: silentLogger })], audioPath: fixture('audio', clip), transcripts: [],
        episodeKey: clip, signal: new AbortController().signal, log: silentLogger,
      });
      const wer = wordErrorRate(ref, transcript.segments.map((s) => s.text).join(' ')).wer;
      worst = Math.max(worst, wer);
      rows.push(`${clip.padEnd(22)} WER ${(wer * 100).toFixed(1).padStart(5)} %  coverage ${transcript.speech_coverage ?? '-'}  ${transcript.status}`);
    }
    console.log(`whisper-real (${path.basename(modelPath)}):\n${rows.join('\n')}`);
    expect(rows).toHaveLength(clips.length);
    // Any real English model gets these short read-speech clips mostly right.
    expect(worst).toBeLessThan(0.5);
  }, 600_000);
});
