#!/usr/bin/env node
// Transcription figure (issue 3): preprocess time of a 60-minute MP3 (goal ≤ 15 s on the CI box).
// Ours: services/dist/audio/preprocess.js (ffprobe + one ffmpeg pass: resample to 16 kHz mono,
// energy gate, dynaudnorm, s16 WAV). Baseline in the same run: plain `ffmpeg -i x.mp3 -ar 16000
// -ac 1 x.wav` (decode + resample only), so the ratio is what normalisation and the gate cost.
// --loudnorm also times ffmpeg's loudnorm in place of dynaudnorm (slow: why we don't use it).
// Usage: npm run build -w services && npm run bench:preprocess [-- --minutes 60 --runs 2 --loudnorm]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { requireDist, root, speechMp3 } from './shared.mjs';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '60' }, runs: { type: 'string', default: '2' }, loudnorm: { type: 'boolean', default: false } } });
const require = createRequire(path.join(root, 'services/package.json'));
const { preprocessAudio } = require(requireDist('audio/preprocess.js'));

const minutes = Number(values.minutes);
const runs = Number(values.runs);
console.log(`preparing a ${minutes}-minute MP3 (cached after the first run)…`);
const mp3 = speechMp3(minutes * 60);
const work = mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-pre-'));

function timeSync(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}
async function timeAsync(fn) {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const baselineOnce = () =>
  timeSync(() => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', mp3, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', path.join(work, 'plain.wav')]));
const oursOnce = () =>
  timeAsync(async () => {
    const a = await preprocessAudio(mp3, { tmpDir: work });
    await a.cleanup();
  });

const base = [];
const ours = [];
try {
  for (let i = 0; i < runs; i++) {
    base.push(baselineOnce());
    ours.push(await oursOnce());
  }
  const best = (xs) => Math.min(...xs);
  const result = {
    bench: 'preprocess',
    machine: `${os.cpus().length}-core ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(1)}`,
    audio_minutes: minutes,
    runs,
    ours_s: Number(best(ours).toFixed(2)),
    baseline_plain_ffmpeg_s: Number(best(base).toFixed(2)),
    ratio_to_baseline: Number((best(ours) / best(base)).toFixed(3)),
    goal_s: 15,
    meets_goal: best(ours) <= 15,
  };
  if (values.loudnorm) {
    result.loudnorm_s = Number(
      timeSync(() =>
        execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-i', mp3, '-af', 'aresample=16000,aformat=channel_layouts=mono,loudnorm', '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', path.join(work, 'ln.wav')]),
      ).toFixed(2),
    );
  }
  console.log(JSON.stringify(result));
} finally {
  rmSync(work, { recursive: true, force: true });
}
