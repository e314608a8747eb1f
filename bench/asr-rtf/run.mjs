#!/usr/bin/env node
// Transcription figure (issue 3): realtime factor (audio s / wall s) of podbrain's whisper-cpp
// engine on a 10-minute file with the fake tiny model and 2 threads, and of the same WAV through
// whisper-cli directly with the same flags in the same run: overhead ratio = wall(ours) /
// wall(direct), goal ≤ 1.05. Both read the same preprocessed 16 kHz WAV; the engine runs without
// VAD spans here (whole file, like the direct call). Greedy decoding (beam 1, no temperature
// fallback) keeps random weights from wandering; the flags are identical on both sides.
// Usage: npm run build -w services && npm run bench:asr-rtf [-- --minutes 10 --runs 1 --threads 2]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { requireDist, root, speechMp3 } from '../preprocess/shared.mjs';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, runs: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' }, shape: { type: 'string', default: 'tiny' } } });
const require = createRequire(path.join(root, 'services/package.json'));
const { preprocessAudio } = require(requireDist('audio/preprocess.js'));
const { createWhisperCppEngine } = require(requireDist('asr/whisper/engine.js'));
const { whisperCliPath } = require(requireDist('asr/whisper/binaries.js'));
const { writeFakeWhisperModel } = require(requireDist('asr/whisper/fake-model.js'));
const { loadConfig } = require(requireDist('config/config.js'));
const { silentLogger } = require(requireDist('core/logger.js'));

const work = mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-rtf-'));
const config = loadConfig({
  env: {
    MODELS_DIR: work, WHISPER_MODEL: values.shape, WHISPER_THREADS: values.threads, WHISPER_BEAM_SIZE: '1', WHISPER_LANGUAGE: 'en',
    WHISPER_TEMPERATURE_FALLBACK: 'false', WHISPER_VAD: 'false', LOG_LEVEL: 'silent', WHISPER_CLI: process.env.WHISPER_CLI ?? '',
  },
});
const cli = whisperCliPath(config);
if (!cli) {
  console.error('whisper-cli not built: run `npm run build:whisper -w services`');
  process.exit(2);
}

const seconds = Number(values.minutes) * 60;
console.log(`preparing a ${values.minutes}-minute file and a fake ${values.shape} model…`);
const model = (await writeFakeWhisperModel({ shape: values.shape, outDir: work })).path;
const audio = await preprocessAudio(speechMp3(seconds), { tmpDir: work });

function direct() {
  const args = ['-m', model, '-f', audio.wavPath, '-t', values.threads, '-l', 'en', '-bs', '1', '-bo', '1', '-nf', '-oj', '-of', path.join(work, 'direct'), '-pp'];
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'ignore'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t) / 1e9) : reject(new Error(`whisper-cli exit ${code}`))));
  });
}
async function ours() {
  const engine = createWhisperCppEngine(config, { logger: silentLogger });
  const t = process.hrtime.bigint();
  const res = await engine.transcribe({ wavPath: audio.wavPath, durationMs: audio.durationMs, transcripts: [], signal: new AbortController().signal, speech: null });
  return { s: Number(process.hrtime.bigint() - t) / 1e9, segments: res.segments.length };
}

try {
  const d = [];
  const o = [];
  let segments = 0;
  for (let i = 0; i < Number(values.runs); i++) {
    // Alternate the order so neither side always runs on a warmer cache.
    if (i % 2 === 0) {
      d.push(await direct());
      const r = await ours();
      o.push(r.s);
      segments = r.segments;
    } else {
      const r = await ours();
      o.push(r.s);
      d.push(await direct());
    }
  }
  const best = (xs) => Math.min(...xs);
  const audioS = audio.durationMs / 1000;
  console.log(
    JSON.stringify({
      bench: 'asr-rtf',
      machine: `${os.cpus().length}-core ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(1)}`,
      model: `fake ${values.shape}`,
      threads: Number(values.threads),
      audio_s: audioS,
      runs: Number(values.runs),
      direct_wall_s: Number(best(d).toFixed(2)),
      ours_wall_s: Number(best(o).toFixed(2)),
      direct_rtf: Number((audioS / best(d)).toFixed(2)),
      ours_rtf: Number((audioS / best(o)).toFixed(2)),
      overhead_ratio: Number((best(o) / best(d)).toFixed(3)),
      goal_overhead_ratio: 1.05,
      segments,
    }),
  );
} finally {
  await audio.cleanup();
  rmSync(work, { recursive: true, force: true });
}
