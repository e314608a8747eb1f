#!/usr/bin/env node
// Telemetry overhead: API-like HTTP throughput with and without podbrain's telemetry, measured
// with wrk in the same run, modes interleaved, best of ROUNDS per mode (server.mjs):
//   bare       no telemetry
//   histogram  only the request-duration histogram (apiMetricsMiddleware)
//   metrics    the api's default: request histogram + correlation id per request (no OTLP endpoint)
//   metrics-als  metrics inside an AsyncLocalStorage context per request
//   traced-10  metrics + OpenTelemetry, OTLP export, 10 % of traces sampled (parentbased_traceidratio)
//   traced-100 metrics + OpenTelemetry, OTLP export, every request traced
//   npm run build -w services && npm run bench:telemetry
// Env: ROUNDS (default 6), DURATION_S (default 4), CONNECTIONS (default 16).
// Goal: throughput ratio metrics / bare ≥ 0.9 (the default configuration; exit 1 when missed).
// The handler does almost nothing (route + ~1 KB JSON), so every ratio is a worst case.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const DURATION = Number(process.env.DURATION_S ?? 4);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const GOAL = 0.9;

function start(script, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (c) => {
      const m = /listening (\d+)/.exec(String(c));
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

function wrk(url, seconds) {
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const toMs = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const p = (q) => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return { rps, p50_ms: p(50), p99_ms: p(99), non2xx: errors ? Number(errors[1]) : 0 };
}

const stop = (child) => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM'))));

const sink = await start('sink.mjs', ['0']);
const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.port}`, OTEL_BSP_SCHEDULE_DELAY: '1000' };
const MODES = {
  bare: ['bare', {}],
  histogram: ['histogram', {}],
  metrics: ['metrics', {}],
  'metrics-als': ['metrics-als', {}],
  'traced-10': ['traced', { ...otel, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }],
  'traced-100': ['traced', otel],
};
const runs = Object.fromEntries(Object.keys(MODES).map((m) => [m, []]));
let metricsSample = '';
for (let round = 1; round <= ROUNDS; round++) {
  for (const [mode, [serverMode, env]] of Object.entries(MODES)) {
    const srv = await start('server.mjs', [serverMode, '0'], env);
    const url = `http://127.0.0.1:${srv.port}/api/episodes/123`;
    wrk(url, 2); // warm-up (JIT, keep-alive sockets)
    const r = wrk(url, DURATION);
    runs[mode].push(r);
    if (mode === 'metrics') metricsSample = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    await stop(srv.child);
    console.log(`round ${round} ${mode.padEnd(11)} ${r.rps.toFixed(0)} req/s  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms`);
  }
}
const stats = await (await fetch(`http://127.0.0.1:${sink.port}/stats`)).json();
await stop(sink.child);

const best = (xs) => xs.reduce((a, b) => (b.rps > a.rps ? b : a));
const bests = Object.fromEntries(Object.entries(runs).map(([m, xs]) => [m, best(xs)]));
// On a shared box the CPU available to us swings several-fold within seconds; the best round of
// each mode is the one least disturbed, so best-of against best-of is the figure (the median
// per-round ratio is printed too, for the noise).
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const ratios = Object.fromEntries(
  Object.keys(runs).map((m) => [m, Number(median(runs[m].map((r, i) => r.rps / runs.bare[i].rps)).toFixed(3))]),
);
const bestRatios = Object.fromEntries(Object.entries(bests).map(([m, r]) => [m, Number((r.rps / bests.bare.rps).toFixed(3))]));
const ratio = bestRatios.metrics;
const observed = /podbrain_api_request_duration_seconds_count\{[^}]*route="\/api\/episodes\/:id"[^}]*\} (\d+)/.exec(metricsSample);
const result = {
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  load_avg_at_end: os.loadavg().map((x) => x.toFixed(2)),
  settings: { rounds: ROUNDS, duration_s: DURATION, connections: CONNECTIONS, wrk_threads: 1 },
  best: bests,
  median_round_ratio_vs_bare: ratios,
  best_of_ratio_vs_bare: bestRatios,
  goal: `metrics/bare >= ${GOAL}`,
  otlp_batches_received: stats.batches,
  otlp_bytes_received: stats.bytes,
  histogram_count_last_round: observed ? Number(observed[1]) : 0,
};
mkdirSync(path.join(here, '../results'), { recursive: true });
writeFileSync(path.join(here, '../results/telemetry.json'), `${JSON.stringify({ ...result, runs }, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
for (const [m, r] of Object.entries(bestRatios)) console.log(`${m.padEnd(11)} ${bests[m].rps.toFixed(0).padStart(6)} req/s (best)  ratio vs bare ${r.toFixed(3)}  (median per-round ratio ${ratios[m].toFixed(3)})`);
console.log(`goal: metrics/bare ≥ ${GOAL} → ${ratio >= GOAL ? 'met' : 'MISSED'}`);
if (!observed || stats.batches === 0) {
  console.error('the metrics mode recorded nothing or the traced modes exported no spans: the comparison is void');
  process.exit(1);
}
process.exit(ratio >= GOAL ? 0 : 1);
