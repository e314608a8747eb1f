import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { whisperCliPath, vadBinaryPath } from '../../src/asr/whisper/binaries';
import { writeFakeWhisperModel } from '../../src/asr/whisper/fake-model';
import { loadConfig, type Config } from '../../src/config/config';
import { fixture } from './fixtures';

/** Test audio made on the spot with ffmpeg / espeak-ng (nothing downloaded). */

export const JFK_WAV = fixture('audio', 'jfk.wav');
export const JFK_MP3 = fixture('audio', 'jfk.mp3');
export const SILERO = fixture('models', 'ggml-silero-v6.2.0.bin');

export function tempDir(tag: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `podbrain-b1-${tag}-`));
}

export function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function durationS(file: string): number {
  return Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());
}

export function streamInfo(file: string): { codec: string; rate: number; channels: number; fmt: string } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,sample_rate,channels,sample_fmt', '-of', 'json', file], { encoding: 'utf8' });
  const s = (JSON.parse(out) as { streams: Record<string, string | number>[] }).streams[0];
  return { codec: String(s.codec_name), rate: Number(s.sample_rate), channels: Number(s.channels), fmt: String(s.sample_fmt) };
}

/** Stereo 44.1 kHz sine as MP3 (a typical podcast container). */
export function makeToneMp3(out: string, seconds: number): string {
  ffmpeg('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`, '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '64k', out);
  return out;
}

/** `silenceS` of silence, the JFK clip, `silenceS` of silence (16 kHz mono WAV). */
export function makeSpeechBetweenSilence(out: string, silenceS: number): string {
  ffmpeg(
    '-f', 'lavfi', '-t', String(silenceS), '-i', 'anullsrc=r=16000:cl=mono',
    '-i', JFK_WAV,
    '-f', 'lavfi', '-t', String(silenceS), '-i', 'anullsrc=r=16000:cl=mono',
    '-filter_complex', '[0:a][1:a][2:a]concat=n=3:v=0:a=1', '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', out,
  );
  return out;
}

/**
 * Hours of silence as a low-bitrate MP3, made with ffmpeg's anullsrc: one encoded minute,
 * repeated by stream copy (encoding ten hours would take minutes by itself).
 */
export function makeLongSilenceMp3(out: string, hours: number): string {
  const minute = `${out}.1min.mp3`;
  ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '60', '-c:a', 'libmp3lame', '-b:a', '8k', minute);
  ffmpeg('-stream_loop', String(hours * 60 - 1), '-i', minute, '-c', 'copy', out);
  return out;
}

/** A small H.264/AAC MP4 whose audio track is the JFK clip. */
export function makeVideoWithAudio(out: string): string {
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-i', JFK_WAV, '-shortest', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-b:a', '64k', out);
  return out;
}

export function makeVideoWithoutAudio(out: string): string {
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', out);
  return out;
}

/** Synthetic speech (espeak-ng) as a WAV. */
export function makeSpeech(out: string, text: string): string {
  execFileSync('espeak-ng', ['-w', out, text]);
  return out;
}

export function writeTextAsMp3(out: string): string {
  writeFileSync(out, 'This is not audio at all, just a text file with the wrong name.\n'.repeat(50));
  return out;
}

/** Tests that need whisper.cpp FAIL (never skip) when it is not built. */
export function requireWhisperBuild(): { cli: string; vad: string } {
  const config = { asr: { whisperCli: process.env.WHISPER_CLI ?? '' } } as Pick<Config, 'asr'>;
  const cli = whisperCliPath(config);
  const vad = vadBinaryPath(config);
  if (!cli || !vad) {
    throw new Error(`whisper.cpp binaries missing (whisper-cli: ${cli ?? 'no'}, whisper-vad-speech-segments: ${vad ?? 'no'}): run \`npm run build:whisper -w services\``);
  }
  return { cli, vad };
}

/** A fake tiny whisper model (random weights, real layout) in a fresh temp dir. */
export async function fakeTinyModelDir(): Promise<string> {
  const dir = tempDir('models');
  await writeFakeWhisperModel({ shape: 'tiny', outDir: dir });
  if (!existsSync(path.join(dir, 'ggml-tiny.bin'))) throw new Error('fake model not written');
  return dir;
}

/** Config for the whisper tests: fake tiny model, 2 threads, greedy, no temperature fallback. */
export function whisperTestConfig(modelsDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      MODELS_DIR: modelsDir,
      WHISPER_MODEL: 'tiny',
      WHISPER_THREADS: '2',
      WHISPER_BEAM_SIZE: '1',
      WHISPER_LANGUAGE: 'en',
      WHISPER_TEMPERATURE_FALLBACK: 'false',
      WHISPER_VAD_MODEL: SILERO,
      ASR_ENGINES: 'whisper-cpp',
      LOG_LEVEL: 'silent',
      ...env,
    },
  });
}
