import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { PodbrainError } from '../core/errors';
import type { SpeechSpan } from '../asr/quality';
import { lastLine, probeAudio, type AudioProbe } from './probe';
import { readWavInfo, SAMPLE_RATE } from './wav';

/**
 * Anything ffmpeg reads (MP3, AAC, Opus, video with an audio track …) → 16 kHz mono s16 WAV,
 * the input whisper.cpp wants. One ffmpeg pass also normalises loudness and runs an energy
 * gate (silencedetect), so the VAD and the ASR model can skip stretches of pure silence.
 *
 * Normaliser: dynaudnorm after downmix/resample costs next to nothing (60-min MP3: 5.1 s vs
 * 5.2 s for no filter at all on the CI box); loudnorm resamples to 192 kHz internally and took
 * 110–146 s for the same file, so it is not offered (BENCHMARKS.md, "## Transcription").
 */

export type Normalizer = 'dynaudnorm' | 'none';

/** Bump when the WAV for the same input changes (part of the transcribe fingerprint). */
const PREPROCESS_VERSION = 1;

export interface PreprocessOptions {
  normalize?: Normalizer;
  /** Parent of the private temp directory (default: the OS temp dir). */
  tmpDir?: string;
  signal?: AbortSignal;
  /** Overrides the duration-scaled timeout. */
  timeoutMs?: number;
  /** Energy gate: quieter than this (dBFS) for at least `minSilenceMs` counts as silence. */
  silenceDb?: number;
  minSilenceMs?: number;
  onProgress?: (fraction: number) => void;
}

export interface PreparedAudio {
  wavPath: string;
  /** Decoded duration (ms), measured from the samples written. */
  durationMs: number;
  probe: AudioProbe;
  /** Stretches louder than the energy gate, in order; [] for silence only. */
  nonSilent: SpeechSpan[];
  elapsedMs: number;
  /** Removes the temp directory; safe to call twice. */
  cleanup(): Promise<void>;
}

export function preprocessParts(normalize: Normalizer): Record<string, unknown> {
  return { version: PREPROCESS_VERSION, sample_rate: SAMPLE_RATE, channels: 1, normalize };
}

/**
 * Time ffmpeg may take: one minute plus a quarter of the audio's duration (≥ 4× real time;
 * a 60-minute MP3 takes ~5 s here). Unknown durations assume a 16 kbit/s file of that size.
 */
export function preprocessTimeoutMs(durationMs: number | null, bytes: number): number {
  const estimate = durationMs ?? (bytes / 2000) * 1000;
  return 60_000 + Math.round(estimate / 4);
}

function buildFilters(normalize: Normalizer, silenceDb: number, minSilenceMs: number): string[] {
  return [
    `aresample=${SAMPLE_RATE}`,
    'aformat=channel_layouts=mono',
    // Before the normaliser, so boosted room noise does not hide silence.
    `silencedetect=n=${silenceDb}dB:d=${minSilenceMs / 1000}`,
    ...(normalize === 'dynaudnorm' ? ['dynaudnorm'] : []),
  ];
}

/** silencedetect's log lines → non-silent spans of [0, durationMs]. */
export function nonSilentFromLog(lines: string[], durationMs: number): SpeechSpan[] {
  const silences: SpeechSpan[] = [];
  let open: number | null = null;
  for (const line of lines) {
    const start = /silence_start: (-?[\d.]+)/.exec(line);
    if (start) open = Math.max(0, Math.round(Number(start[1]) * 1000));
    const end = /silence_end: ([\d.]+)/.exec(line);
    if (end && open !== null) {
      silences.push({ start_ms: open, end_ms: Math.round(Number(end[1]) * 1000) });
      open = null;
    }
  }
  if (open !== null) silences.push({ start_ms: open, end_ms: durationMs });
  const out: SpeechSpan[] = [];
  let cursor = 0;
  for (const s of silences) {
    if (s.start_ms > cursor) out.push({ start_ms: cursor, end_ms: Math.min(s.start_ms, durationMs) });
    cursor = Math.max(cursor, s.end_ms);
  }
  if (cursor < durationMs) out.push({ start_ms: cursor, end_ms: durationMs });
  return out.filter((s) => s.end_ms - s.start_ms >= 10);
}

