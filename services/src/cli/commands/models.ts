import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { FAKE_MODEL_SHAPES, writeFakeWhisperModel, type FakeModelShape } from '../../asr/whisper/fake-model';
import { PodbrainError } from '../../core/errors';
import { configFrom } from '../context';

export interface ModelEntry {
  file: string;
  path: string;
  bytes: number;
  kind: 'whisper' | 'vad' | 'other';
  /** The model WHISPER_MODEL selects. */
  selected: boolean;
}

function listModels(dir: string, whisperModel: string): ModelEntry[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .filter((f) => !f.startsWith('.') && statSync(path.join(dir, f)).isFile())
    .sort()
    .map((file) => ({
      file,
      path: path.join(dir, file),
      bytes: statSync(path.join(dir, file)).size,
      kind: /^ggml-silero.*\.bin$/.test(file) ? 'vad' : /^ggml-.*\.bin$/.test(file) ? 'whisper' : 'other',
      selected: file === `ggml-${whisperModel}.bin`,
    }));
}

export function registerModelsCommands(program: Command): void {
  const models = program.command('models').description('List model files in MODELS_DIR; write fake whisper models for tests');

  models
    .command('list')
    .description('Show the model files in MODELS_DIR (whisper ggml models, Silero VAD, others)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const entries = listModels(config.modelsDir, config.asr.whisperModel);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ models_dir: config.modelsDir, whisper_model: config.asr.whisperModel, models: entries }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`MODELS_DIR ${config.modelsDir}\n`);
      if (!entries.length) process.stdout.write('  (no model files)\n');
      for (const e of entries) {
        process.stdout.write(`  ${e.selected ? '*' : ' '} ${e.file.padEnd(36)} ${e.kind.padEnd(8)} ${(e.bytes / 1024 ** 2).toFixed(1).padStart(9)} MiB\n`);
      }
      if (!entries.some((e) => e.selected)) {
        process.stdout.write(`WHISPER_MODEL=${config.asr.whisperModel}: ggml-${config.asr.whisperModel}.bin is not there\n`);
      }
    });

  models
    .command('fake')
    .description('Write a structurally valid ggml whisper model with random weights (loads and runs in whisper-cli; decodes garbage)')
    .option('--shape <shape>', `model shape (${FAKE_MODEL_SHAPES.join('|')})`, 'tiny')
    .requiredOption('--out <dir>', 'directory to write ggml-<shape>.bin into')
    .option('--name <name>', 'file name ggml-<name>.bin (default: the shape)')
    .option('--seed <n>', 'random seed', '1234')
    .action(async (opts: { shape: string; out: string; name?: string; seed: string }) => {
      if (!(FAKE_MODEL_SHAPES as readonly string[]).includes(opts.shape)) {
        throw new PodbrainError('bad_shape', `unknown shape ${opts.shape}: expected one of ${FAKE_MODEL_SHAPES.join(', ')}`);
      }
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new PodbrainError('bad_seed', `--seed must be an integer, got ${opts.seed}`);
      const res = await writeFakeWhisperModel({ shape: opts.shape as FakeModelShape, outDir: path.resolve(opts.out), name: opts.name, seed });
      process.stdout.write(`${res.path}\n`);
    });
}
