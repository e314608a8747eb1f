import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { createAsrEngines, needsAudio } from '../../asr/engines';
import type { Config } from '../../config/config';
import { silentLogger } from '../../core/logger';
import { resolveEmbeddings } from '../../index/embeddings';
import { configFrom } from '../context';

const run = promisify(execFile);

type Level = 'ok' | 'warn' | 'missing';
/**
 * What a missing check stops, in the words `podbrain run` reports it:
 *  - `run`: `podbrain run` cannot work at all;
 *  - `transcription`: episodes without a usable publisher transcript cannot be transcribed —
 *    `run` still processes the others and reports these `incomplete` ("not configured: transcribe");
 *  - null: only the platform roles (or performance) need it.
 */
export type Blocks = 'run' | 'transcription' | null;
export interface DoctorCheck {
  name: string;
  level: Level;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
  blocks: Blocks;
}

async function version(cmd: string, args: string[]): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 5000 });
    return (stdout || stderr).split('\n')[0].trim();
  } catch {
    return null;
  }
}

function tcpReachable(url: string, defaultPort: number, timeoutMs = 1500): Promise<string | null> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname || '127.0.0.1';
    port = Number(u.port || defaultPort);
  } catch {
    return Promise.resolve(`not a URL: ${url}`);
  }
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (err: string | null) => {
      sock.destroy();
      resolve(err);
    };
    sock.setTimeout(timeoutMs, () => done(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    sock.once('connect', () => done(null));
    sock.once('error', (e) => done(`${host}:${port}: ${e.message}`));
  });
}

function whisperCliCandidates(): string[] {
  // An explicit WHISPER_CLI is the only candidate: a wrong path is a misconfiguration to report.
  if (process.env.WHISPER_CLI) return [process.env.WHISPER_CLI];
  const services = path.resolve(__dirname, '../../..');
  return [path.join(services, 'native/whisper/build/bin/whisper-cli'), '/usr/local/bin/whisper-cli'];
}

