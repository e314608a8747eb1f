import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/config';
import { PodbrainError } from '../../core/errors';

/** services/ (this file is src/asr/whisper/binaries.ts or dist/asr/whisper/binaries.js). */
const SERVICES_DIR = path.resolve(__dirname, '../../..');
export const WHISPER_BUILD_BIN = path.join(SERVICES_DIR, 'native/whisper/build/bin');
export const BUILD_HINT = 'run `npm run build:whisper -w services` (or set WHISPER_CLI)';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** whisper-cli: WHISPER_CLI when set (no silent fallback from a wrong path), else our build, else one on the system. */
export function whisperCliPath(config: Pick<Config, 'asr'>): string | null {
  if (config.asr.whisperCli) return executable(config.asr.whisperCli) ? config.asr.whisperCli : null;
  return [path.join(WHISPER_BUILD_BIN, 'whisper-cli'), '/usr/local/bin/whisper-cli'].find(executable) ?? null;
}

/** whisper.cpp's VAD example binary, built beside whisper-cli by build-whisper.mjs. */
export function vadBinaryPath(config: Pick<Config, 'asr'>): string | null {
  const dirs = [config.asr.whisperCli ? path.dirname(config.asr.whisperCli) : '', WHISPER_BUILD_BIN, '/usr/local/bin'].filter(Boolean);
  for (const dir of dirs) {
    for (const name of ['whisper-vad-speech-segments', 'vad-speech-segments']) {
      const file = path.join(dir, name);
      if (executable(file)) return file;
    }
  }
  return null;
}

export function requireWhisperCli(config: Pick<Config, 'asr'>): string {
  const cli = whisperCliPath(config);
  if (!cli) {
    const where = config.asr.whisperCli || path.join(WHISPER_BUILD_BIN, 'whisper-cli');
    throw new PodbrainError('whisper_unavailable', `whisper-cli not found at ${where}: ${BUILD_HINT}`, { unavailable: true });
  }
  return cli;
}

/** The whisper model file the config names: WHISPER_MODEL_PATH, else MODELS_DIR/ggml-<WHISPER_MODEL>.bin. */
export function whisperModelFile(config: Pick<Config, 'asr' | 'modelsDir'>): string {
  return config.asr.whisperModelPath ? path.resolve(config.asr.whisperModelPath) : path.join(config.modelsDir, `ggml-${config.asr.whisperModel}.bin`);
}

/** Silero VAD model: WHISPER_VAD_MODEL, else the newest-looking ggml-silero-*.bin in MODELS_DIR; null when none. */
export function vadModelFile(config: Pick<Config, 'asr' | 'modelsDir'>): string | null {
  if (config.asr.vadModel) return existsSync(config.asr.vadModel) ? path.resolve(config.asr.vadModel) : null;
  try {
    const found = readdirSync(config.modelsDir)
      .filter((f) => /^ggml-silero.*\.bin$/.test(f))
      .sort()
      .reverse();
    return found.length ? path.join(config.modelsDir, found[0]) : null;
  } catch {
    return null;
  }
}
