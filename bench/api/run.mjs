#!/usr/bin/env node
// API figure (issue 5): GET /api/episodes?limit=50 with 10,000 episodes seeded, 32 concurrent
// connections, measured with wrk (Debian) — throughput and p95. The api runs as its real role
// process (`node services/dist/main.js api`) against real Postgres and Redis.
// Baseline in the same run: a raw node:http handler answering the same bytes (no framework, no
// database), so the ratio says what Nest + validation + Postgres cost per request. Also measured:
// GET /api/admin/deploy (the same Nest stack, guard and middleware, no I/O: the framework's share),
// GET /healthz of the api (Postgres + Redis + disk probes), and the same page through the api's
// repository in the bench process with 32 concurrent callers (the database's share, no HTTP).
// Usage: npm run build -w services && npm run bench:api [-- --episodes 10000 --connections 32 --duration 10 --keep]
import { execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { adminUrl, dropDatabase, freePort, seedApiDatabase, waitHttp } from './seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const dist = path.join(root, 'services/dist');
for (const f of ['main.js', 'api/bootstrap.js', 'db/migrate.js', 'repositories/episodes.repository.js']) {
  if (!existsSync(path.join(dist, f))) {
    console.error(`missing services/dist/${f}: run "npm run build -w services" first`);
    process.exit(2);
  }
}
try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (e) {
  if (e.code === 'ENOENT') {
    console.error('wrk not found: apt-get install wrk');
    process.exit(2);
  }
}

const { values } = parseArgs({
  options: {
    episodes: { type: 'string', default: '10000' },
    feeds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    duration: { type: 'string', default: '10' },
    db: { type: 'string', default: 'podbrain_bench_api' },
    keep: { type: 'boolean', default: false }, // keep the seeded database for EXPLAIN ANALYZE afterwards
  },
});
const EPISODES = Number(values.episodes);
const FEEDS = Number(values.feeds);
const C = Number(values.connections);
const dbUrl = adminUrl.replace(/\/[^/]*$/, `/${values.db}`);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function wrk(url, label) {
  const args = ['-t', values.threads, '-c', String(C), '-d', `${values.duration}s`, '--latency', '-s', path.join(here, 'report.lua'), url];
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
  const r = JSON.parse(line.slice('WRK_JSON '.length));
  const rps = r.requests / (r.duration_us / 1e6);
  const res = { label, url, rps: Math.round(rps), p50_ms: r.p50_us / 1000, p95_ms: r.p95_us / 1000, p99_ms: r.p99_us / 1000, errors: r.errors, non2xx: r.non2xx, requests: r.requests };
  console.log(`${label.padEnd(36)} ${String(res.rps).padStart(7)} req/s   p50 ${res.p50_ms.toFixed(1)} ms   p95 ${res.p95_ms.toFixed(1)} ms   p99 ${res.p99_ms.toFixed(1)} ms   errors ${r.errors} non-2xx ${r.non2xx}`);
  return res;
}

/** The same page through the api's repository in this process (no HTTP, no Nest): the database's share. */
async function repositoryOnly() {
  const { Database } = require(path.join(dist, 'db/database.js'));
  const { EpisodeRepository } = require(path.join(dist, 'repositories/episodes.repository.js'));
  const { silentLogger } = require(path.join(dist, 'core/logger.js'));
  // As the api role opens it (api/bootstrap.ts).
  const db = new Database({ databaseUrl: dbUrl }, silentLogger, { poolSize: 20, applicationName: 'podbrain-api', failFast: true });
  const repo = new EpisodeRepository(db);
  for (let i = 0; i < 50; i++) await repo.list('default', { limit: 50 });
  const lat = [];
  const until = performance.now() + Number(values.duration) * 1000;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await repo.list('default', { limit: 50 });
        lat.push(performance.now() - t);
      }
    }),
  );
  await db.close();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  const res = { label: 'repository.list alone (no HTTP)', url: null, rps: Math.round(lat.length / Number(values.duration)), p50_ms: q(50), p95_ms: q(95), p99_ms: q(99), errors: 0, non2xx: 0, requests: lat.length };
  console.log(`${res.label.padEnd(36)} ${String(res.rps).padStart(7)} pages/s p50 ${res.p50_ms.toFixed(1)} ms   p95 ${res.p95_ms.toFixed(1)} ms   p99 ${res.p99_ms.toFixed(1)} ms   (${C} concurrent, same pool size)`);
  return res;
}

const { count: seeded } = await seedApiDatabase({ db: values.db, episodes: EPISODES, feeds: FEEDS });
console.log(`seeded ${seeded} episodes in ${FEEDS} feeds (database ${values.db})`);

const apiPort = await freePort();
const api = spawn(process.execPath, [path.join(dist, 'main.js'), 'api'], {
  env: {
    ...process.env,
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: `bench-api-${process.pid}`,
    API_PORT: String(apiPort),
    LOG_LEVEL: 'warn',
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-api-')),
    AUTH_API_KEY: '',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
let baseline;
try {
  const apiBase = `http://127.0.0.1:${apiPort}`;
  await waitHttp(`${apiBase}/healthz`);
  const page = await (await waitHttp(`${apiBase}/api/episodes?limit=50`)).text();
  const items = JSON.parse(page).items.length;
  if (items !== 50) throw new Error(`expected 50 episodes on the page, got ${items}`);
  baseline = fork(path.join(here, 'baseline-server.mjs'), [page], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port: basePort } = await new Promise((resolve) => baseline.once('message', resolve));

  console.log(`wrk -t${values.threads} -c${C} -d${values.duration}s --latency; page = ${page.length} bytes; cpus = ${os.cpus().length}`);
  execFileSync('wrk', ['-t', '1', '-c', '8', '-d', '2s', `${apiBase}/api/episodes?limit=50`], { stdio: 'ignore' }); // warm-up (JIT, pool)
  const raw = wrk(`http://127.0.0.1:${basePort}/`, 'baseline: raw node:http, same bytes');
  const framework = wrk(`${apiBase}/api/admin/deploy`, 'api GET /api/admin/deploy (no I/O)');
  const healthz = wrk(`${apiBase}/healthz`, 'api GET /healthz');
  const episodes = wrk(`${apiBase}/api/episodes?limit=50`, 'api GET /api/episodes?limit=50');
  const dbOnly = await repositoryOnly();
  const ratio = episodes.rps / raw.rps;
  const goal = episodes.rps >= 1000 && episodes.p95_ms <= 50;
  console.log(`api episodes / repository alone: ${(episodes.rps / dbOnly.rps).toFixed(2)}`);
  console.log(`episodes/raw throughput ratio ${ratio.toFixed(3)}; goal (>= 1,000 req/s and p95 <= 50 ms): ${goal ? 'met' : 'NOT met'}`);
  const out = path.join(root, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'api.json'),
    JSON.stringify({ at: new Date().toISOString(), cpus: os.cpus().length, episodes: seeded, connections: C, duration_s: Number(values.duration), page_bytes: page.length, runs: [raw, framework, healthz, episodes, dbOnly], ratio_vs_raw: ratio, goal_met: goal }, null, 2) + '\n',
  );
} finally {
  baseline?.kill('SIGTERM');
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
  if (!values.keep) await dropDatabase(values.db);
}