export async function preprocessAudio(input: string, opts: PreprocessOptions = {}): Promise<PreparedAudio> {
  const started = Date.now();
  const probe = await probeAudio(input);
  const { size } = await fs.stat(input);
  const announcedMs = probe.audioDurationMs ?? probe.durationMs;
  const normalize = opts.normalize ?? 'dynaudnorm';
  const silenceDb = opts.silenceDb ?? -50;
  const minSilenceMs = opts.minSilenceMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? preprocessTimeoutMs(announcedMs, size);

  const dir = await fs.mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'podbrain-audio-'));
  const cleanup = () => fs.rm(dir, { recursive: true, force: true });
  const wavPath = path.join(dir, 'audio.wav');
  try {
    const log = await runFfmpeg(input, wavPath, { filters: buildFilters(normalize, silenceDb, minSilenceMs), timeoutMs, signal: opts.signal, announcedMs, onProgress: opts.onProgress });
    const wav = await readWavInfo(wavPath);
    checkDecoded(input, wav.durationMs, announcedMs);
    return {
      wavPath,
      durationMs: wav.durationMs,
      probe,
      nonSilent: nonSilentFromLog(log, wav.durationMs),
      elapsedMs: Date.now() - started,
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** A download cut short still decodes; its header (Xing/VBRI, container) says how long it should be. */
function checkDecoded(input: string, decodedMs: number, announcedMs: number | null): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  if (decodedMs < 50) {
    throw new PodbrainError(
      'audio_truncated',
      announcedMs
        ? `${input} is truncated: its header announces ${s(announcedMs)} of audio but no audio frame could be decoded (re-download it)`
        : `${input} contains no decodable audio frames`,
      { announced_ms: announcedMs, decoded_ms: 0 },
    );
  }
  if (announcedMs && decodedMs < announcedMs * 0.9 && announcedMs - decodedMs > 1000) {
    throw new PodbrainError(
      'audio_truncated',
      `${input} is truncated: decoded ${s(decodedMs)} of the ${s(announcedMs)} its header announces (incomplete download? re-download it)`,
      { announced_ms: announcedMs, decoded_ms: decodedMs },
    );
  }
}

function runFfmpeg(
  input: string,
  wavPath: string,
  o: { filters: string[]; timeoutMs: number; signal?: AbortSignal; announcedMs: number | null; onProgress?: (f: number) => void },
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const log: string[] = [];
    let settled = false;
    const cmd = ffmpeg(input)
      .outputOptions(['-map', '0:a:0', '-map_metadata', '-1', '-fflags', '+bitexact'])
      .audioFilters(o.filters)
      .audioCodec('pcm_s16le')
      .audioChannels(1)
      .audioFrequency(SAMPLE_RATE)
      .format('wav')
      .output(wavPath);
    const timer = setTimeout(() => {
      cmd.kill('SIGKILL');
      finish(new PodbrainError('preprocess_timeout', `ffmpeg did not finish converting ${input} within ${Math.round(o.timeoutMs / 1000)} s`));
    }, o.timeoutMs);
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(log);
    };
    const onAbort = () => {
      cmd.kill('SIGKILL');
      finish(o.signal?.reason instanceof Error ? o.signal.reason : new PodbrainError('aborted', 'preprocess aborted'));
    };
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });

    cmd.on('stderr', (line: string) => {
      if (line.includes('silence_')) log.push(line);
    });
    if (o.onProgress && o.announcedMs) {
      const total = o.announcedMs;
      cmd.on('progress', (p: { timemark?: string }) => {
        const m = /(\d+):(\d+):([\d.]+)/.exec(p.timemark ?? '');
        if (m) o.onProgress?.(Math.min(1, ((+m[1] * 3600 + +m[2] * 60 + +m[3]) * 1000) / total));
      });
    }
    cmd.on('error', (err: Error, _stdout: string | null, stderr: string | null) => {
      if (/Cannot find ffmpeg|ENOENT/.test(err.message)) {
        finish(new PodbrainError('ffmpeg_missing', 'ffmpeg not found: install ffmpeg (apt-get install ffmpeg)'));
        return;
      }
      const why = lastLine(String(stderr || err.message).split('\n').filter((l) => !/^\s*(size=|video:|frame=)/.test(l)).join('\n'));
      finish(new PodbrainError('audio_decode_failed', `ffmpeg could not convert ${input}: ${why}`, {}, { cause: err }));
    });
    cmd.on('end', () => finish(null));
    cmd.run();
  });
}
