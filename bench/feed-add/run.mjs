#!/usr/bin/env node
// Feed-add figure (issue 15): a 500-episode feed added with the default policy (FEED_BACKFILL_DEFAULT,
// newest:3) to the real roles — api, scheduler and worker-io as their own processes (node services/dist/main.js
// <role>), on Postgres and Redis. Per add: how many episodes were queued for processing and how many
// transcriptions were enqueued (worker-io ingests the queued ones and hands them to the transcribe queue; no
// worker-gpu runs, so they stay there to be counted), how many were listed as skipped, and the api's latency:
// GET /api/episodes (the Library's first page) from 2 clients in a loop, idle before the add and during it
// (from the POST until the poll has stored the feed and the queued episodes reached the transcribe queue).
// Everything lives in a fresh database and its own Redis prefix, removed afterwards.
// Usage: npm run build -w services && npm run bench:feed-add [-- --episodes 500 --adds 3]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const dist = path.join(root, 'services/dist');
if (!existsSync(path.join(dist, 'main.js'))) {
  console.error('missing services/dist: run "npm run build -w services" first');
  process.exit(2);
}
const { createMigrationDataSource, migrateUp } = require(path.join(dist, 'db/migrate.js'));
const { Client } = require('pg');
const IORedis = require('ioredis');

