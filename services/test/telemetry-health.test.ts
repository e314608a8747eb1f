import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  aggregate,
  checksForRole,
  createHealth,
  diskCheck,
  gpuCheck,
  modelFileCheck,
  parseNvidiaSmi,
  postgresCheck,
  runCheck,
  type CheckSpec,
} from '../src/telemetry/health';
import { healthcheckPort } from '../src/telemetry/healthcheck';
import { apiMetricsMiddleware } from '../src/telemetry/http-metrics';
import { initMetrics, metrics, registry, renderMetrics } from '../src/telemetry/metrics';
import { heartbeat } from '../src/telemetry/heartbeat';
import { runJobWithTelemetry } from '../src/telemetry/tracing';
import { loadConfig } from '../src/config/config';
import { startTelemetryServer } from '../src/telemetry/server';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-health-'));
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

/** ARCHITECTURE §9, exactly (prefix podbrain_). */
const ARCHITECTURE_METRICS = [
  'queue_depth',
  'queue_processing_seconds',
  'episodes_processed_total',
  'episode_stage_duration_seconds',
  'model_load_seconds',
  'gpu_utilization_percent',
  'gpu_memory_used_bytes',
  'gpu_memory_total_bytes',
  'api_request_duration_seconds',
  'vector_index_size',
  'provider_tokens_total',
  'provider_errors_total',
  'provider_retries_total',
  'transcription_realtime_factor',
];

const ok = (name: string, impact: CheckSpec['impact'], status: 'healthy' | 'degraded' | 'unhealthy'): CheckSpec => ({
  name,
  impact,
  check: async () => ({ status }),
});

describe('health model (blueprint E.6)', () => {
  it('aggregates: critical unhealthy → unhealthy; degrading unhealthy or any degraded → degraded', async () => {
    const specs = [ok('a', 'critical', 'healthy'), ok('b', 'degrading', 'unhealthy')];
    const results = Object.fromEntries(await Promise.all(specs.map(async (s) => [s.name, await runCheck(s)])));
    expect(aggregate(specs, results)).toBe('degraded');
    const crit = [ok('a', 'critical', 'unhealthy'), ok('b', 'degrading', 'healthy')];
    const r2 = Object.fromEntries(await Promise.all(crit.map(async (s) => [s.name, await runCheck(s)])));
    expect(aggregate(crit, r2)).toBe('unhealthy');
  });

  it('a check that throws or hangs past its timeout is unhealthy with the reason', async () => {
    const thrown = await runCheck({ name: 'x', impact: 'critical', check: async () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:5432')) });
    expect(thrown).toMatchObject({ status: 'unhealthy', detail: 'ECONNREFUSED 127.0.0.1:5432' });
    const hung = await runCheck({ name: 'y', impact: 'critical', timeoutMs: 50, check: () => new Promise(() => undefined) });
    expect(hung).toMatchObject({ status: 'unhealthy', detail: 'timed out after 50 ms' });
    // the Postgres check takes a ping that throws when Postgres is down (database.ping())
    const down = await runCheck({ name: 'postgres', impact: 'critical', check: postgresCheck(async () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))) });
    expect(down).toMatchObject({ status: 'unhealthy', detail: 'connect ECONNREFUSED 127.0.0.1:5432' });
    expect((await runCheck({ name: 'postgres', impact: 'critical', check: postgresCheck(async () => undefined) })).status).toBe('healthy');
  });

  it('checks per role follow E.6.2', () => {
    const deps = { postgresPing: async () => undefined, ping: async () => 'PONG', queueProbe: async () => ({}), indexProbe: async () => 1, dataDir: tmp };
    // the role's settings come from the typed config (config.ts), not from process.env
    const names = (role: string, env: NodeJS.ProcessEnv = {}) => checksForRole(role, deps, loadConfig({ env })).map((c) => `${c.name}:${c.impact}`);
    expect(names('api')).toEqual(['postgres:critical', 'redis:degrading', 'vector_index:degrading', 'disk_space:degrading']);
    expect(names('scheduler')).toEqual(['postgres:critical', 'redis:critical', 'queue_connection:critical']);
    expect(names('worker-io')).toEqual(['queue_connection:critical', 'postgres:critical', 'disk_space:critical']);
    expect(names('worker-ml')).toEqual(['queue_connection:critical', 'postgres:critical', 'memory:degrading', 'disk_space:degrading']);
    // worker-gpu with a fallback engine: a missing model degrades; whisper-cpp alone: it is critical; GPU_REQUIRED makes the GPU critical.
    expect(names('worker-gpu', { ASR_ENGINES: 'feed,whisper-cpp' })).toEqual([
      'queue_connection:critical', 'postgres:critical', 'disk_space:critical', 'ffmpeg:critical', 'gpu_available:degrading',
      'whisper_binary:degrading', 'model_loadable:degrading',
    ]);
    expect(names('worker-gpu', { ASR_ENGINES: 'whisper-cpp', GPU_REQUIRED: 'true' })).toEqual([
      'queue_connection:critical', 'postgres:critical', 'disk_space:critical', 'ffmpeg:critical', 'gpu_available:critical',
      'whisper_binary:critical', 'model_loadable:critical',
    ]);
    expect(names('worker-gpu', { ASR_ENGINES: 'feed,openai' })).not.toContain('model_loadable:degrading');
  });

  it('model loadable: missing file and bad header are unhealthy, a ggml header is healthy', async () => {
    const good = path.join(tmp, 'ggml-tiny.bin');
    writeFileSync(good, Buffer.concat([Buffer.from('lmgg', 'latin1'), Buffer.alloc(64)]));
    const bad = path.join(tmp, 'ggml-bad.bin');
    writeFileSync(bad, '<html>not found</html>');
    const ctl = new AbortController();
    expect(await modelFileCheck(good)(ctl.signal)).toMatchObject({ status: 'healthy', detail: 'ggml-tiny.bin (ggml)' });
    expect((await modelFileCheck(bad)(ctl.signal)).status).toBe('unhealthy');
    expect((await modelFileCheck(path.join(tmp, 'nope.bin'))(ctl.signal)).detail).toMatch(/model file missing/);
  });

  it('disk thresholds: degraded and unhealthy below their free-space limits', async () => {
    const ctl = new AbortController();
    expect((await diskCheck(tmp, { degradedBelowBytes: 1, unhealthyBelowBytes: 0 })(ctl.signal)).status).toBe('healthy');
    expect((await diskCheck(tmp, { degradedBelowBytes: 2 ** 60, unhealthyBelowBytes: 0 })(ctl.signal)).status).toBe('degraded');
    expect((await diskCheck(tmp, { degradedBelowBytes: 2 ** 60, unhealthyBelowBytes: 2 ** 59 })(ctl.signal)).status).toBe('unhealthy');
    expect((await registry.getSingleMetric('podbrain_disk_free_bytes')!.get()).values.some((v) => v.labels.path === tmp && v.value > 0)).toBe(true);
  });

  it('GPU: parses nvidia-smi, degrades above 95% VRAM, is unhealthy without a GPU only when required', async () => {
    expect(parseNvidiaSmi('37, 1024, 24576\n')).toEqual([{ utilizationPercent: 37, memoryUsedBytes: 1024 * 2 ** 20, memoryTotalBytes: 24576 * 2 ** 20 }]);
    const fake = path.join(tmp, 'nvidia-smi');
    writeFileSync(fake, '#!/bin/sh\necho "99, 23900, 24000"\n');
    chmodSync(fake, 0o755);
    const ctl = new AbortController();
    expect((await gpuCheck({ required: true, bin: fake })(ctl.signal)).status).toBe('degraded');
    const text = (await renderMetrics()).body;
    expect(text).toMatch(/podbrain_gpu_utilization_percent(\{[^}]*\})? 99\n/);
    expect(text).toMatch(/podbrain_gpu_memory_total_bytes(\{[^}]*\})? 25165824000\n/);
    const missing = path.join(tmp, 'no-such-nvidia-smi');
    expect(await gpuCheck({ required: false, bin: missing })(ctl.signal)).toMatchObject({ status: 'healthy', detail: 'no GPU (CPU mode)' });
    expect((await gpuCheck({ required: true, bin: missing })(ctl.signal)).status).toBe('unhealthy');
  });
});