async function runDoctor(config: Config): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);

  const ffmpeg = await version('ffmpeg', ['-hide_banner', '-version']);
  const ffprobe = await version('ffprobe', ['-hide_banner', '-version']);
  add({
    name: 'ffmpeg',
    level: ffmpeg && ffprobe ? 'ok' : 'missing',
    detail: ffmpeg ?? 'ffmpeg/ffprobe not on PATH',
    fix: 'apt-get install ffmpeg (or your OS package manager)',
    // Audio is decoded by ffmpeg for every ASR engine; publisher transcripts need none.
    blocks: 'transcription',
  });

  // whisper.cpp and its model matter when whisper-cpp is an ASR engine and no other engine that
  // transcribes audio (openai) is set up to take over.
  const usesWhisper = config.asr.engines.includes('whisper-cpp');
  const otherAudioEngine = createAsrEngines(config, { logger: silentLogger }).find((e) => e.name !== 'whisper-cpp' && needsAudio(e) && !e.unavailableReason({ transcripts: [] }));
  const whisperBlocks: Blocks = usesWhisper && !otherAudioEngine ? 'transcription' : null;
  const whisperLevel = (ok: boolean): Level => (ok ? 'ok' : whisperBlocks ? 'missing' : 'warn');
  const instead = !usesWhisper ? ` (not used: ASR_ENGINES=${config.asr.engines.join(',')})` : otherAudioEngine ? ` (${otherAudioEngine.name} transcribes instead)` : '';

  const whisper = whisperCliCandidates().find((p) => existsSync(p));
  add({
    name: 'whisper.cpp',
    level: whisperLevel(Boolean(whisper)),
    detail: (whisper ? `whisper-cli at ${whisper}` : process.env.WHISPER_CLI ? `WHISPER_CLI=${process.env.WHISPER_CLI} does not exist` : 'whisper-cli not built') + (whisper ? '' : instead),
    fix: 'npm run build:whisper -w services (WHISPER_CUDA=1 for an NVIDIA build), or set WHISPER_CLI',
    blocks: whisper ? null : whisperBlocks,
  });

  let models: string[] = [];
  try {
    models = readdirSync(config.modelsDir).filter((f) => /^ggml-.*\.bin$/.test(f));
  } catch {
    /* missing dir */
  }
  const wanted = `ggml-${config.asr.whisperModel}.bin`;
  const explicit = process.env.WHISPER_MODEL_PATH;
  const haveModel = explicit ? existsSync(explicit) : models.includes(wanted);
  add({
    name: 'models',
    level: whisperLevel(haveModel),
    detail:
      (explicit
        ? `WHISPER_MODEL_PATH=${explicit}${haveModel ? '' : ' (missing)'}`
        : `${config.modelsDir}: ${models.length ? models.join(', ') : 'no ggml models'}; wanted ${wanted}`) + (haveModel ? '' : instead),
    fix: `download ${wanted} into ${config.modelsDir} (deploy/scripts/fetch-model.sh ${config.asr.whisperModel}), or set ASR_ENGINES=feed,openai`,
    blocks: haveModel ? null : whisperBlocks,
  });

  // Search works without the local model (hash), but is not semantic: say so, and how to fix it.
  const emb = resolveEmbeddings(config);
  add({
    name: 'embeddings',
    level: emb.unavailable ? 'missing' : emb.note ? 'warn' : 'ok',
    detail:
      emb.unavailable ??
      emb.note ??
      `${emb.space.provider} ${emb.space.model} (${emb.space.dim} dimensions)${emb.onnx ? ` from ${emb.onnx.dir}` : emb.provider === 'hash' ? ': keyword hashing, not semantic' : ''}`,
    fix: `deploy/scripts/fetch-embeddings-model.sh (MODELS_DIR=${config.modelsDir}), or EMBEDDINGS_MODEL_PATH=<dir with model.onnx + tokenizer.json>`,
    blocks: null,
  });

  const smi = await version('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader']);
  add({
    name: 'gpu',
    level: smi ? 'ok' : 'warn',
    detail: smi ?? 'no NVIDIA GPU found (nvidia-smi absent): whisper.cpp runs on CPU',
    fix: 'install the NVIDIA driver + container toolkit and use docker-compose.gpu.yml',
    blocks: null,
  });

  try {
    mkdirSync(config.dataDir, { recursive: true });
    accessSync(config.dataDir, constants.W_OK);
    const fsStat = statfsSync(config.dataDir);
    const freeGb = (fsStat.bavail * fsStat.bsize) / 1024 ** 3;
    add({
      name: 'data dir',
      level: freeGb < 5 ? 'warn' : 'ok',
      detail: `${config.dataDir} writable, ${freeGb.toFixed(1)} GiB free`,
      fix: 'free some disk space or point DATA_DIR elsewhere',
      blocks: 'run',
    });
  } catch (e) {
    add({ name: 'data dir', level: 'missing', detail: `${config.dataDir}: ${(e as Error).message}`, fix: 'set DATA_DIR to a writable directory', blocks: 'run' });
  }

  const pg = await tcpReachable(config.databaseUrl, 5432);
  add({
    name: 'postgres',
    level: pg ? 'warn' : 'ok',
    detail: pg ?? `reachable (${new URL(config.databaseUrl).host})`,
    fix: 'start PostgreSQL and set DATABASE_URL (needed by the platform roles, not by `podbrain run`)',
    blocks: null,
  });
  const redis = await tcpReachable(config.redisUrl, 6379);
  add({
    name: 'redis',
    level: redis ? 'warn' : 'ok',
    detail: redis ?? `reachable (${new URL(config.redisUrl).host})`,
    fix: 'start Redis and set REDIS_URL (needed by the platform roles, not by `podbrain run`)',
    blocks: null,
  });
  return checks;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check ffmpeg, whisper build, models, GPU, data dir, Postgres and Redis; say how to fix what is missing')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const checks = await runDoctor(configFrom(cmd));
      const verdict = doctorVerdict(checks);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ok: verdict.exitCode === 0, run_ok: verdict.run.length === 0, transcription_ok: verdict.transcription.length === 0, checks }, null, 2)}\n`);
      } else {
        const mark = { ok: '✓', warn: '!', missing: '✗' } as const;
        for (const c of checks) {
          process.stdout.write(`${mark[c.level]} ${c.name.padEnd(12)} ${c.detail}\n`);
          if (c.level !== 'ok' && c.fix) process.stdout.write(`  ${' '.repeat(12)} fix: ${c.fix}\n`);
        }
        process.stdout.write(`\n${verdict.text}\n`);
      }
      process.exitCode = verdict.exitCode;
    });
}

/**
 * The doctor's conclusion, worded as `podbrain run` behaves: exit 0 when nothing is missing,
 * 1 when something is (what blocks `run` itself first, then what blocks transcription).
 */
function doctorVerdict(checks: readonly DoctorCheck[]): { run: DoctorCheck[]; transcription: DoctorCheck[]; exitCode: number; text: string } {
  const missing = (b: Blocks) => checks.filter((c) => c.level === 'missing' && c.blocks === b);
  const run = missing('run');
  const transcription = missing('transcription');
  const names = (cs: DoctorCheck[]) => cs.map((c) => c.name).join(', ');
  const lines: string[] = [];
  if (run.length) lines.push(`${run.length} problem(s) block \`podbrain run\` (${names(run)}).`);
  if (transcription.length) {
    lines.push(
      `${transcription.length} problem(s) block transcription of episodes without a publisher transcript (${names(transcription)}):`,
      `\`podbrain run\` still processes episodes with one, and reports the others \`incomplete\` ("not configured: transcribe").`,
    );
  }
  if (!lines.length) lines.push('Ready for `podbrain run`.');
  return { run, transcription, exitCode: run.length || transcription.length ? 1 : 0, text: lines.join('\n') };
}
