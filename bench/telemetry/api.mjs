#!/usr/bin/env node
// Telemetry overhead on the REAL api (issue 6): the api role process (`node --require
// services/dist/telemetry/register.js services/dist/main.js api`, as the image starts it) serving
// GET /api/episodes?limit=50 from 10,000 seeded episodes, wrk -c32, with and without telemetry
// in the same run, modes interleaved per round, median per-round ratio:
//   off         API_REQUEST_METRICS=false, no OTLP endpoint (no request metrics, no tracing)
//   metrics     the default: request histogram + counters on /metrics (no OTLP endpoint)
//   traced-10   metrics + OpenTelemetry (http/express/pg/ioredis instrumentation, OTLP export
//               to a local sink), 10 % of traces sampled
//   traced-100  the same, every request traced
// The correlation id (header in/out, JSON log field) is part of every mode: it is not optional.
// Usage: npm run build -w services && npm run bench:telemetry-api [-- --rounds 3 --duration 6]
// Goal: metrics / off ≥ 0.9 (exit 1 when missed).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dropDatabase, freePort, seedApiDatabase, waitHttp } from '../api/seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(root, 'services/dist');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '6' },
    connections: { type: 'string', default: '32' },
    db: { type: 'string', default: 'podbrain_bench_telemetry' },
  },
});
const ROUNDS = Number(values.rounds);
const GOAL = 0.9;

function wrk(url, seconds, connections) {
  const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', path.join(root, 'bench/api/report.lua'), url], { encoding: 'utf8' });
  const r = JSON.parse(out.split('\n').find((l) => l.startsWith('WRK_JSON ')).slice('WRK_JSON '.length));
  return { rps: r.requests / (r.duration_us / 1e6), p50_ms: r.p50_us / 1000, p95_ms: r.p95_us / 1000, p99_ms: r.p99_us / 1000, non2xx: r.non2xx, errors: r.errors };
}

const stop = (child) => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM'))));

const { dbUrl, count } = await seedApiDatabase({ db: values.db, episodes: 10_000, feeds: 20 });
console.log(`seeded ${count} episodes; wrk -t2 -c${values.connections} -d${values.duration}s per mode, ${ROUNDS} interleaved rounds`);
const sink = spawn(process.execPath, [path.join(here, 'sink.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const sinkPort = await new Promise((resolve) => sink.stdout.on('data', (c) => /listening (\d+)/.test(String(c)) && resolve(Number(/listening (\d+)/.exec(String(c))[1]))));
const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`, OTEL_BSP_SCHEDULE_DELAY: '1000' };
const MODES = {
  off: { API_REQUEST_METRICS: 'false' },
  metrics: {},
  'traced-10': { ...otel, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
  'traced-100': otel,
};
const runs = Object.fromEntries(Object.keys(MODES).map((m) => [m, []]));
let histogramSeen = false;
let histogramOff = false;
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [mode, env] of Object.entries(MODES)) {
      const port = await freePort();
      const api = spawn(process.execPath, ['--require', path.join(dist, 'telemetry/register.js'), path.join(dist, 'main.js'), 'api'], {
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))),
          DATABASE_URL: dbUrl,
          REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
          QUEUE_PREFIX: `bench-tel-${process.pid}`,
          API_PORT: String(port),
          LOG_LEVEL: 'warn',
          DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-tel-')),
          AUTH_API_KEY: '',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      try {
        const url = `http://127.0.0.1:${port}/api/episodes?limit=50`;
        await waitHttp(url);
        wrk(url, 2, 8); // warm-up: JIT, pool, prepared statements
        const r = wrk(url, Number(values.duration), Number(values.connections));
        runs[mode].push(r);
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const recorded = /podbrain_api_request_duration_seconds_count\{[^}]*\} [1-9]/.test(metrics);
        if (mode === 'metrics' && recorded) histogramSeen = true;
        if (mode === 'off' && recorded) histogramOff = true;
        console.log(`round ${round} ${mode.padEnd(10)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50_ms.toFixed(1)} ms  p95 ${r.p95_ms.toFixed(1)} ms  p99 ${r.p99_ms.toFixed(1)} ms${r.non2xx || r.errors ? `  non-2xx ${r.non2xx} errors ${r.errors}` : ''}`);
      } finally {
        await stop(api);
      }
    }
  }
} finally {
  await dropDatabase(values.db);
}
const stats = await (await fetch(`http://127.0.0.1:${sinkPort}/stats`)).json();
await stop(sink);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const ratios = Object.fromEntries(Object.keys(runs).map((m) => [m, median(runs[m].map((r, i) => r.rps / runs.off[i].rps))]));
const result = {
  at: new Date().toISOString(),
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
  load_avg_at_end: os.loadavg().map((x) => Number(x.toFixed(2))),
  settings: { rounds: ROUNDS, duration_s: Number(values.duration), connections: Number(values.connections), episodes: count },
  median_rps: Object.fromEntries(Object.entries(runs).map(([m, xs]) => [m, Math.round(median(xs.map((r) => r.rps)))])),
  median_round_ratio_vs_off: Object.fromEntries(Object.entries(ratios).map(([m, v]) => [m, Number(v.toFixed(3))])),
  otlp_batches_received: stats.batches,
  runs,
};
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/telemetry-api.json'), `${JSON.stringify(result, null, 2)}\n`);
for (const m of Object.keys(runs)) console.log(`${m.padEnd(10)} median ${String(result.median_rps[m]).padStart(6)} req/s   ratio vs off ${ratios[m].toFixed(3)} (median of per-round ratios)`);
if (!histogramSeen || histogramOff || stats.batches === 0) {
  console.error(`the modes did not differ as intended (histogram in metrics mode: ${histogramSeen}, in off mode: ${histogramOff}, OTLP batches: ${stats.batches}): the comparison is void`);
  process.exit(1);
}
console.log(`goal: metrics / off ≥ ${GOAL} → ${ratios.metrics >= GOAL ? 'met' : 'MISSED'}`);
process.exit(ratios.metrics >= GOAL ? 0 : 1);
