#!/usr/bin/env node
// Playback saves (issue 18): the player PUTs /api/episodes/:key/playback every few seconds while it
// plays, so one save must stay cheap (one upsert). Measured against the api in this process
// (services/dist/api/bootstrap.js, real Postgres and Redis, 10,000 episodes seeded as bench:api does):
//  - one listener: `--requests` sequential PUTs, each a new position of the same episode (the upsert's update path);
//  - `--listeners` at once, each saving its own episode (the insert path once, then updates);
// Baseline in the same run and the same loop: GET /api/episodes/:key (the episode page's read).
// Also: what the Library page pays for its playback columns — PlaybackRepository.marksFor for a page
// of 50 keys (with 50 saved rows) against EpisodeRepository.list for that page, in this process.
// Usage: npm run build -w services && npm run bench:playback [-- --requests 2000 --listeners 16]
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dropDatabase, seedApiDatabase } from '../api/seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const dist = path.join(root, 'services/dist');
for (const f of ['api/bootstrap.js', 'repositories/playback.repository.js']) {
  if (!existsSync(path.join(dist, f))) {
    console.error(`missing services/dist/${f}: run "npm run build -w services" first`);
    process.exit(2);
  }
}
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    listeners: { type: 'string', default: '16' },
    episodes: { type: 'string', default: '10000' },
    db: { type: 'string', default: 'podbrain_bench_playback' },
  },
});
const N = Number(values.requests);
const L = Number(values.listeners);

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
function summary(label, lat) {
  const s = [...lat].sort((a, b) => a - b);
  const r = { label, n: s.length, p50_ms: +pct(s, 50).toFixed(3), p95_ms: +pct(s, 95).toFixed(3), p99_ms: +pct(s, 99).toFixed(3) };
  console.log(`${label.padEnd(58)} n=${String(r.n).padStart(5)}   p50 ${r.p50_ms.toFixed(2)} ms   p95 ${r.p95_ms.toFixed(2)} ms   p99 ${r.p99_ms.toFixed(2)} ms`);
  return r;
}

async function timed(fn) {
  const t = performance.now();
  const res = await fn();
  const ms = performance.now() - t;
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
  return ms;
}

const { dbUrl } = await seedApiDatabase({ db: values.db, episodes: Number(values.episodes), feeds: 20 });
const { loadConfig } = require(path.join(dist, 'config/config.js'));
const { bootstrapApi, listeningPort } = require(path.join(dist, 'api/bootstrap.js'));
const config = { ...loadConfig({ env: { DATABASE_URL: dbUrl, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: `bench-playback-${process.pid}`, LOG_LEVEL: 'silent', WEB_DIST_DIR: 'off', DATA_DIR: os.tmpdir() } }), apiPort: 0, role: 'api' };
const app = await bootstrapApi(config);
const base = `http://127.0.0.1:${listeningPort(app)}`;
const { Client } = require('pg');
const pg = new Client({ connectionString: dbUrl });
await pg.connect();
const keys = (await pg.query(`SELECT episode_key FROM episodes ORDER BY episode_key LIMIT $1`, [Math.max(L, 1)])).rows.map((r) => r.episode_key);
const put = (key, position_ms) => fetch(`${base}/api/episodes/${key}/playback`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ position_ms, duration_ms: 3_600_000 }) });
const getDetail = (key) => fetch(`${base}/api/episodes/${key}`);

try {
  // Warm-up: connections, prepared statements, JIT.
  for (let i = 0; i < 200; i++) {
    await timed(() => put(keys[0], i * 1000));
    await timed(() => getDetail(keys[0]));
  }
  const results = [];
  const seqPut = [];
  const seqGet = [];
  // Interleaved, so both see the same load on the box.
  for (let i = 0; i < N; i++) {
    seqPut.push(await timed(() => put(keys[0], (i % 3600) * 1000)));
    seqGet.push(await timed(() => getDetail(keys[0])));
  }
  results.push(summary('PUT playback, one listener, sequential', seqPut));
  results.push(summary('baseline: GET /api/episodes/:key, same loop', seqGet));
  const concPut = [];
  const per = Math.ceil(N / L);
  await Promise.all(keys.slice(0, L).map(async (key) => {
    for (let i = 0; i < per; i++) concPut.push(await timed(() => put(key, i * 5000)));
  }));
  results.push(summary(`PUT playback, ${L} listeners at once (own episodes)`, concPut));
  const concGet = [];
  await Promise.all(keys.slice(0, L).map(async (key) => {
    for (let i = 0; i < per; i++) concGet.push(await timed(() => getDetail(key)));
  }));
  results.push(summary(`baseline: GET /api/episodes/:key, ${L} at once`, concGet));
  // The Library page's share: marksFor(50 keys) vs the page query, sequential, interleaved.
  const { Database } = require(path.join(dist, 'db/database.js'));
  const { EpisodeRepository } = require(path.join(dist, 'repositories/episodes.repository.js'));
  const { PlaybackRepository } = require(path.join(dist, 'repositories/playback.repository.js'));
  const { silentLogger } = require(path.join(dist, 'core/logger.js'));
  const database = new Database({ databaseUrl: dbUrl }, silentLogger, { poolSize: 4, applicationName: 'bench-playback' });
  const episodesRepo = new EpisodeRepository(database);
  const playbackRepo = new PlaybackRepository(database);
  const page = await episodesRepo.list('default', { limit: 50 });
  const pageKeys = page.items.map((e) => e.episode_key);
  await playbackRepo.mark('default', pageKeys, true);
  const listLat = [];
  const marksLat = [];
  for (let i = 0; i < N + 200; i++) {
    let t = performance.now();
    await episodesRepo.list('default', { limit: 50 });
    if (i >= 200) listLat.push(performance.now() - t);
    t = performance.now();
    await playbackRepo.marksFor('default', pageKeys);
    if (i >= 200) marksLat.push(performance.now() - t);
  }
  await database.close();
  results.push(summary('Library page: list(limit 50) with its playback read, in-process', listLat));
  results.push(summary('  of which the playback read alone: marksFor(50 keys)', marksLat));
  const rows = (await pg.query(`SELECT count(*)::int AS n FROM playback`)).rows[0].n;
  console.log(`ratio PUT/GET p50: sequential ×${(results[0].p50_ms / results[1].p50_ms).toFixed(2)}, ${L} at once ×${(results[2].p50_ms / results[3].p50_ms).toFixed(2)}; playback rows: ${rows}; load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`BENCH_JSON ${JSON.stringify({ results, rows, load: os.loadavg() })}`);
} finally {
  await pg.end();
  await app.close();
  await dropDatabase(values.db);
}