const { values } = parseArgs({ options: { episodes: { type: 'string', default: '500' }, adds: { type: 'string', default: '3' }, idle: { type: 'string', default: '300' } } });
const EPISODES = Number(values.episodes);
const ADDS = Number(values.adds);
const IDLE_SAMPLES = Number(values.idle);
const ADMIN_URL = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const AUDIO = readFileSync(path.join(fixtures, 'audio/fleurs-en-000.ogg'));

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const stats = (xs) => ({ n: xs.length, p50: +pct(xs, 50).toFixed(2), p95: +pct(xs, 95).toFixed(2), max: +Math.max(...xs).toFixed(2) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** `count` items, newest first, an hour apart; enclosures served by this process. */
function feedXml(name, count, base) {
  const start = Date.UTC(2024, 0, 1);
  const items = [];
  for (let i = 0; i < count; i++) {
    const n = count - i;
    items.push(
      `<item><guid isPermaLink="false">${name}-${n}</guid><title>${name} episode ${n}</title><pubDate>${new Date(start + n * 3_600_000).toUTCString()}</pubDate>` +
        `<itunes:duration>${1800 + (n % 7) * 300}</itunes:duration><description>Episode ${n} of ${name}.</description>` +
        `<enclosure url="${base}/audio/${name}-${n}.ogg" type="audio/ogg" length="${AUDIO.length}"/></item>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>${name}</title><link>https://example.com/</link><description>bench</description>${items.join('')}</channel></rss>`;
}

// ---------------------------------------------------------------- the feed server
const feeds = new Map();
const audioRequests = { n: 0 };
const server = http.createServer((req, res) => {
  const p = (req.url ?? '/').split('?')[0];
  if (p.startsWith('/audio/')) {
    audioRequests.n++;
    res.writeHead(200, { 'content-type': 'audio/ogg', 'content-length': AUDIO.length }).end(AUDIO);
    return;
  }
  const body = feeds.get(p);
  if (!body) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(body);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const feedBase = `http://127.0.0.1:${server.address().port}`;

// ---------------------------------------------------------------- database, roles
const dbName = `podbrain_bench_feedadd_${process.pid}`;
const admin = new Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`);
const ds = await createMigrationDataSource(dbUrl, { poolSize: 2 }).initialize();
await migrateUp(ds);
await ds.destroy();
const db = new Client({ connectionString: dbUrl });
await db.connect();
const prefix = `pbbench_fa_${process.pid}`;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-feedadd-'));
mkdirSync(path.join(dataDir, 'models'), { recursive: true });
const apiPort = await freePort();
const env = {
  ...process.env,
  DATABASE_URL: dbUrl,
  REDIS_URL,
  QUEUE_PREFIX: prefix,
  DATA_DIR: dataDir,
  MODELS_DIR: path.join(dataDir, 'models'),
  PODBRAIN_CONFIG: '',
  ALLOW_PRIVATE_NETWORK: 'true',
  AUTH_API_KEY: '',
  LOG_LEVEL: 'warn',
  SCHEDULER_TICK_MS: '500',
  // a configured transcription engine (never called: no worker-gpu runs), so queued episodes reach the transcribe queue
  ASR_ENGINES: 'openai',
  OPENAI_API_KEY: 'bench',
  OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
};
const children = [];
async function startRole(role) {
  const healthPort = role === 'api' ? apiPort : await freePort();
  const child = spawn(process.execPath, [path.join(dist, 'main.js'), role], { env: { ...env, HEALTH_PORT: String(healthPort), API_PORT: String(apiPort) }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${healthPort}/healthz`).then((r) => r.ok, () => false);
    if (ok) return child;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${role} did not become healthy`);
    await sleep(200);
  }
}

const redis = new IORedis(REDIS_URL);
async function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  await db.end();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  server.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const api = `http://127.0.0.1:${apiPort}`;
/** The Library's first page from `clients` loops until `until()` says stop; latencies in ms. */
async function sampleEpisodes(until, clients = 2) {
  const lat = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!until(lat.length)) {
        const t0 = performance.now();
        const r = await fetch(`${api}/api/episodes?limit=50`);
        await r.arrayBuffer();
        if (!r.ok) throw new Error(`GET /api/episodes: ${r.status}`);
        lat.push(performance.now() - t0);
      }
    }),
  );
  return lat;
}

async function count(sql, params = []) {
  return Number((await db.query(sql, params)).rows[0].n);
}
async function transcribeJobs() {
  const keys = ['wait', 'prioritized', 'active', 'completed', 'failed', 'delayed'];
  let n = 0;
  for (const k of keys) {
    const key = `${prefix}:transcribe:${k}`;
    const type = await redis.type(key);
    n += type === 'zset' ? await redis.zcard(key) : type === 'list' ? await redis.llen(key) : 0;
  }
  return n;
}

let report;
try {
  await startRole('api');
  await startRole('scheduler');
  await startRole('worker-io');
  await sampleEpisodes((n) => n >= 30); // warm up
  const idleEmpty = await sampleEpisodes((n) => n >= IDLE_SAMPLES);

  const adds = [];
  const during = [];
  for (let a = 0; a < ADDS; a++) {
    const name = `show${a + 1}`;
    feeds.set(`/${name}.xml`, feedXml(name, EPISODES, feedBase));
    const transcribeBefore = await transcribeJobs();
    let done = false;
    const t0 = performance.now();
    const sampling = sampleEpisodes(() => done);
    const res = await fetch(`${api}/api/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${feedBase}/${name}.xml` }) });
    const feed = await res.json();
    if (res.status !== 202) throw new Error(`POST /api/feeds: ${res.status} ${JSON.stringify(feed)}`);
    const postMs = performance.now() - t0;
    // done: every item stored, and every queued episode has reached the transcribe queue
    let stored = 0;
    let queued = 0;
    for (const deadline = Date.now() + 120_000; ; ) {
      stored = await count(`SELECT count(*) AS n FROM episodes WHERE feed_id = $1`, [feed.id]);
      queued = await count(`SELECT count(*) AS n FROM episodes WHERE feed_id = $1 AND state <> 'skipped'`, [feed.id]);
      const waiting = await count(`SELECT count(*) AS n FROM episodes WHERE feed_id = $1 AND state = 'transcribing'`, [feed.id]);
      if (stored === EPISODES && waiting === queued) break;
      if (Date.now() > deadline) throw new Error(`feed ${name}: ${stored} stored, ${waiting}/${queued} at transcribe after 120 s`);
      await sleep(50);
    }
    const storedMs = performance.now() - t0;
    done = true;
    const lat = await sampling;
    during.push(...lat);
    const skipped = await count(`SELECT count(*) AS n FROM episodes WHERE feed_id = $1 AND state = 'skipped'`, [feed.id]);
    adds.push({ feed: name, post_ms: +postMs.toFixed(1), stored_and_queued_ms: +storedMs.toFixed(0), episodes: stored, queued, skipped, transcriptions_enqueued: (await transcribeJobs()) - transcribeBefore, during: stats(lat) });
    console.log(`[feed-add] ${name}: POST ${postMs.toFixed(0)} ms; ${stored} stored, ${queued} queued, ${skipped} skipped; ${adds.at(-1).transcriptions_enqueued} transcriptions enqueued; done in ${storedMs.toFixed(0)} ms; GET /api/episodes during: p95 ${adds.at(-1).during.p95} ms (${lat.length} samples)`);
    await sleep(500);
  }
  const idleFull = await sampleEpisodes((n) => n >= IDLE_SAMPLES);
  report = {
    when: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    episodes_per_feed: EPISODES,
    adds,
    audio_requests: audioRequests.n,
    get_episodes_ms: { idle_before: stats(idleEmpty), during_adds: stats(during), idle_after: stats(idleFull) },
    p95_ratio_during_vs_idle_before: +(pct(during, 95) / pct(idleEmpty, 95)).toFixed(2),
    p95_ratio_during_vs_idle_after: +(pct(during, 95) / pct(idleFull, 95)).toFixed(2),
  };
} finally {
  await cleanup();
}
console.log(JSON.stringify(report, null, 2));
const out = path.join(root, 'bench/results');
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, 'feed-add.json'), `${JSON.stringify(report, null, 2)}\n`);
