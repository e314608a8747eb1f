import path from 'node:path';
import type { Command } from 'commander';
import { createAsrEngines } from '../../asr/engines';
import type { Transcript } from '../../asr/types';
import { ASR_ENGINES } from '../../config/config';
import { PodbrainError } from '../../core/errors';
import { createLogger } from '../../core/logger';
import { transcribeEpisode } from '../../stages/transcribe.stage';
import { configFrom } from '../context';

function clock(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const f = Math.floor(ms % 1000);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(f).padStart(3, '0')}`;
}

function transcriptText(t: Transcript): string {
  return t.segments.map((s) => `[${clock(s.start_ms)} --> ${clock(s.end_ms)}]  ${s.text}\n`).join('');
}

interface TranscribeFlags {
  engine?: string;
  json?: boolean;
  model?: string;
  language?: string;
  threads?: string;
}

export function registerTranscribeCommand(program: Command): void {
  program
    .command('transcribe <file>')
    .description('Transcribe one audio or video file (ffmpeg → VAD → ASR engine) and print the transcript')
    .option('--engine <name>', `use only this engine (${ASR_ENGINES.join('|')}); default: ASR_ENGINES in order`)
    .option('--json', 'print transcript.json (segments with ms timestamps, engine, coverage, status)')
    .option('--model <name|file>', 'whisper model: a name in MODELS_DIR (ggml-<name>.bin) or a model file')
    .option('--language <code>', 'spoken language (WHISPER_LANGUAGE; auto to detect)')
    .option('--threads <n>', 'whisper threads (WHISPER_THREADS)')
    .action(async (file: string, opts: TranscribeFlags, cmd: Command) => {
      if (opts.engine && !(ASR_ENGINES as readonly string[]).includes(opts.engine)) {
        throw new PodbrainError('bad_engine', `unknown engine ${opts.engine}: expected one of ${ASR_ENGINES.join(', ')}`);
      }
      const isFile = opts.model && (opts.model.includes('/') || opts.model.endsWith('.bin'));
      const config = configFrom(cmd, {
        ASR_ENGINES: opts.engine,
        WHISPER_MODEL: isFile ? undefined : opts.model,
        WHISPER_MODEL_PATH: isFile ? path.resolve(opts.model as string) : undefined,
        WHISPER_LANGUAGE: opts.language,
        WHISPER_THREADS: opts.threads,
      });
      // Logs go to stderr so stdout stays the transcript.
      const log = createLogger({ service: 'cli', level: config.logLevel === 'info' ? 'warn' : config.logLevel, destination: process.stderr });
      const abort = new AbortController();
      const onSignal = () => abort.abort(new PodbrainError('aborted', 'interrupted'));
      process.once('SIGINT', onSignal);
      try {
        const { transcript, info } = await transcribeEpisode({
          config,
          engines: createAsrEngines(config, { allowLocalFiles: true, logger: log }),
          audioPath: path.resolve(file),
          transcripts: [],
          episodeKey: `file:${path.basename(file)}`,
          signal: abort.signal,
          log,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(transcript, null, 2)}\n` : transcriptText(transcript));
        const rtf = info.speed_x ? `, ${info.speed_x}× real time` : '';
        process.stderr.write(`${info.engine} (${info.model}): ${info.segments} segment(s), ${(info.duration_ms / 1000).toFixed(1)} s of audio${rtf}, ${info.status}\n`);
        for (const r of transcript.quality.reasons) process.stderr.write(`  degraded: ${r}\n`);
      } finally {
        process.off('SIGINT', onSignal);
      }
    });
}
