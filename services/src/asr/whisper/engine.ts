import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mergeSpans } from '../../audio/vad';
import { readWavInfo, writeWavPieces } from '../../audio/wav';
import type { Config } from '../../config/config';
import { PodbrainError } from '../../core/errors';
import { createLogger, type Logger } from '../../core/logger';
import { metrics } from '../../telemetry/metrics';
import type { AsrEngine, AsrInput, AsrResult, TranscriptSegment } from '../types';
import { requireWhisperCli, whisperCliPath, whisperModelFile, BUILD_HINT } from './binaries';

/**
 * The `whisper-cpp` engine: spawns whisper-cli (built by `npm run build:whisper` from the
 * whisper.cpp source bundled in nodejs-whisper) on the preprocessed WAV and reads its JSON.
 *
 * With speech spans (VAD) it transcribes a WAV made of the speech only and maps the times
 * back, so silence costs nothing and the VAD runs once per episode (its spans also feed the
 * coverage guard) instead of again inside whisper-cli.
 */

const GGML_MAGIC = 0x67676d6c;

/**
 * whisper-cli loads the model afresh in every run and reports how long that took on stderr
 * (`whisper_print_timings:     load time =   123.45 ms`); seconds, or null when absent.
 */
export function whisperLoadSeconds(stderrLines: readonly string[]): number | null {
  for (const line of stderrLines) {
    const m = /\bload time =\s*([\d.]+) ms/.exec(line);
    if (m && Number.isFinite(Number(m[1]))) return Number(m[1]) / 1000;
  }
  return null;
}
/** Silence put between speech stretches so the model still hears a pause. */
const GAP_MS = 300;
/** Padding around each speech span (the VAD cuts close to the words). */
const SPEECH_PAD_MS = 200;
/** When speech covers this much of the file, transcribe the file itself (no copy). */
const WHOLE_FILE_SHARE = 0.95;

export interface WhisperEngineDeps {
  logger?: Logger;
}

export interface WhisperJson {
  result?: { language?: string };
  transcription?: { offsets?: { from?: number; to?: number }; text?: string }[];
}

export function parseWhisperJson(doc: WhisperJson): { language: string | null; segments: TranscriptSegment[] } {
  const segments: TranscriptSegment[] = [];
  for (const t of doc.transcription ?? []) {
    const text = (t.text ?? '').trim();
    const from = Number(t.offsets?.from);
    const to = Number(t.offsets?.to);
    if (!text || !Number.isFinite(from) || !Number.isFinite(to)) continue;
    segments.push({ start_ms: from, end_ms: Math.max(from, to), text });
  }
  return { language: doc.result?.language ?? null, segments };
}

/** Checks the header before whisper-cli does, for a clear message instead of a crash log. */
async function checkModelFile(file: string): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch {
    throw new PodbrainError(
      'whisper_unavailable',
      `whisper model ${file} not found: put ggml-<name>.bin into MODELS_DIR (see \`podbrain models list\`; \`podbrain models fake --shape tiny --out DIR\` writes a test model) or set WHISPER_MODEL_PATH`,
      { unavailable: true, model: file },
    );
  }
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    if (bytesRead < 4 || head.readUInt32LE(0) !== GGML_MAGIC) {
      metrics.modelLoadFailuresTotal.inc({ model: path.basename(file) });
      throw new PodbrainError('whisper_model_corrupt', `whisper model ${file} is corrupt: not a ggml model file (bad magic); re-download it`, { model: file });
    }
  } finally {
    await fh.close();
  }
}

/** Whisper can emit a final timestamp past the end of the audio (it thinks in 30 s windows). */
export function clampToAudio(segments: TranscriptSegment[], durationMs: number): TranscriptSegment[] {
  return segments
    .filter((s) => s.start_ms < durationMs)
    .map((s) => ({ ...s, start_ms: Math.max(0, s.start_ms), end_ms: Math.min(durationMs, Math.max(s.start_ms, s.end_ms)) }));
}

type Placed = { start_ms: number; end_ms: number; at_ms: number };

/** A time in the speech-only WAV → the time in the original audio. */
export function mapBack(t: number, placed: Placed[]): number {
  let lo = 0;
  let hi = placed.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (placed[mid].at_ms <= t) lo = mid;
    else hi = mid - 1;
  }
  const p = placed[lo];
  if (!p) return t;
  return Math.round(p.start_ms + Math.min(Math.max(0, t - p.at_ms), p.end_ms - p.start_ms));
}

