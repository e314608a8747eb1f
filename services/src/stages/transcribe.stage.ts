import fs from 'node:fs/promises';
import path from 'node:path';
import { assessTranscript, type SpeechSpan } from '../asr/quality';
import { createAsrEngines, isUnavailableError, needsAudio } from '../asr/engines';
import type { AsrEngine, AsrResult, Transcript, TranscriptSource } from '../asr/types';
import { vadBinaryPath, vadModelFile } from '../asr/whisper/binaries';
import { probeAudio } from '../audio/probe';
import { preprocessAudio, preprocessParts, type PreparedAudio } from '../audio/preprocess';
import { detectSpeech } from '../audio/vad';
import type { StagingDir } from '../artifacts/store';
import type { Config } from '../config/config';
import { errorMessage, PodbrainError } from '../core/errors';
import { silentLogger, type Logger } from '../core/logger';
import { isLocalFeedLocation } from '../feeds/load';
import type { TranscriptRef } from '../feeds/types';
import { notConfiguredError, type Stage, type StageContext, type StagePlan } from '../pipeline/stage';
import { metrics } from '../telemetry/metrics';
import { downloadEnclosure } from './ingest.stage';
import { readIngestArtifact } from './ingest-artifact';

/** Bump when transcript.json changes shape or meaning for the same inputs. */
const TRANSCRIPT_SCHEMA = 1;
export const TRANSCRIPT_FILE = 'transcript.json';

export interface TranscribeRequest {
  config: Config;
  engines: AsrEngine[];
  /** The episode audio; null when there is none here (only the `feed` engine can work then, unless `fetchAudio`). */
  audioPath: string | null;
  /** Fetches the audio when an engine needs it and `audioPath` is null (transcript first, or audio deleted): its path. */
  fetchAudio?: () => Promise<string>;
  transcripts: TranscriptRef[];
  episodeKey: string;
  signal: AbortSignal;
  log: Logger;
  onProgress?: (fraction: number, note?: string) => void;
}

export interface TranscribeInfo extends Record<string, unknown> {
  engine: string;
  model: string;
  status: Transcript['status'];
  duration_ms: number;
  /** ASR wall time / audio duration (as the podbrain_transcription_realtime_factor metric); null for publisher transcripts. */
  realtime_factor: number | null;
  /** Audio seconds per wall second (the inverse). */
  speed_x: number | null;
  speech_coverage: number | null;
  segments: number;
  /** `silero` (VAD), `energy` (no VAD model: silence gate only), `off`, or `none` (no audio used). */
  vad: 'silero' | 'energy' | 'off' | 'none';
  timings_ms: { preprocess: number; vad: number; asr: number };
  /** Engines that were tried first and could not run here, with why. */
  skipped_engines: { engine: string; reason: string }[];
  /** `local`: the ingest artifact's audio; `downloaded`: fetched for this run (not kept); `none`: no audio used. */
  audio_source: 'local' | 'downloaded' | 'none';
}

interface SpeechInfo {
  /** What the ASR engine should transcribe (null = everything). */
  forAsr: SpeechSpan[] | null;
  /** What the coverage guard measures against (null = not measured). */
  forGuard: SpeechSpan[] | null;
  vad: TranscribeInfo['vad'];
}

async function findSpeech(prepared: PreparedAudio, config: Config, signal: AbortSignal, log: Logger): Promise<SpeechInfo> {
  if (!config.asr.vad) return { forAsr: null, forGuard: null, vad: 'off' };
  const model = vadModelFile(config);
  const binary = vadBinaryPath(config);
  if (!model || !binary) {
    log.warn(
      { vad_model: model, vad_binary: binary },
      `VAD unavailable (${!model ? `no ggml-silero-*.bin in ${config.modelsDir} and WHISPER_VAD_MODEL unset or missing` : 'whisper-vad-speech-segments not built'}): transcribing every non-silent stretch, speech coverage not measured`,
    );
    return { forAsr: prepared.nonSilent, forGuard: null, vad: 'energy' };
  }
  const spans = await detectSpeech(prepared.wavPath, { binary, model, threads: config.asr.threads, nonSilent: prepared.nonSilent, signal });
  return { forAsr: spans, forGuard: spans, vad: 'silero' };
}

/**
 * Audio (or publisher transcript) → Transcript: preprocess once, VAD once, then the engines in
 * order until one produces a transcript; engines that cannot run here are skipped with a reason.
 * Shared by the stage and `podbrain transcribe`.
 */
