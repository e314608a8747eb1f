import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { access, constants, open, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../core/errors';
import { metrics } from './metrics';

/**
 * The `/healthz` model (blueprint E.6.1) and ready-made checks per role (E.6.2).
 *
 * A check resolves to healthy, degraded or unhealthy; a throw or a timeout counts as
 * unhealthy. How a failing check affects the role depends on its `impact`:
 *  - `critical`: the role cannot process work without it → an unhealthy check makes the
 *    role unhealthy (Docker restarts it, alert fires);
 *  - `degrading`: the role keeps working with less capability (search off, slow DB,
 *    low disk) → an unhealthy check makes the role at most degraded.
 * A degraded check always makes the role (at least) degraded.
 */

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface CheckOutcome {
  status: HealthStatus;
  detail?: string;
}

export interface CheckResult extends CheckOutcome {
  latency_ms: number;
}

/** A probe; it must honour `signal` (aborted at its timeout). */
export type HealthCheck = (signal: AbortSignal) => Promise<CheckOutcome>;

export interface CheckSpec {
  name: string;
  check: HealthCheck;
  impact: 'critical' | 'degrading';
  /** Default 2000 ms. */
  timeoutMs?: number;
}

export interface HealthReport {
  status: HealthStatus;
  role: string;
  checks: Record<string, CheckResult>;
  uptime_seconds: number;
  version: string;
  git_sha: string;
}

const STATUS_VALUE: Record<HealthStatus, number> = { healthy: 2, degraded: 1, unhealthy: 0 };

export function buildInfo(env: NodeJS.ProcessEnv = process.env): { version: string; gitSha: string } {
  return { version: env.PODBRAIN_VERSION || packageVersion(), gitSha: env.GIT_SHA || 'unknown' };
}

function packageVersion(): string {
  // src/telemetry and dist/telemetry both sit two levels below services/package.json
  const file = path.resolve(__dirname, '../../package.json');
  try {
    return existsSync(file) ? String((JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0') : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export async function runCheck(spec: CheckSpec): Promise<CheckResult> {
  const timeoutMs = spec.timeoutMs ?? 2000;
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ status: 'unhealthy', detail: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
  });
  let outcome: CheckOutcome;
  try {
    outcome = await Promise.race([spec.check(controller.signal), timeout]);
  } catch (e) {
    outcome = { status: 'unhealthy', detail: errorMessage(e) };
  } finally {
    clearTimeout(timer);
  }
  return { ...outcome, latency_ms: Math.round((performance.now() - started) * 10) / 10 };
}

export function aggregate(specs: readonly CheckSpec[], results: Record<string, CheckResult>): HealthStatus {
  let status: HealthStatus = 'healthy';
  for (const spec of specs) {
    const r = results[spec.name];
    if (!r || r.status === 'healthy') continue;
    if (r.status === 'unhealthy' && spec.impact === 'critical') return 'unhealthy';
    status = 'degraded';
  }
  return status;
}

export interface HealthModel {
  report(): Promise<HealthReport>;
}

export function createHealth(opts: {
  role: string;
  checks: readonly CheckSpec[];
  env?: NodeJS.ProcessEnv;
  startedAt?: number;
}): HealthModel {
  const { version, gitSha } = buildInfo(opts.env);
  const startedAt = opts.startedAt ?? Date.now();
  const names = new Set<string>();
  for (const c of opts.checks) {
    if (names.has(c.name)) throw new Error(`duplicate health check name: ${c.name}`);
    names.add(c.name);
  }
  return {
    async report() {
      const entries = await Promise.all(opts.checks.map(async (spec) => [spec.name, await runCheck(spec)] as const));
      const checks = Object.fromEntries(entries);
      const status = aggregate(opts.checks, checks);
      metrics.healthStatus.set(STATUS_VALUE[status]);
      for (const [name, r] of entries) metrics.healthCheckStatus.set({ check: name }, STATUS_VALUE[r.status]);
      return {
        status,
        role: opts.role,
        checks,
        uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
        version,
        git_sha: gitSha,
      };
    },
  };
}

/** 200 while the role can work (healthy or degraded), 503 when unhealthy. */
export function httpStatusFor(report: Pick<HealthReport, 'status'>): number {
  return report.status === 'unhealthy' ? 503 : 200;
}

// ---------------------------------------------------------------- ready-made checks

/** Postgres: `SELECT 1` through the caller's query function; slow → degraded. */
export function postgresCheck(query: (sql: string) => Promise<unknown>, slowMs = 1000): HealthCheck {
  return async () => {
    const t = performance.now();
    await query('SELECT 1');
    const ms = performance.now() - t;
    return ms > slowMs ? { status: 'degraded', detail: `slow: ${Math.round(ms)} ms` } : { status: 'healthy' };
  };
}

/** Redis: PING must answer PONG. */
export function redisCheck(ping: () => Promise<string>): HealthCheck {
  return async () => {
    const answer = await ping();
    return answer === 'PONG' ? { status: 'healthy' } : { status: 'unhealthy', detail: `unexpected PING answer: ${answer}` };
  };
}

/** Anything that must answer (BullMQ `queue.getJobCounts()`, a FAISS stat…). */
export function probeCheck(probe: (signal: AbortSignal) => Promise<unknown>, detail?: string): HealthCheck {
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
export const statfsSpace: DiskSpaceProbe = async (dir) => {
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
export function memoryCheck(minFreeRatio = 0.1, read = () => ({ free: os.freemem(), total: os.totalmem() })): HealthCheck {
  return async () => {
    const { free, total } = read();
    const detail = `${formatBytes(free)} free of ${formatBytes(total)}`;
    return free / total < minFreeRatio ? { status: 'degraded', detail } : { status: 'healthy', detail };
  };
}

function execProbe(file: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { signal, timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** ffmpeg on PATH (or at `bin`) answers `-version`. */
export function ffmpegCheck(bin = process.env.FFMPEG_PATH || 'ffmpeg'): HealthCheck {
  return async (signal) => {
    const out = await execProbe(bin, ['-version'], signal).catch((e: NodeJS.ErrnoException) => {
      throw new Error(e.code === 'ENOENT' ? `${bin} not found` : errorMessage(e));
    });
    return { status: 'healthy', detail: out.split('\n')[0]?.trim() };
  };
}

/** The whisper.cpp CLI binary exists and is executable. */
export function whisperBinaryCheck(bin: string): HealthCheck {
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

export interface GpuSample {
  utilizationPercent: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

const MIB = 1024 * 1024;

/** Parses `nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits` (MiB). */
export function parseNvidiaSmi(out: string): GpuSample[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [util, used, total] = line.split(',').map((s) => Number(s.trim()));
      if (![util, used, total].every(Number.isFinite)) throw new Error(`unexpected nvidia-smi line: ${line}`);
      return { utilizationPercent: util, memoryUsedBytes: used * MIB, memoryTotalBytes: total * MIB };
    });
}

export const NVIDIA_SMI_ARGS = ['--query-gpu=utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'];

/** Runs nvidia-smi; `null` when it is not installed (CPU box). */
export async function sampleGpu(signal: AbortSignal, bin = 'nvidia-smi'): Promise<GpuSample[] | null> {
  try {
    return parseNvidiaSmi(await execProbe(bin, NVIDIA_SMI_ARGS, signal));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function recordGpuSample(s: GpuSample): void {
  metrics.gpuUtilizationPercent.set(s.utilizationPercent);
  metrics.gpuMemoryUsedBytes.set(s.memoryUsedBytes);
  metrics.gpuMemoryTotalBytes.set(s.memoryTotalBytes);
}

/**
 * GPU present and not out of memory. Without nvidia-smi: healthy "CPU mode", unless the
 * role needs a GPU (`required`, i.e. worker-gpu with GPU_REQUIRED=true) → unhealthy.
 */
export function gpuCheck(opts: { required: boolean; bin?: string; vramDegradedRatio?: number }): HealthCheck {
  return async (signal) => {
    const samples = await sampleGpu(signal, opts.bin);
    if (samples === null || samples.length === 0) {
      return opts.required
        ? { status: 'unhealthy', detail: 'GPU required (GPU_REQUIRED=true) but nvidia-smi not found' }
        : { status: 'healthy', detail: 'no GPU (CPU mode)' };
    }
    const g = samples[0];
    recordGpuSample(g);
    const ratio = g.memoryTotalBytes > 0 ? g.memoryUsedBytes / g.memoryTotalBytes : 0;
    const detail = `util ${g.utilizationPercent}%, VRAM ${formatBytes(g.memoryUsedBytes)} / ${formatBytes(g.memoryTotalBytes)}`;
    return ratio > (opts.vramDegradedRatio ?? 0.95) ? { status: 'degraded', detail } : { status: 'healthy', detail };
  };
}

// ---------------------------------------------------------------- checks per role (E.6.2)

export interface RoleCheckDeps {
  /** Runs SQL on Postgres (e.g. `dataSource.query`). */
  query?: (sql: string) => Promise<unknown>;
  /** Redis PING (e.g. `() => redis.ping()`). */
  ping?: () => Promise<string>;
  /** BullMQ reachability (e.g. `() => queue.getJobCounts()`). */
  queueProbe?: (signal: AbortSignal) => Promise<unknown>;
  /** FAISS index loadable (api); failure degrades to graph/full-text-only search. */
  indexProbe?: (signal: AbortSignal) => Promise<unknown>;
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
  disk?: DiskThresholds;
}

/**
 * worker-gpu's model/binary/GPU settings when the caller did not pass them, from the same
 * env names the typed config reads (MODELS_DIR, WHISPER_MODEL, ASR_ENGINES, WHISPER_CLI,
 * GPU_REQUIRED): the "model loadable" check of E.6.2 then works for any role starter.
 */
export function gpuDepsFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<RoleCheckDeps, 'whisperModelFile' | 'whisperBin' | 'gpuRequired' | 'whisperImpact'> {
  const engines = (env.ASR_ENGINES || 'feed,whisper-cpp').split(',').map((s) => s.trim());
  const usesWhisper = engines.includes('whisper-cpp');
  const modelsDir = path.resolve(env.MODELS_DIR || './models');
  return {
    whisperModelFile: usesWhisper ? env.WHISPER_MODEL_PATH || path.join(modelsDir, `ggml-${env.WHISPER_MODEL || 'base.en'}.bin`) : undefined,
    whisperBin: usesWhisper ? env.WHISPER_CLI || path.resolve(__dirname, '../../native/whisper/build/bin/whisper-cli') : undefined,
    gpuRequired: ['true', '1', 'yes'].includes(String(env.GPU_REQUIRED).toLowerCase()),
    whisperImpact: engines.every((e) => e === 'whisper-cpp') ? 'critical' : 'degrading',
  };
}

/** The check list of one role, following blueprint E.6.2. */
export function checksForRole(role: string, given: RoleCheckDeps, env: NodeJS.ProcessEnv = process.env): CheckSpec[] {
  const gpuRole = role === 'worker-gpu' || role === 'worker';
  const fromEnv = gpuRole ? gpuDepsFromEnv(env) : {};
  const deps: RoleCheckDeps = {
    ...given,
    whisperModelFile: given.whisperModelFile ?? fromEnv.whisperModelFile,
    whisperBin: given.whisperBin ?? fromEnv.whisperBin,
    gpuRequired: given.gpuRequired ?? fromEnv.gpuRequired,
    whisperImpact: given.whisperImpact ?? fromEnv.whisperImpact,
  };
  const specs: CheckSpec[] = [];
  const add = (name: string, check: HealthCheck | undefined, impact: CheckSpec['impact']) => {
    if (check) specs.push({ name, check, impact });
  };
  const pg = deps.query && postgresCheck(deps.query);
  const redis = deps.ping && redisCheck(deps.ping);
  const queue = deps.queueProbe && probeCheck(deps.queueProbe);
  const disk = diskCheck(deps.dataDir, deps.disk);
  switch (role) {
    case 'api':
      add('postgres', pg, 'critical');
      add('redis', redis, 'degrading'); // reads still work; enqueue and SSE fan-out do not
      add('vector_index', deps.indexProbe && probeCheck(deps.indexProbe), 'degrading');
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
    add('ffmpeg', ffmpegCheck(), 'critical');
    add('gpu_available', gpuCheck({ required: deps.gpuRequired ?? false }), deps.gpuRequired ? 'critical' : 'degrading');
    const whisperImpact = deps.whisperImpact ?? 'critical';
    add('whisper_binary', deps.whisperBin ? whisperBinaryCheck(deps.whisperBin) : undefined, whisperImpact);
    add('model_loadable', deps.whisperModelFile ? modelFileCheck(deps.whisperModelFile) : undefined, whisperImpact);
  }
  return specs;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
