import { access, constants, open, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { whisperCliPath, whisperModelFile, WHISPER_BUILD_BIN } from '../../asr/whisper/binaries';
import { loadConfig, type Config } from '../../config/config';
import { errorMessage } from '../../core/errors';
import { execProbe, gpuCheck } from '../gpu';
import { metrics } from '../metrics';
import { formatBytes, type CheckSpec, type HealthCheck } from './model';

/**
 * Ready-made health checks and the check list of each role (blueprint E.6.2). Every setting
 * they need comes from the typed config (config.ts); what they probe (Postgres, Redis, the
 * queue, the index) is handed in by the role starter as functions.
 */

/**
 * Postgres: the caller's ping (e.g. `() => database.ping()`), which throws when Postgres is
 * unreachable; slow → degraded.
 */
export function postgresCheck(ping: () => Promise<unknown>, slowMs = 1000): HealthCheck {
  return async () => {
    const t = performance.now();
    await ping();
    const ms = performance.now() - t;
    return ms > slowMs ? { status: 'degraded', detail: `slow: ${Math.round(ms)} ms` } : { status: 'healthy' };
  };
}

/** Redis: PING must answer PONG. */
function redisCheck(ping: () => Promise<string>): HealthCheck {
  return async () => {
    const answer = await ping();
    return answer === 'PONG' ? { status: 'healthy' } : { status: 'unhealthy', detail: `unexpected PING answer: ${answer}` };
  };
}

/** Anything that must answer (BullMQ `queue.getJobCounts()`, a FAISS stat…). */
function probeCheck(probe: (signal: AbortSignal) => Promise<unknown>, detail?: string): HealthCheck {
  return async (signal) => {
    await probe(signal);
    return detail ? { status: 'healthy', detail } : { status: 'healthy' };
  };
}

export interface DiskThresholds {
  /** Below this many free bytes → degraded. Default 5 GiB. */
  degradedBelowBytes: number;
  /** Below this many free bytes → unhealthy. Default 512 MiB. */
  unhealthyBelowBytes: number;
}

export const DEFAULT_DISK_THRESHOLDS: DiskThresholds = { degradedBelowBytes: 5 * 2 ** 30, unhealthyBelowBytes: 512 * 2 ** 20 };

/** Free and total bytes of the filesystem holding `dir`. */
export type DiskSpaceProbe = (dir: string) => Promise<{ freeBytes: number; totalBytes: number }>;

/** statfs: the bytes an unprivileged process may still write (bavail), and the size. */
const statfsSpace: DiskSpaceProbe = async (dir) => {
  const s = await statfs(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
};

/**
 * Free space on the filesystem holding `dir`; also sets podbrain_disk_*_bytes{path}. `space`
 * is injectable (tests simulate a full disk; the scheduler's out-of-space retry uses this check).
 */
export function diskCheck(dir: string, thresholds: DiskThresholds = DEFAULT_DISK_THRESHOLDS, space: DiskSpaceProbe = statfsSpace): HealthCheck {
  return async () => {
    const { freeBytes: free, totalBytes: total } = await space(dir);
    metrics.diskFreeBytes.set({ path: dir }, free);
    metrics.diskTotalBytes.set({ path: dir }, total);
    const detail = `${formatBytes(free)} free of ${formatBytes(total)}`;
    if (free < thresholds.unhealthyBelowBytes) return { status: 'unhealthy', detail };
    if (free < thresholds.degradedBelowBytes) return { status: 'degraded', detail };
    return { status: 'healthy', detail };
  };
}

/** System memory: less than `minFreeRatio` available → degraded (worker-ml RAM pressure). */
function memoryCheck(minFreeRatio = 0.1, read = () => ({ free: os.freemem(), total: os.totalmem() })): HealthCheck {
  return async () => {
    const { free, total } = read();
    const detail = `${formatBytes(free)} free of ${formatBytes(total)}`;
    return free / total < minFreeRatio ? { status: 'degraded', detail } : { status: 'healthy', detail };
  };
}

/** ffmpeg at `bin` (FFMPEG_PATH, else the one on PATH) answers `-version`. */
function ffmpegCheck(bin = 'ffmpeg'): HealthCheck {
  return async (signal) => {
    const out = await execProbe(bin, ['-version'], signal).catch((e: NodeJS.ErrnoException) => {
      throw new Error(e.code === 'ENOENT' ? `${bin} not found` : errorMessage(e));
    });
    return { status: 'healthy', detail: out.split('\n')[0]?.trim() };
  };
}

/** The whisper.cpp CLI binary exists and is executable. */
function whisperBinaryCheck(bin: string): HealthCheck {
  return async () => {
    try {
      await access(bin, constants.X_OK);
    } catch {
      return { status: 'unhealthy', detail: `whisper binary not executable or missing: ${bin}` };
    }
    return { status: 'healthy', detail: bin };
  };
}

/** Magic bytes of the model formats we load: ggml (whisper.cpp, stored little-endian), GGUF. */
const MODEL_MAGICS: readonly { name: string; bytes: Buffer }[] = [
  { name: 'ggml', bytes: Buffer.from('lmgg', 'latin1') },
  { name: 'gguf', bytes: Buffer.from('GGUF', 'latin1') },
];

/** A model file exists, is not truncated to nothing and starts with a known header. */
export function modelFileCheck(file: string): HealthCheck {
  return async () => {
    let fh;
    try {
      fh = await open(file, 'r');
    } catch {
      metrics.modelLoadFailuresTotal.inc({ model: path.basename(file) });
      return { status: 'unhealthy', detail: `model file missing: ${file}` };
    }
    try {
      const head = Buffer.alloc(4);
      const { bytesRead } = await fh.read(head, 0, 4, 0);
      const kind = MODEL_MAGICS.find((m) => bytesRead === 4 && head.equals(m.bytes));
      if (!kind) {
        metrics.modelLoadFailuresTotal.inc({ model: path.basename(file) });
        return { status: 'unhealthy', detail: `not a ggml/gguf model (bad header): ${file}` };
      }
      return { status: 'healthy', detail: `${path.basename(file)} (${kind.name})` };
    } finally {
      await fh.close();
    }
  };
}

// ---------------------------------------------------------------- checks per role (E.6.2)

export interface RoleCheckDeps {
  /**
   * Postgres reachability: resolves when Postgres answers, throws when it is down (e.g.
   * `() => database.ping()`).
   */
  postgresPing?: () => Promise<unknown>;
  /** Redis PING (e.g. `() => redis.ping()`). */
  ping?: () => Promise<string>;
  /** BullMQ reachability (e.g. `() => queue.getJobCounts()`). */
  queueProbe?: (signal: AbortSignal) => Promise<unknown>;
  /** FAISS index loadable (api); failure degrades to graph/full-text-only search. */
  indexProbe?: (signal: AbortSignal) => Promise<unknown>;
  /** Which embeddings search uses and why (api): healthy with the hash fallback's reason, degraded when the configured provider cannot run. */
  embeddings?: HealthCheck;
  dataDir: string;
  /** Whisper model file for worker-gpu (`$MODELS_DIR/ggml-<WHISPER_MODEL>.bin`). */
  whisperModelFile?: string;
  /** whisper.cpp CLI for worker-gpu. */
  whisperBin?: string;
  gpuRequired?: boolean;
  /**
   * How a missing whisper binary/model affects the role. Default: critical when whisper-cpp is
   * the only ASR engine, degrading when another engine (feed transcripts, openai) still works.
   */
  whisperImpact?: CheckSpec['impact'];
  /** ffmpeg binary (FFMPEG_PATH); default `ffmpeg` on PATH. */
  ffmpegBin?: string;
  disk?: DiskThresholds;
}

/** The settings the checks read (a full `Config` will do). */
export type HealthSettings = Pick<Config, 'modelsDir' | 'asr' | 'audio' | 'telemetry'>;

/**
 * worker-gpu's model/binary/GPU/ffmpeg settings from the typed config (MODELS_DIR,
 * WHISPER_MODEL, WHISPER_MODEL_PATH, ASR_ENGINES, WHISPER_CLI, GPU_REQUIRED, FFMPEG_PATH), for
 * what the caller did not pass: the "model loadable" check of E.6.2 then works for any role starter.
 */
function gpuDepsFromConfig(config: HealthSettings): Pick<RoleCheckDeps, 'whisperModelFile' | 'whisperBin' | 'gpuRequired' | 'whisperImpact' | 'ffmpegBin'> {
  const engines: readonly string[] = config.asr.engines;
  const usesWhisper = engines.includes('whisper-cpp');
  return {
    whisperModelFile: usesWhisper ? whisperModelFile(config) : undefined,
    // a WHISPER_CLI that is not executable is reported as such, not swapped for another binary
    whisperBin: usesWhisper ? config.asr.whisperCli || whisperCliPath(config) || path.join(WHISPER_BUILD_BIN, 'whisper-cli') : undefined,
    gpuRequired: config.telemetry.gpuRequired,
    whisperImpact: engines.every((e) => e === 'whisper-cpp') ? 'critical' : 'degrading',
    ffmpegBin: config.audio.ffmpegPath || 'ffmpeg',
  };
}

/** Checks of the services every role shares (the queue is Redis): see CheckSpec.dependency. */
const SHARED_DEPENDENCIES = new Set(['postgres', 'redis', 'queue_connection']);

/**
 * The check list of one role, following blueprint E.6.2. `config` supplies worker-gpu's
 * whisper/GPU/ffmpeg settings the caller did not pass in `given`; without it they are read
 * through config.ts (`loadConfig()`), never from the environment directly.
 */
export function checksForRole(role: string, given: RoleCheckDeps, config?: HealthSettings): CheckSpec[] {
  const gpuRole = role === 'worker-gpu' || role === 'worker';
  const fromConfig = gpuRole ? gpuDepsFromConfig(config ?? loadConfig()) : {};
  const deps: RoleCheckDeps = {
    ...given,
    whisperModelFile: given.whisperModelFile ?? fromConfig.whisperModelFile,
    whisperBin: given.whisperBin ?? fromConfig.whisperBin,
    gpuRequired: given.gpuRequired ?? fromConfig.gpuRequired,
    whisperImpact: given.whisperImpact ?? fromConfig.whisperImpact,
    ffmpegBin: given.ffmpegBin ?? fromConfig.ffmpegBin,
  };
  const specs: CheckSpec[] = [];
  const add = (name: string, check: HealthCheck | undefined, impact: CheckSpec['impact']) => {
    if (check) specs.push({ name, check, impact, ...(SHARED_DEPENDENCIES.has(name) ? { dependency: true } : {}) });
  };
  const pg = deps.postgresPing && postgresCheck(deps.postgresPing);
  const redis = deps.ping && redisCheck(deps.ping);
  const queue = deps.queueProbe && probeCheck(deps.queueProbe);
  const disk = diskCheck(deps.dataDir, deps.disk);
  switch (role) {
    case 'api':
      add('postgres', pg, 'critical');
      add('redis', redis, 'degrading'); // reads still work; enqueue and SSE fan-out do not
      add('vector_index', deps.indexProbe && probeCheck(deps.indexProbe), 'degrading');
      add('embeddings', deps.embeddings, 'degrading');
      add('disk_space', disk, 'degrading');
      break;
    case 'scheduler':
      add('postgres', pg, 'critical');
      add('redis', redis, 'critical');
      add('queue_connection', queue, 'critical');
      break;
    case 'worker-io':
      add('queue_connection', queue, 'critical');
      add('postgres', pg, 'critical');
      add('disk_space', disk, 'critical');
      break;
    case 'worker-ml':
      add('queue_connection', queue, 'critical');
      add('postgres', pg, 'critical');
      add('memory', memoryCheck(), 'degrading');
      add('disk_space', disk, 'degrading');
      break;
    default: // worker-gpu and the all-queues worker
      add('queue_connection', queue, 'critical');
      add('postgres', pg, 'critical');
      add('disk_space', disk, 'critical');
      break;
  }
  if (gpuRole) {
    add('ffmpeg', ffmpegCheck(deps.ffmpegBin), 'critical');
    add('gpu_available', gpuCheck({ required: deps.gpuRequired ?? false }), deps.gpuRequired ? 'critical' : 'degrading');
    const whisperImpact = deps.whisperImpact ?? 'critical';
    add('whisper_binary', deps.whisperBin ? whisperBinaryCheck(deps.whisperBin) : undefined, whisperImpact);
    add('model_loadable', deps.whisperModelFile ? modelFileCheck(deps.whisperModelFile) : undefined, whisperImpact);
  }
  return specs;
}
