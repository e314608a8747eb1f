// Test audio for the transcription benchmarks, made from the fixtures with ffmpeg and cached
// in the OS temp dir: speech clips (JFK + FLEURS) concatenated and looped to the length asked.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
export const audioFixtures = path.resolve(root, '../shared/fixtures/audio');
export const cacheDir = path.join(os.tmpdir(), 'podbrain-bench-audio');

const ff = (...args) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });

/** A podcast-like MP3 (44.1 kHz stereo, 128 kbit/s) of `seconds` of looped read speech. */
export function speechMp3(seconds) {
  mkdirSync(cacheDir, { recursive: true });
  const out = path.join(cacheDir, `speech-${seconds}s.mp3`);
  if (existsSync(out)) return out;
  const seed = path.join(cacheDir, 'seed.wav');
  if (!existsSync(seed)) {
    const clips = ['jfk.wav', 'fleurs-en-000.ogg', 'fleurs-en-001.ogg', 'fleurs-en-002.ogg', 'fleurs-en-005.ogg'].map((f) => path.join(audioFixtures, f));
    const inputs = clips.flatMap((c) => ['-i', c]);
    const norm = clips.map((_, i) => `[${i}:a]aresample=44100,aformat=channel_layouts=stereo[a${i}]`).join(';');
    const cat = `${clips.map((_, i) => `[a${i}]`).join('')}concat=n=${clips.length}:v=0:a=1`;
    ff(...inputs, '-filter_complex', `${norm};${cat}`, '-c:a', 'pcm_s16le', seed);
  }
  const tmp = `${out}.tmp.mp3`;
  ff('-stream_loop', '-1', '-i', seed, '-t', String(seconds), '-c:a', 'libmp3lame', '-b:a', '128k', tmp);
  renameSync(tmp, out);
  return out;
}

export function requireDist(file) {
  const p = path.join(root, 'services/dist', file);
  if (!existsSync(p)) {
    console.error(`missing services/dist/${file}: run "npm run build -w services" first`);
    process.exit(2);
  }
  return p;
}
