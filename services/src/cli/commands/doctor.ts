import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import type { Config } from '../../config/config';
import { configFrom } from '../context';

const run = promisify(execFile);

type Level = 'ok' | 'warn' | 'missing';
export interface DoctorCheck {
  name: string;
  level: Level;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
  /** Needed by `podbrain run` (atomic mode); the others are needed by the platform only. */
  requiredForCli: boolean;
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

export function whisperCliCandidates(): string[] {
  // An explicit WHISPER_CLI is the only candidate: a wrong path is a misconfiguration to report.
  if (process.env.WHISPER_CLI) return [process.env.WHISPER_CLI];
  const services = path.resolve(__dirname, '../../..');
  return [path.join(services, 'native/whisper/build/bin/whisper-cli'), '/usr/local/bin/whisper-cli'];
}

export async function runDoctor(config: Config): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);

  const ffmpeg = await version('ffmpeg', ['-hide_banner', '-version']);
  const ffprobe = await version('ffprobe', ['-hide_banner', '-version']);
  add({
    name: 'ffmpeg',
    level: ffmpeg && ffprobe ? 'ok' : 'missing',
    detail: ffmpeg ?? 'ffmpeg/ffprobe not on PATH',
    fix: 'apt-get install ffmpeg (or your OS package manager)',
    requiredForCli: true,
  });

  const whisper = whisperCliCandidates().find((p) => existsSync(p));
  add({
    name: 'whisper.cpp',
    level: whisper ? 'ok' : 'missing',
    detail: whisper ? `whisper-cli at ${whisper}` : process.env.WHISPER_CLI ? `WHISPER_CLI=${process.env.WHISPER_CLI} does not exist` : 'whisper-cli not built',
    fix: 'npm run build:whisper -w services (WHISPER_CUDA=1 for an NVIDIA build), or set WHISPER_CLI',
    requiredForCli: config.asr.engines.includes('whisper-cpp'),
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
    level: haveModel ? 'ok' : 'missing',
    detail: explicit
      ? `WHISPER_MODEL_PATH=${explicit}${haveModel ? '' : ' (missing)'}`
      : `${config.modelsDir}: ${models.length ? models.join(', ') : 'no ggml models'}; wanted ${wanted}`,
    fix: `download ${wanted} into ${config.modelsDir} (deploy/scripts/fetch-model.sh ${config.asr.whisperModel}), or set ASR_ENGINES=feed,openai`,
    requiredForCli: config.asr.engines.includes('whisper-cpp'),
  });

  const smi = await version('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader']);
  add({
    name: 'gpu',
    level: smi ? 'ok' : 'warn',
    detail: smi ?? 'no NVIDIA GPU found (nvidia-smi absent): whisper.cpp runs on CPU',
    fix: 'install the NVIDIA driver + container toolkit and use docker-compose.gpu.yml',
    requiredForCli: false,
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
      requiredForCli: true,
    });
  } catch (e) {
    add({ name: 'data dir', level: 'missing', detail: `${config.dataDir}: ${(e as Error).message}`, fix: 'set DATA_DIR to a writable directory', requiredForCli: true });
  }

  const pg = await tcpReachable(config.databaseUrl, 5432);
  add({
    name: 'postgres',
    level: pg ? 'warn' : 'ok',
    detail: pg ?? `reachable (${new URL(config.databaseUrl).host})`,
    fix: 'start PostgreSQL and set DATABASE_URL (needed by the platform roles, not by `podbrain run`)',
    requiredForCli: false,
  });
  const redis = await tcpReachable(config.redisUrl, 6379);
  add({
    name: 'redis',
    level: redis ? 'warn' : 'ok',
    detail: redis ?? `reachable (${new URL(config.redisUrl).host})`,
    fix: 'start Redis and set REDIS_URL (needed by the platform roles, not by `podbrain run`)',
    requiredForCli: false,
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
      const blocking = checks.filter((c) => c.level === 'missing' && c.requiredForCli);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ok: blocking.length === 0, checks }, null, 2)}\n`);
      } else {
        const mark = { ok: '✓', warn: '!', missing: '✗' } as const;
        for (const c of checks) {
          process.stdout.write(`${mark[c.level]} ${c.name.padEnd(12)} ${c.detail}\n`);
          if (c.level !== 'ok' && c.fix) process.stdout.write(`  ${' '.repeat(12)} fix: ${c.fix}\n`);
        }
        process.stdout.write(blocking.length ? `\n${blocking.length} problem(s) block \`podbrain run\`.\n` : '\nReady for `podbrain run`.\n');
      }
      process.exitCode = blocking.length ? 1 : 0;
    });
}
