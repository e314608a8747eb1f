import { recordGpuSample, sampleGpu } from './health';

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