describe('telemetry server and metrics', () => {
  it('exposes every ARCHITECTURE §9 metric with the podbrain_ prefix and the role default label', async () => {
    initMetrics({ role: 'worker-io', version: '9.9.9', gitSha: 'abc1234' });
    const text = (await renderMetrics()).body;
    for (const m of ARCHITECTURE_METRICS) expect(text, m).toContain(`# TYPE podbrain_${m} `);
    expect(text).toMatch(/podbrain_build_info\{version="9.9.9",git_sha="abc1234",service="podbrain",role="worker-io"\} 1/);
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('serves /healthz (200 healthy/degraded, 503 unhealthy) and /metrics on its port', async () => {
    let state: 'healthy' | 'unhealthy' = 'healthy';
    const health = createHealth({ role: 'worker-io', checks: [{ name: 'queue_connection', impact: 'critical', check: async () => ({ status: state }) }] });
    const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', health, gpuMetricsIntervalS: 0 });
    closers.push(srv.close);
    const base = `http://127.0.0.1:${srv.port}`;
    const r1 = await fetch(`${base}/healthz`);
    expect(r1.status).toBe(200);
    const body = (await r1.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'healthy', role: 'worker-io', checks: { queue_connection: { status: 'healthy' } } });
    expect(body).toHaveProperty('uptime_seconds');
    expect(body).toHaveProperty('version');
    expect(body).toHaveProperty('git_sha');
    state = 'unhealthy';
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    const metricsText = await (await fetch(`${base}/metrics`)).text();
    expect(metricsText).toMatch(/podbrain_health_status\{[^}]*\} 0/);
    expect(metricsText).toMatch(/podbrain_health_check_status\{check="queue_connection"[^}]*\} 0/);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('polls nvidia-smi into the podbrain_gpu_* gauges while the server runs (worker-gpu, GPU_METRICS_INTERVAL_S)', async () => {
    const bin = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-gpu-'));
    writeFileSync(path.join(bin, 'nvidia-smi'), '#!/bin/sh\necho "42, 2048, 16384"\n');
    chmodSync(path.join(bin, 'nvidia-smi'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', gpuMetricsIntervalS: 1 });
      closers.push(srv.close);
      let text = '';
      for (let i = 0; i < 50 && !/podbrain_gpu_utilization_percent(\{[^}]*\})? 42\n/.test(text); i++) {
        await new Promise((r) => setTimeout(r, 100));
        text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
      }
      expect(text).toMatch(/podbrain_gpu_utilization_percent(\{[^}]*\})? 42\n/);
      expect(text).toMatch(/podbrain_gpu_memory_used_bytes(\{[^}]*\})? 2147483648\n/);
      expect(text).toMatch(/podbrain_gpu_memory_total_bytes(\{[^}]*\})? 17179869184\n/);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('the container healthcheck script exits 0 for a working role and 1 for an unhealthy or silent one', async () => {
    const health = createHealth({ role: 'worker-ml', checks: [{ name: 'memory', impact: 'degrading', check: async () => ({ status: 'degraded' }) }] });
    const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', health, gpuMetricsIntervalS: 0 });
    closers.push(srv.close);
    const script = path.resolve(__dirname, '../dist/telemetry/healthcheck.js');
    const run = (env: NodeJS.ProcessEnv) =>
      new Promise<{ status: number | null; stdout: string }>((resolve) => {
        // async spawn: the server that answers lives in this process
        const p = spawn(process.execPath, [script], { env: { PATH: process.env.PATH, ...env } });
        let stdout = '';
        p.stdout.on('data', (c) => (stdout += c));
        p.on('close', (status) => resolve({ status, stdout }));
      });
    expect(await run({ HEALTH_PORT: String(srv.port) })).toMatchObject({ status: 0, stdout: expect.stringContaining('200 degraded') });
    // an unhealthy critical check → 503 → exit 1
    const crit = createHealth({ role: 'worker-ml', checks: [{ name: 'queue_connection', impact: 'critical', check: async () => ({ status: 'unhealthy' }) }] });
    const srv2 = await startTelemetryServer({ port: 0, host: '127.0.0.1', health: crit, gpuMetricsIntervalS: 0 });
    closers.push(srv2.close);
    expect((await run({ HEALTH_PORT: String(srv2.port) })).status).toBe(1);
    expect((await run({ HEALTH_PORT: '1' })).status).toBe(1);
    expect(healthcheckPort({ PODBRAIN_ROLE: 'api', HEALTH_PORT: '9464', API_PORT: '8200' })).toBe(8200);
    expect(healthcheckPort({ PODBRAIN_ROLE: 'worker-io', HEALTH_PORT: '9464' })).toBe(9464);
  });

  it('API middleware records route templates, not raw paths, and skips /metrics', async () => {
    const mw = apiMetricsMiddleware({ resolveRoute: (req) => ((req.url ?? '').startsWith('/api/episodes/') ? '/api/episodes/:id' : 'unmatched') });
    const { EventEmitter } = await import('node:events');
    const fire = (url: string, status: number) => {
      const res = Object.assign(new EventEmitter(), { statusCode: status });
      let called = false;
      mw({ url, method: 'get' } as never, res as never, () => (called = true));
      res.emit('finish');
      return called;
    };
    expect(fire('/api/episodes/123?x=1', 200)).toBe(true);
    fire('/api/episodes/456', 404);
    fire('/metrics', 200);
    const values = (await metrics.apiRequestDurationSeconds.get()).values.filter((v) => v.metricName === 'podbrain_api_request_duration_seconds_count');
    expect(values.map((v) => `${v.labels.method} ${v.labels.route} ${v.labels.status}`).sort()).toEqual(['GET /api/episodes/:id 200', 'GET /api/episodes/:id 404']);
  });

  it('heartbeat: the telemetry server beats while it runs, and a worker beats when a job ends', async () => {
    const beat = async () => (await registry.getSingleMetric('podbrain_heartbeat_timestamp_seconds')!.get()).values[0]?.value ?? 0;
    heartbeat(1000);
    expect(await beat()).toBe(1);
    const before = Date.now() / 1000;
    const srv = await startTelemetryServer({ port: 0, host: '127.0.0.1', gpuMetricsIntervalS: 0, heartbeatIntervalMs: 50 });
    closers.push(srv.close);
    expect(await beat()).toBeGreaterThanOrEqual(before);
    heartbeat(1000);
    await new Promise((r) => setTimeout(r, 120));
    expect(await beat()).toBeGreaterThanOrEqual(before);
    await srv.close();
    heartbeat(1000);
    await expect(runJobWithTelemetry({ id: '1', name: 'transcribe', queueName: 'transcribe', data: {} }, {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await beat()).toBeGreaterThanOrEqual(before);
  });
});