export async function transcribeEpisode(req: TranscribeRequest): Promise<{ transcript: Transcript; info: TranscribeInfo }> {
  const { config, log, signal } = req;
  const skipped: { engine: string; reason: string }[] = [];
  /** Engines for audio that cannot run here at all (no model, no binary, no server configured). */
  const notHere: string[] = [];
  const timings = { preprocess: 0, vad: 0, asr: 0 };
  let prepared: PreparedAudio | null = null;
  let speech: SpeechInfo | null = null;
  const audio: { path: string | null; source: TranscribeInfo['audio_source'] } = { path: req.audioPath, source: 'none' };

  const prepare = async (): Promise<{ audio: PreparedAudio; speech: SpeechInfo }> => {
    if (!prepared) {
      if (!audio.path && req.fetchAudio) {
        req.onProgress?.(0, 'download');
        audio.path = await req.fetchAudio();
        audio.source = 'downloaded';
      } else if (audio.path) audio.source = 'local';
      if (!audio.path) throw new PodbrainError('audio_unavailable', 'the episode has no audio', { unavailable: true });
      req.onProgress?.(0, 'preprocess');
      prepared = await preprocessAudio(audio.path, { normalize: config.audio.normalize, signal });
      timings.preprocess = prepared.elapsedMs;
    }
    if (!speech) {
      const t = Date.now();
      req.onProgress?.(0, 'vad');
      speech = await findSpeech(prepared, config, signal, log);
      timings.vad = Date.now() - t;
    }
    return { audio: prepared, speech };
  };

  try {
    for (const engine of req.engines) {
      const reason = engine.unavailableReason({ transcripts: req.transcripts });
      if (reason) {
        skipped.push({ engine: engine.name, reason });
        if (needsAudio(engine)) notHere.push(engine.name);
        continue;
      }
      let result: AsrResult;
      const audioBased = needsAudio(engine);
      let started = Date.now();
      try {
        const ready = audioBased ? await prepare() : null;
        started = Date.now();
        req.onProgress?.(0, engine.name);
        result = await engine.transcribe({
          wavPath: ready?.audio.wavPath ?? null,
          durationMs: ready?.audio.durationMs ?? null,
          transcripts: req.transcripts,
          signal,
          onProgress: (f) => req.onProgress?.(f, engine.name),
          speech: ready?.speech.forAsr ?? null,
        });
      } catch (e) {
        if (!isUnavailableError(e)) throw e;
        log.warn({ engine: engine.name, err: errorMessage(e) }, `ASR engine ${engine.name} unavailable, trying the next one`);
        skipped.push({ engine: engine.name, reason: errorMessage(e) });
        continue;
      }
      timings.asr = Date.now() - started;
      return await finish(req, engine, result, { prepared, speech, skipped, timings, audioBased, audio });
    }
  } finally {
    await (prepared as PreparedAudio | null)?.cleanup();
  }
  const message = `no ASR engine can transcribe this episode (ASR_ENGINES=${config.asr.engines.join(',')}): ${skipped.map((s) => `${s.engine}: ${s.reason}`).join('; ') || 'none configured'}`;
  // Every engine that was tried could not do it, and an ASR engine that could is not set up here
  // (typically: the publisher transcript is unusable and the Whisper model is missing). That is
  // "not configured" (the episode is incomplete until it is), not a failure of this episode.
  if (notHere.length) throw notConfiguredError('asr_unavailable', message, { skipped, not_configured: notHere });
  throw new PodbrainError('asr_unavailable', message, { skipped });
}

async function finish(
  req: TranscribeRequest,
  engine: AsrEngine,
  result: AsrResult,
  s: {
    prepared: PreparedAudio | null;
    speech: SpeechInfo | null;
    skipped: TranscribeInfo['skipped_engines'];
    timings: TranscribeInfo['timings_ms'];
    audioBased: boolean;
    audio: { path: string | null; source: TranscribeInfo['audio_source'] };
  },
): Promise<{ transcript: Transcript; info: TranscribeInfo }> {
  const { config } = req;
  let durationMs = s.prepared?.durationMs ?? null;
  if (durationMs === null && s.audio.path) {
    durationMs = await probeAudio(s.audio.path).then((p) => p.audioDurationMs ?? p.durationMs).catch(() => null);
  }
  durationMs ??= result.segments.reduce((m, seg) => Math.max(m, seg.end_ms), 0);

  const guardSpeech = s.audioBased ? (s.speech?.forGuard ?? null) : null;
  const assessment = assessTranscript({
    segments: result.segments,
    speech: guardSpeech,
    minCoverage: config.asr.minCoverage,
    maxRepetition: config.asr.maxRepetition,
    language: result.language,
  });
  const transcript: Transcript = {
    schema_version: 1,
    episode_key: req.episodeKey,
    engine: result.engine,
    model: result.model,
    language: result.language,
    duration_ms: durationMs,
    segments: result.segments,
    speech_coverage: assessment.speech_coverage,
    status: assessment.status,
    quality: { reasons: assessment.reasons, repetition_ratio: assessment.repetition_ratio, text_check: assessment.text_check },
    ...('source' in result && result.source ? { source: result.source as TranscriptSource } : {}),
  };
  const rtf = s.audioBased && durationMs > 0 ? s.timings.asr / durationMs : null;
  if (rtf !== null) metrics.transcriptionRealtimeFactor.observe({ engine: engine.name }, rtf);
  return {
    transcript,
    info: {
      engine: result.engine,
      model: result.model,
      status: transcript.status,
      duration_ms: durationMs,
      realtime_factor: rtf === null ? null : Math.round(rtf * 10_000) / 10_000,
      speed_x: rtf ? Math.round((1 / rtf) * 100) / 100 : null,
      speech_coverage: transcript.speech_coverage,
      segments: transcript.segments.length,
      vad: s.audioBased ? (s.speech?.vad ?? 'off') : 'none',
      timings_ms: s.timings,
      skipped_engines: s.skipped,
      audio_source: s.audio.source,
    },
  };
}

