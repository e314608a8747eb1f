import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import { createFeedTranscriptEngine } from './feed/engine';
import { createOpenAiAsrEngine } from './openai/engine';
import type { AsrEngine } from './types';
import { createWhisperCppEngine } from './whisper/engine';

export interface AsrEngineOptions {
  /** The episode comes from a feed on the local disk: its transcripts may be local files. */
  allowLocalFiles?: boolean;
  logger?: Logger;
}

/** The configured ASR engines in ASR_ENGINES order (the transcribe stage tries them in turn). */
export function createAsrEngines(config: Config, opts: AsrEngineOptions = {}): AsrEngine[] {
  return config.asr.engines.map((name) => {
    switch (name) {
      case 'feed':
        return createFeedTranscriptEngine(config, { allowLocalFiles: opts.allowLocalFiles, logger: opts.logger });
      case 'openai':
        return createOpenAiAsrEngine(config, { logger: opts.logger });
      case 'whisper-cpp':
        return createWhisperCppEngine(config, { logger: opts.logger });
    }
  });
}

/** Engines that need the audio (everything except publisher transcripts). */
export const needsAudio = (engine: Pick<AsrEngine, 'name'>): boolean => engine.name !== 'feed';

/** An engine error that means "cannot run here" (missing model, no transcript tag …): try the next engine. */
export function isUnavailableError(e: unknown): boolean {
  const err = e as { name?: string; code?: string; details?: Record<string, unknown> };
  if (err?.name !== 'PodbrainError') return false;
  return err.details?.unavailable === true || err.code === 'transcript_unavailable' || /_unavailable$/.test(err.code ?? '');
}