export function createWhisperCppEngine(config: Config, deps: WhisperEngineDeps = {}): AsrEngine {
  const log = deps.logger ?? createLogger({ service: 'asr-whisper', level: config.logLevel });
  const modelFile = whisperModelFile(config);
  const modelName = config.asr.whisperModelPath ? path.basename(modelFile).replace(/^ggml-|\.bin$/g, '') : config.asr.whisperModel;

  function args(wav: string, outBase: string): string[] {
    const a = ['-m', modelFile, '-f', wav, '-t', String(config.asr.threads), '-l', config.asr.language];
    a.push('-bs', String(config.asr.beamSize), '-bo', String(Math.max(1, config.asr.beamSize)));
    if (!config.asr.temperatureFallback) a.push('-nf');
    a.push('-oj', '-of', outBase, '-pp');
    return a;
  }

  async function run(cli: string, wav: string, outBase: string, input: AsrInput): Promise<WhisperJson> {
    const argv = args(wav, outBase);
    log.debug({ cli, argv }, 'whisper-cli');
    const tail: string[] = [];
    const code = await new Promise<number | string>((resolve, reject) => {
      const child = spawn(cli, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
      const onAbort = () => child.kill('SIGKILL');
      if (input.signal.aborted) onAbort();
      input.signal.addEventListener('abort', onAbort, { once: true });
      let partial = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        const lines = (partial + d).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const p = /progress =\s*(\d+)%/.exec(line);
          if (p) input.onProgress?.(Math.min(1, Number(p[1]) / 100));
          else if (line.trim()) {
            tail.push(line);
            if (tail.length > 40) tail.shift();
          }
        }
      });
      child.on('error', (e) => {
        input.signal.removeEventListener('abort', onAbort);
        reject(new PodbrainError('whisper_unavailable', `cannot run ${cli}: ${e.message} (${BUILD_HINT})`, { unavailable: true }));
      });
      child.on('close', (c, sig) => {
        input.signal.removeEventListener('abort', onAbort);
        resolve(c ?? sig ?? 'unknown');
      });
    });
    input.signal.throwIfAborted();
    // podbrain_model_load_seconds{model}: the model load whisper-cli reports for this run
    const loaded = whisperLoadSeconds(tail);
    if (loaded !== null) metrics.modelLoadSeconds.observe({ model: path.basename(modelFile) }, loaded);
    if (code !== 0) {
      const text = tail.join('\n');
      if (/failed to (load model|initialize whisper context)|invalid model|bad magic|tensor .*(wrong|not found|unknown)|not all tensors|unknown tensor|failed to read/i.test(text)) {
        metrics.modelLoadFailuresTotal.inc({ model: path.basename(modelFile) });
        const why = tail.filter((l) => /error|fail|invalid|tensor/i.test(l)).slice(-2).join('; ');
        throw new PodbrainError('whisper_model_corrupt', `whisper model ${modelFile} is corrupt or not a whisper model (${why}); re-download it`, { model: modelFile });
      }
      throw new PodbrainError('whisper_failed', `whisper-cli exited with ${code}: ${tail.slice(-3).join('; ')}`, { exit: code });
    }
    const raw = await fs.readFile(`${outBase}.json`, 'utf8').catch(() => {
      throw new PodbrainError('whisper_failed', `whisper-cli wrote no JSON (${tail.slice(-2).join('; ')})`);
    });
    try {
      return JSON.parse(raw) as WhisperJson;
    } catch (e) {
      throw new PodbrainError('whisper_failed', `whisper-cli wrote invalid JSON: ${(e as Error).message}`);
    }
  }

  return {
    name: 'whisper-cpp',

    unavailableReason() {
      if (!whisperCliPath(config)) return `whisper-cli is not built: ${BUILD_HINT}`;
      if (!existsSync(modelFile)) {
        return `whisper model ${modelFile} not found: put ggml-${modelName}.bin into MODELS_DIR (${config.modelsDir}; \`podbrain models list\` shows what is there) or set WHISPER_MODEL_PATH`;
      }
      return null;
    },

    fingerprintParts() {
      return {
        engine: 'whisper-cpp',
        model: modelName,
        language: config.asr.language,
        beam_size: config.asr.beamSize,
        temperature_fallback: config.asr.temperatureFallback,
        vad: config.asr.vad,
      };
    },

    async transcribe(input: AsrInput): Promise<AsrResult> {
      const cli = requireWhisperCli(config);
      if (!input.wavPath) throw new PodbrainError('whisper_needs_audio', 'the whisper-cpp engine needs the episode audio', { unavailable: true });
      await checkModelFile(modelFile);
      const result = (segments: TranscriptSegment[], language: string | null): AsrResult => ({ engine: 'whisper-cpp', model: modelName, language, segments });

      const speech = input.speech ?? null;
      if (speech && speech.length === 0) return result([], config.asr.language === 'auto' ? null : config.asr.language);

      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'podbrain-whisper-'));
      try {
        let wav = input.wavPath;
        let placed: Placed[] | null = null;
        const info = await readWavInfo(input.wavPath);
        if (speech) {
          const pieces = mergeSpans(speech, GAP_MS, SPEECH_PAD_MS, info.durationMs);
          const kept = pieces.reduce((n, p) => n + p.end_ms - p.start_ms, 0);
          if (kept < info.durationMs * WHOLE_FILE_SHARE) {
            wav = path.join(dir, 'speech.wav');
            placed = await writeWavPieces(input.wavPath, info, pieces, wav, GAP_MS);
            log.debug({ pieces: pieces.length, speech_ms: kept, total_ms: info.durationMs }, 'transcribing speech only');
          }
        }
        const parsed = parseWhisperJson(await run(cli, wav, path.join(dir, 'out'), input));
        const map = placed;
        const segments = map
          ? parsed.segments.map((s) => ({ ...s, start_ms: mapBack(s.start_ms, map), end_ms: mapBack(s.end_ms, map) }))
          : parsed.segments;
        return result(clampToAudio(segments, info.durationMs), parsed.language);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  };
}
