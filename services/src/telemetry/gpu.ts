import { execFile } from 'node:child_process';
import { formatBytes, type HealthCheck } from './health/model';
import { metrics } from './metrics';

/**
 * The GPU as telemetry sees it: nvidia-smi sampling into the podbrain_gpu_* gauges, the
 * poller worker-gpu runs every GPU_METRICS_INTERVAL_S, and the `gpu_available` health check.
 * Without nvidia-smi (a CPU box) sampling answers `null` and costs nothing.
 */

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

const NVIDIA_SMI_ARGS = ['--query-gpu=utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'];

/** Runs `file args` and resolves with its stdout (health probes: bounded time and output). */
export function execProbe(file: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { signal, timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** Runs nvidia-smi; `null` when it is not installed (CPU box). */
async function sampleGpu(signal: AbortSignal, bin = 'nvidia-smi'): Promise<GpuSample[] | null> {
  try {
    return parseNvidiaSmi(await execProbe(bin, NVIDIA_SMI_ARGS, signal));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function recordGpuSample(s: GpuSample): void {
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

/**
 * Polls nvidia-smi every `intervalMs` into the podbrain_gpu_* gauges. A no-op (and it stops
 * polling) when nvidia-smi is absent, so CPU boxes pay nothing. Returns a stop function.
 */
export function startGpuPoller(opts: { intervalMs?: number; bin?: string; onError?: (e: unknown) => void } = {}): () => void {
  const intervalMs = opts.intervalMs ?? 15_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let controller: AbortController | undefined;

  const tick = async () => {
    controller = new AbortController();
    const guard = setTimeout(() => controller?.abort(), Math.min(intervalMs, 10_000));
    try {
      const samples = await sampleGpu(controller.signal, opts.bin);
      if (samples === null) {
        stopped = true;
        return;
      }
      if (samples[0]) recordGpuSample(samples[0]);
    } catch (e) {
      opts.onError?.(e);
    } finally {
      clearTimeout(guard);
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs).unref();
  };
  void tick();

  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
  };
}
