import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type Config } from '../config/config';
import { startGpuPoller } from './gpu';
import { httpStatusFor, type HealthModel } from './health/model';
import { HEARTBEAT_INTERVAL_MS, startHeartbeat } from './heartbeat';
import { renderMetrics } from './metrics';

/**
 * A bare HTTP server for `/healthz` and `/metrics` on a role's HEALTH_PORT (workers and the
 * scheduler have no Nest HTTP adapter). The api role serves the same two routes on API_PORT.
 * While it runs the role beats podbrain_heartbeat_timestamp_seconds (./heartbeat.ts) and,
 * when asked, polls nvidia-smi into podbrain_gpu_*.
 */
export async function startTelemetryServer(opts: {
  port: number;
  host?: string;
  health?: HealthModel;
  /**
   * Poll nvidia-smi into podbrain_gpu_* every N seconds while the server runs (worker-gpu);
   * 0 = off. Default: `config.telemetry.gpuMetricsIntervalS` (GPU_METRICS_INTERVAL_S).
   */
  gpuMetricsIntervalS?: number;
  /** The role's config, for the defaults above; without it config.ts loads it (`loadConfig()`). */
  config?: Pick<Config, 'telemetry'>;
  /** Heartbeat period (podbrain_heartbeat_timestamp_seconds); default 15 s. */
  heartbeatIntervalMs?: number;
}): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    if (url === '/metrics') {
      renderMetrics().then(
        (m) => reply(200, m.contentType, m.body),
        (e: Error) => reply(500, 'text/plain', `${e.message}\n`),
      );
      return;
    }
    if (url === '/healthz' && opts.health) {
      opts.health.report().then(
        (r) => reply(httpStatusFor(r), 'application/json', JSON.stringify(r)),
        (e: Error) => reply(503, 'application/json', JSON.stringify({ status: 'unhealthy', error: e.message })),
      );
      return;
    }
    reply(404, 'text/plain', 'not found\n');
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const gpuEvery = opts.gpuMetricsIntervalS ?? (opts.config ?? loadConfig()).telemetry.gpuMetricsIntervalS;
  const stopGpu = gpuEvery > 0 ? startGpuPoller({ intervalMs: gpuEvery * 1000 }) : () => undefined;
  const stopHeartbeat = startHeartbeat(opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        stopGpu();
        stopHeartbeat();
        server.closeIdleConnections();
        server.close(() => resolve());
      }),
  };
}
