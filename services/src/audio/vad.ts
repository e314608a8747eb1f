import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import type { SpeechSpan } from '../asr/quality';
import { PodbrainError } from '../core/errors';
import { metrics } from '../telemetry/metrics';
import { nonSilentFromLog } from './preprocess';
import { readWavInfo, writeWavPieces } from './wav';

export type { SpeechSpan };

/**
 * Speech detection with whisper.cpp's Silero VAD (`whisper-vad-speech-segments` + a ggml
 * silero model). Silero is not free here (about 17× real time per CPU core on the CI box), so
 * it only runs on the stretches the cheap energy gate (ffmpeg silencedetect) found non-silent:
 * ten hours of silence cost one ffmpeg pass and no VAD at all.
 */

export interface DetectSpeechOptions {
  /** `whisper-vad-speech-segments` binary. */
  binary: string;
  /** ggml Silero VAD model (e.g. ggml-silero-v6.2.0.bin). */
  model: string;
  threads?: number;
  /** Non-silent stretches from preprocess; measured here (one ffmpeg pass) when absent. */
  nonSilent?: SpeechSpan[];
  signal?: AbortSignal;
  /** VAD probability threshold (default 0.5). */
  threshold?: number;
}

/** Gate regions closer than this are merged: fewer VAD launches, a little more audio each. */
const MERGE_GAP_MS = 5000;
const GATE_PAD_MS = 250;
/** When the gate leaves at least this share of the file, the VAD just reads the whole file. */
const WHOLE_FILE_SHARE = 0.8;

export function mergeSpans(spans: SpeechSpan[], gapMs: number, padMs = 0, limitMs = Infinity): SpeechSpan[] {
  const out: SpeechSpan[] = [];
  for (const s of [...spans].sort((a, b) => a.start_ms - b.start_ms)) {
    const start = Math.max(0, s.start_ms - padMs);
    const end = Math.min(limitMs, s.end_ms + padMs);
    const last = out[out.length - 1];
    if (last && start - last.end_ms <= gapMs) last.end_ms = Math.max(last.end_ms, end);
    else out.push({ start_ms: start, end_ms: end });
  }
  return out;
}

/** `Speech segment 0: start = 32.00, end = 227.00` — whisper.cpp reports centiseconds. */
export function parseVadOutput(stdout: string): SpeechSpan[] {
  const spans: SpeechSpan[] = [];
  for (const m of stdout.matchAll(/Speech segment \d+: start = ([\d.]+), end = ([\d.]+)/g)) {
    spans.push({ start_ms: Math.round(Number(m[1]) * 10), end_ms: Math.round(Number(m[2]) * 10) });
  }
  return spans;
}

/** Energy gate on an existing WAV (one ffmpeg pass, no output file). */
export function detectNonSilent(wavPath: string, durationMs: number, opts: { silenceDb?: number; minSilenceMs?: number; signal?: AbortSignal } = {}): Promise<SpeechSpan[]> {
  return new Promise((resolve, reject) => {
    const log: string[] = [];
    const cmd = ffmpeg(wavPath)
      .audioFilters(`silencedetect=n=${opts.silenceDb ?? -50}dB:d=${(opts.minSilenceMs ?? 1000) / 1000}`)
      .format('null')
      .output('-');
    const onAbort = () => cmd.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    cmd.on('stderr', (line: string) => line.includes('silence_') && log.push(line));
    cmd.on('error', (e: Error) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(opts.signal?.aborted ? opts.signal.reason : new PodbrainError('vad_failed', `energy gate on ${wavPath} failed: ${e.message}`));
    });
    cmd.on('end', () => {
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(nonSilentFromLog(log, durationMs));
    });
    cmd.run();
  });
}

/**
 * Times the Silero model load of one VAD run from its stderr: from `loading VAD model` to the
 * first line after the model is initialised (`whisper_vad_detect_speech…`), into
 * podbrain_model_load_seconds{model}. The binary loads the model afresh in every run and prints
 * no load time of its own, hence the line clock (its stderr is unbuffered).
 */
export function vadLoadTimer(model: string, now: () => number = () => performance.now()): (chunk: string) => void {
  let startedAt: number | null = null;
  let done = false;
  return (chunk) => {
    if (done) return;
    for (const line of chunk.split('\n')) {
      if (startedAt === null && line.includes('loading VAD model')) startedAt = now();
      else if (startedAt !== null && /whisper_vad_detect_speech|vad time =/.test(line)) {
        metrics.modelLoadSeconds.observe({ model: path.basename(model) }, (now() - startedAt) / 1000);
        done = true;
        return;
      }
    }
  };
}

function runVad(opts: DetectSpeechOptions, wav: string): Promise<SpeechSpan[]> {
  // no -np: the model-loading lines on stderr time the load (vadLoadTimer); stdout is the same
  const args = ['-f', wav, '-vm', opts.model, '-t', String(opts.threads ?? 2)];
  if (opts.threshold !== undefined) args.push('-vt', String(opts.threshold));
  return new Promise((resolve, reject) => {
    const child = spawn(opts.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timeLoad = vadLoadTimer(opts.model);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      timeLoad(d);
      stderr = (stderr + d).slice(-4000);
    });
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => reject(new PodbrainError('vad_unavailable', `cannot run ${opts.binary}: ${e.message}`, { unavailable: true })));
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      // The example exits 0 even on bad arguments, so "no result lines and an error line" is a failure too.
      if (code !== 0 || sig || (/error:/i.test(stderr + stdout) && !/Detected \d+ speech segments/.test(stdout))) {
        const why = (stderr + stdout).split('\n').filter((l) => /error|failed/i.test(l)).slice(-2).join('; ') || `exit ${code ?? sig}`;
        return reject(new PodbrainError('vad_failed', `VAD on ${wav} failed (model ${opts.model}): ${why}`));
      }
      resolve(parseVadOutput(stdout));
    });
  });
}

/** Speech spans (ms, in order) of a 16 kHz mono WAV. */
export async function detectSpeech(wavPath: string, opts: DetectSpeechOptions): Promise<SpeechSpan[]> {
  const info = await readWavInfo(wavPath);
  const gate = opts.nonSilent ?? (await detectNonSilent(wavPath, info.durationMs, { signal: opts.signal }));
  const regions = mergeSpans(gate, MERGE_GAP_MS, GATE_PAD_MS, info.durationMs);
  if (!regions.length) return [];
  const covered = regions.reduce((n, r) => n + r.end_ms - r.start_ms, 0);
  if (covered >= info.durationMs * WHOLE_FILE_SHARE) return runVad(opts, wavPath);

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'podbrain-vad-'));
  try {
    const spans: SpeechSpan[] = [];
    for (const [i, r] of regions.entries()) {
      opts.signal?.throwIfAborted();
      const piece = path.join(dir, `region-${i}.wav`);
      await writeWavPieces(wavPath, info, [r], piece);
      for (const s of await runVad(opts, piece)) {
        spans.push({ start_ms: r.start_ms + s.start_ms, end_ms: Math.min(r.end_ms, r.start_ms + s.end_ms) });
      }
      await fs.rm(piece, { force: true });
    }
    return spans;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