export interface TranscribeStageDeps {
  /** Engine factory (tests); default: createAsrEngines in ASR_ENGINES order. */
  engines?: (config: Config, opts: { allowLocalFiles: boolean; logger?: Logger }) => AsrEngine[];
}

/** Transcribe's recipe with this engine: its configured fingerprint parts (no episode's transcript URLs), preprocessing. */
function transcribeRecipe(config: Config, engine: AsrEngine): Record<string, unknown> {
  return {
    schema: TRANSCRIPT_SCHEMA,
    ...engine.fingerprintParts(),
    ...(needsAudio(engine) ? { preprocess: preprocessParts(config.audio.normalize), min_coverage: config.asr.minCoverage } : {}),
  };
}

export function createTranscribeStage(deps: TranscribeStageDeps = {}): Stage {
  // The engines log through the stage's logger (an engine's own default logger writes JSON to stdout).
  const enginesFor = (config: Config, feedUrl: string, logger: Logger) =>
    (deps.engines ?? createAsrEngines)(config, { allowLocalFiles: isLocalFeedLocation(feedUrl), logger });

  return {
    name: 'transcribe',
    needs: ['ingest'],
    plan: ({ config, episode }): StagePlan => {
      const reasons: string[] = [];
      for (const engine of enginesFor(config, episode.feedUrl, silentLogger)) {
        const why = engine.unavailableReason({ transcripts: episode.transcripts });
        if (why) {
          reasons.push(`${engine.name}: ${why}`);
          continue;
        }
        return {
          configured: true,
          parts: { ...transcribeRecipe(config, engine), ...engine.fingerprintParts({ transcripts: episode.transcripts }) },
          recipe: transcribeRecipe(config, engine),
        };
      }
      return { configured: false, reason: `no ASR engine available (ASR_ENGINES=${config.asr.engines.join(',')}): ${reasons.join('; ')}` };
    },
    // Which engine an episode gets depends on the episode (a publisher transcript or not): each is a current recipe.
    recipes: (config) => enginesFor(config, '', silentLogger).map((engine) => transcribeRecipe(config, engine)),
    run: async (ctx: StageContext, out: StagingDir) => {
      const ingest = await readIngestArtifact(ctx.inputs.ingest);
      // No audio here (transcript first, or deleted by retention): an engine that needs it gets
      // the enclosure downloaded for this run, into DATA_DIR/tmp, and removed afterwards.
      let downloadDir: string | null = null;
      const fetchAudio = async (): Promise<string> => {
        await fs.mkdir(ctx.store.tmpDir, { recursive: true });
        downloadDir = await fs.mkdtemp(path.join(ctx.store.tmpDir, 'transcribe-audio-'));
        ctx.log.info({ enclosure: ctx.episode.enclosure?.url, reason: ingest.audio === 'stream' ? 'not downloaded at ingest' : 'deleted since ingest' }, 'downloading the audio for ASR');
        return (await downloadEnclosure({ ...ctx, progress: (f) => ctx.progress(f, 'download') }, downloadDir)).path;
      };
      let result: Awaited<ReturnType<typeof transcribeEpisode>>;
      try {
        result = await transcribeEpisode({
          config: ctx.config,
          engines: enginesFor(ctx.config, ctx.episode.feedUrl, ctx.log),
          audioPath: ingest.audioPath,
          fetchAudio: ingest.audioPath ? undefined : fetchAudio,
          transcripts: ctx.episode.transcripts,
          episodeKey: ctx.episode.episodeKey,
          signal: ctx.signal,
          log: ctx.log,
          onProgress: (f, note) => ctx.progress(f, note),
        });
      } finally {
        if (downloadDir) await fs.rm(downloadDir, { recursive: true, force: true });
      }
      const { transcript, info } = result;
      await out.writeJson(TRANSCRIPT_FILE, transcript);
      ctx.log.info({ engine: info.engine, model: info.model, status: info.status, duration_ms: info.duration_ms, realtime_factor: info.realtime_factor }, 'transcribed');
      return { info };
    },
  };
}
