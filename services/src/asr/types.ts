import type { TextCheck } from './quality';
/** Transcript artifact (ARCHITECTURE §5), written as transcript.json by the transcribe stage. */
export interface TranscriptSegment {
  start_ms: number;
  end_ms: number;
  text: string;
  speaker?: string;
}

export interface Transcript {
  schema_version: 1;
  episode_key: string;
  /** 'whisper-cpp' | 'openai' | 'feed' */
  engine: string;
  model: string;
  language: string | null;
  duration_ms: number;
  segments: TranscriptSegment[];
  /** Share of detected speech covered by segments (0..1), null when not measured (e.g. publisher transcripts). */
  speech_coverage: number | null;
  status: 'valid' | 'degraded';
  /** Why degraded: low coverage, repetition loop, garbage text ...; text_check: how the garbage check judged the text. */
  quality: { reasons: string[]; repetition_ratio?: number; text_check?: TextCheck };
  /** Publisher transcripts: which file, its format, and whether its times are the file's cues or estimated. */
  source?: TranscriptSource;
}

export interface TranscriptSource {
  url: string;
  format: string;
  /** 'cues': times come from the file; 'estimated': the file has none, they were spread by text length. */
  timing: 'cues' | 'estimated';
  warnings: string[];
}

/** What an ASR engine returns; the transcribe stage adds identity, coverage and quality. */
export interface AsrResult {
  engine: string;
  model: string;
  language: string | null;
  segments: TranscriptSegment[];
}

export interface AsrInput {
  /** 16 kHz mono PCM WAV made by the preprocess step (null for engines that don't need audio, e.g. `feed`). */
  wavPath: string | null;
  /** Duration of the audio (ms) when known. */
  durationMs: number | null;
  /** Publisher transcripts of the episode (for the `feed` engine). */
  transcripts: import('../feeds/types').TranscriptRef[];
  signal: AbortSignal;
  onProgress?: (fraction: number) => void;
  /**
   * Stretches worth transcribing, from the VAD (or the energy gate's non-silent stretches when
   * no VAD model is available): [] = nothing to transcribe; null or absent = the whole file.
   */
  speech?: { start_ms: number; end_ms: number }[] | null;
}

/** One ASR engine (ARCHITECTURE §6). `plan` says whether it can run here and what changes its output. */
export interface AsrEngine {
  readonly name: 'whisper-cpp' | 'openai' | 'feed';
  /** null = usable for this input; otherwise why not (model missing, no transcript tag, ...). */
  unavailableReason(input: Pick<AsrInput, 'transcripts'>): string | null;
  /**
   * Everything that changes the output (model, language, beam size, ...): part of the stage
   * fingerprint. `input`: the episode's published transcripts, for the engine that reads them.
   */
  fingerprintParts(input?: Pick<AsrInput, 'transcripts'>): Record<string, unknown>;
  transcribe(input: AsrInput): Promise<AsrResult>;
}
