import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { PodbrainError } from '../../core/errors';

/**
 * Audio helpers of the OpenAI-compatible engine: encode the 16 kHz WAV into a compact upload
 * format, find silences (ffmpeg `silencedetect`) and plan cuts so that every part stays
 * under the provider's upload limit while cutting in a pause, not in a word.
 */

export type UploadFormat = 'mp3' | 'flac' | 'ogg' | 'wav';

export interface Span {
  start_ms: number;
  end_ms: number;
}

const CODEC: Record<UploadFormat, { args: string[]; mime: string }> = {
  // 64 kbit/s mono MP3 keeps speech intact for ASR and is read by every server (OpenAI, speaches, whisper.cpp).
  mp3: { args: ['-c:a', 'libmp3lame', '-b:a', '64k'], mime: 'audio/mpeg' },
  flac: { args: ['-c:a', 'flac'], mime: 'audio/flac' },
  ogg: { args: ['-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg'], mime: 'audio/ogg' },
  wav: { args: ['-c:a', 'pcm_s16le'], mime: 'audio/wav' },
};

export const mimeOf = (format: UploadFormat) => CODEC[format].mime;

const ffmpegBin = () => process.env.FFMPEG_PATH || 'ffmpeg';

function runFfmpeg(args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegBin(), ['-hide_banner', '-nostdin', ...args], { stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      // silencedetect output is what we need; keep memory bounded for hour-long files.
      if (stderr.length > 4_000_000) stderr = stderr.slice(-2_000_000);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(signal?.reason ?? e);
      else if (e.code === 'ENOENT') reject(new PodbrainError('ffmpeg_missing', 'ffmpeg not found: install ffmpeg (apt-get install ffmpeg)'));
      else reject(e);
    });
    child.on('close', (code) => {
      if (code === 0) resolve(stderr);
      else {
        const last = stderr.trim().split('\n').slice(-3).join(' | ');
        reject(new PodbrainError('ffmpeg_failed', `ffmpeg ${args.slice(0, 4).join(' ')} … failed (exit ${code}): ${last}`));
      }
    });
  });
}

/** Encodes `[startMs, endMs)` of the input (whole file when omitted) as 16 kHz mono in `format`; returns the byte size. */
export async function encodeForUpload(
  input: string,
  output: string,
  format: UploadFormat,
  span?: Span,
  signal?: AbortSignal,
): Promise<number> {
  const range = span ? ['-ss', (span.start_ms / 1000).toFixed(3), '-t', ((span.end_ms - span.start_ms) / 1000).toFixed(3)] : [];
  await runFfmpeg([...range, '-i', input, '-vn', '-ac', '1', '-ar', '16000', ...CODEC[format].args, '-y', output], signal);
  return (await stat(output)).size;
}

/** Silences of at least `minSilenceMs` below `noiseDb` (ffmpeg silencedetect). */
export async function detectSilences(input: string, opts: { noiseDb?: number; minSilenceMs?: number; signal?: AbortSignal } = {}): Promise<Span[]> {
  const noise = opts.noiseDb ?? -35;
  const d = (opts.minSilenceMs ?? 300) / 1000;
  const log = await runFfmpeg(['-nostats', '-i', input, '-af', `silencedetect=noise=${noise}dB:d=${d}`, '-f', 'null', '-'], opts.signal);
  return parseSilences(log);
}

export function parseSilences(log: string): Span[] {
  const out: Span[] = [];
  let start: number | null = null;
  for (const m of log.matchAll(/silence_(start|end): (-?[\d.]+)/g)) {
    const ms = Math.max(0, Math.round(Number(m[2]) * 1000));
    if (m[1] === 'start') start = ms;
    else if (start !== null) {
      out.push({ start_ms: start, end_ms: ms });
      start = null;
    }
  }
  return out;
}

/**
 * Cuts `[0, durationMs)` into parts of at most `maxPartMs`, each cut in the middle of the
 * latest silence that still fits (and lies in the second half of the part, so parts do not
 * get tiny); without such a silence the cut falls exactly at the budget.
 */
export function planParts(durationMs: number, silences: Span[], maxPartMs: number): Span[] {
  if (maxPartMs <= 0) throw new PodbrainError('asr_split', `cannot split audio into parts of ${maxPartMs} ms`);
  const mids = silences.map((s) => Math.round((s.start_ms + s.end_ms) / 2)).sort((a, b) => a - b);
  const parts: Span[] = [];
  let start = 0;
  while (durationMs - start > maxPartMs) {
    const target = start + maxPartMs;
    const floor = start + maxPartMs / 2;
    let cut = target;
    for (const m of mids) {
      if (m > target) break;
      if (m > floor) cut = m;
    }
    parts.push({ start_ms: start, end_ms: cut });
    start = cut;
  }
  parts.push({ start_ms: start, end_ms: durationMs });
  return parts;
}
