#!/usr/bin/env node
// API soak (issue 12 point 11): does the api role's memory plateau under hours of ordinary use?
// The api runs as its real role process, started as the image starts it (`node --require
// services/dist/telemetry/register.js services/dist/main.js api`), against real Postgres and
// Redis, with 10,000 episodes in 20 feeds (bench/api/seed.mjs) and ~30,000 transcript chunks for
// full-text search. For --minutes (default 10) it serves a mix of reads and searches from
// --connections concurrent clients (episode pages walked through their cursors, details, feeds,
// subscriptions, searches with ever-new words, job lookups, admin reads, bad input answered 4xx)
// and --sse event-stream clients that reconnect every 5–30 s while an event is published on the
// Redis channel every 200 ms. The api's RSS (/proc/<pid>/status) and its V8 heap (/metrics) are
// sampled every --sample seconds. RSS "at" a mark is the highest sample of the minute before it (one
// sample alone lands anywhere on the garbage collector's saw-tooth, ±50 MB under this load), given
// at 1 minute, at half time and at the end; with it the lowest heap-used of that minute (what
// survives a collection: a leak shows as a floor that keeps rising).
// Goal: RSS at the end ≤ 1.1 × RSS at half time (for the default 10 minutes: 10-min ≤ 1.1 × 5-min).
// Usage: npm run build -w services && npm run bench:soak [-- --minutes 10 --connections 16 --sse 20 --sample 10]
// Writes bench/results/soak.json; exits 1 when the goal is missed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dropDatabase, freePort, seedApiDatabase, waitHttp } from '../api/seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(root, 'services/dist');
const require = createRequire(path.join(root, 'services/package.json'));
const { Client } = require('pg');
const IORedis = require('ioredis');

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    sse: { type: 'string', default: '20' },
    sample: { type: 'string', default: '10' },
    episodes: { type: 'string', default: '10000' },
    feeds: { type: 'string', default: '20' },
    db: { type: 'string', default: 'podbrain_bench_soak' },
    keep: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(values.minutes);
const DURATION_MS = MINUTES * 60_000;
const C = Number(values.connections);
const SSE = Number(values.sse);
const SAMPLE_MS = Number(values.sample) * 1000;
const GOAL = 1.1;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `bench-soak-${process.pid}`;

const WORDS = 'the podcast talks about compilers gardens history music science weather football economics cooking chess physics poetry cities rivers sleep memory language'.split(' ');
const pick = (a) => a[Math.floor(Math.random() * a.length)];

// --- database ---------------------------------------------------------------------------
const { dbUrl, count } = await seedApiDatabase({ db: values.db, episodes: Number(values.episodes), feeds: Number(values.feeds) });
{
  const pg = new Client({ connectionString: dbUrl });
  await pg.connect();
  // Three chunks for each of the first 10,000 episodes: full-text search has something to rank.
  await pg.query(
    `INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms)
     SELECT e.episode_key, 'soak', c, 'In this part we talk about ' || ($1::text[])[1 + (n * 7 + c) % $2] || ' and ' || ($1::text[])[1 + (n * 13 + c * 3) % $2] || ', then ' || ($1::text[])[1 + (n + c * 5) % $2] || ' for a while.',
            c * 30000, c * 30000 + 29000
     FROM (SELECT episode_key, (row_number() OVER (ORDER BY episode_key))::int AS n FROM episodes LIMIT 10000) e, generate_series(0, 2) c`,
    [WORDS, WORDS.length],
  );
  await pg.query('ANALYZE chunks');
  var keys = (await pg.query('SELECT episode_key FROM episodes ORDER BY random() LIMIT 2000')).rows.map((r) => r.episode_key);
  var feedIds = (await pg.query('SELECT id FROM feeds')).rows.map((r) => r.id);
  var chunks = (await pg.query('SELECT count(*)::int AS n FROM chunks')).rows[0].n;
  await pg.end();
}
console.log(`seeded ${count} episodes, ${chunks} chunks (database ${values.db})`);

// --- the api role -----------------------------------------------------------------------
const apiPort = await freePort();
const api = spawn(process.execPath, ['--require', path.join(dist, 'telemetry/register.js'), path.join(dist, 'main.js'), 'api'], {
  env: {
    ...process.env,
    DATABASE_URL: dbUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    API_PORT: String(apiPort),
    LOG_LEVEL: 'warn',
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-soak-')),
    AUTH_API_KEY: '',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const base = `http://127.0.0.1:${apiPort}`;
const rssMb = () => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${api.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
async function heapMb() {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const v = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
    return { heap_used: v('nodejs_heap_size_used_bytes'), heap_total: v('nodejs_heap_size_total_bytes'), external: v('nodejs_external_memory_bytes') };
  } catch {
    return {};
  }
}

// --- load -------------------------------------------------------------------------------
const stats = new Map(); // kind → { n, errors, unexpected, lat[] }
const errorKinds = new Map(); // message → count
function record(kind, ms, ok, expected) {
  let s = stats.get(kind);
  if (!s) stats.set(kind, (s = { n: 0, errors: 0, unexpected: 0, lat: [] }));
  s.n++;
  if (!ok) s.errors++;
  else if (!expected) s.unexpected++;
  if (s.lat.length < 200_000) s.lat.push(ms);
}

async function get(kind, p, want = (st) => st === 200) {
  const t = performance.now();
  try {
    const res = await fetch(`${base}${p}`);
    const body = await res.text();
    record(kind, performance.now() - t, true, want(res.status));
    return res.status === 200 && body.startsWith('{') ? JSON.parse(body) : null;
  } catch (e) {
    record(kind, performance.now() - t, false, false);
    const why = `${e.message}${e.cause ? `: ${e.cause.code ?? ''} ${e.cause.message ?? ''}` : ''}`;
    errorKinds.set(why, (errorKinds.get(why) ?? 0) + 1);
    return null;
  }
}

const badRequests = ['/api/search?q=a%00b', '/api/episodes?limit=0', '/api/episodes?cursor=zzz', '/api/episodes/a%00b', '/API/ADMIN/config', '/api/nope'];
const REQUESTS = [
  [30, 'episodes page', async () => {
    // A reader scrolling: the first page, then up to 4 more through the cursor.
    let page = await get('episodes page', `/api/episodes?limit=50`);
    for (let i = 0; i < 4 && page?.next_cursor && Math.random() < 0.6; i++) page = await get('episodes page', `/api/episodes?limit=50&cursor=${page.next_cursor}`);
  }],
  [10, 'episodes by feed', () => get('episodes by feed', `/api/episodes?limit=20&feed_id=${pick(feedIds)}${Math.random() < 0.3 ? '&state=done' : ''}`)],
  [15, 'episode detail', () => get('episode detail', `/api/episodes/${pick(keys)}`)],
  [5, 'episode transcript (404)', () => get('episode transcript (404)', `/api/episodes/${pick(keys)}/transcript`, (st) => st === 404)],
  [15, 'search', () => get('search', `/api/search?q=${encodeURIComponent(`${pick(WORDS)} ${pick(WORDS)}${Math.random() < 0.5 ? ` ${Math.random().toString(36).slice(2, 8)}` : ''}`)}&k=${1 + Math.floor(Math.random() * 20)}`)],
  [8, 'feeds', () => get('feeds', Math.random() < 0.5 ? '/api/feeds' : '/api/subscriptions')],
  [4, 'job lookup (404)', () => get('job lookup (404)', `/api/jobs/transcribe.${Math.random().toString(16).slice(2)}`, (st) => st === 404)],
  [5, 'admin reads', () => get('admin reads', pick(['/api/admin/queues', '/api/admin/config', '/api/admin/deploy', '/api/admin/jobs?state=failed', '/api/health']))],
  [3, 'graph', () => get('graph', '/api/graph')],
  [5, 'bad input (4xx)', () => get('bad input (4xx)', pick(badRequests), (st) => st >= 400 && st < 500)],
];
const totalWeight = REQUESTS.reduce((a, [w]) => a + w, 0);
function nextRequest() {
  let r = Math.random() * totalWeight;
  for (const [w, , fn] of REQUESTS) if ((r -= w) < 0) return fn;
  return REQUESTS[0][2];
}

let stopping = false;
async function client() {
  while (!stopping) await nextRequest()();
}

let sseConnects = 0;
let sseEvents = 0;
const sseRequests = new Set();
function sseClient() {
  if (stopping) return;
  sseConnects++;
  const req = http.get(`${base}/api/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk) => (sseEvents += chunk.split('event: episode').length - 1));
    res.on('error', () => undefined);
  });
  sseRequests.add(req);
  req.on('error', () => undefined);
  req.on('close', () => sseRequests.delete(req));
  const t = setTimeout(() => {
    req.destroy();
    sseClient();
  }, 5000 + Math.random() * 25_000);
  req.on('close', () => stopping && clearTimeout(t));
}

const publisher = new IORedis(redisUrl);
let published = 0;
const publishTimer = setInterval(() => {
  const key = pick(keys);
  published++;
  void publisher.publish(`${prefix}:events`, JSON.stringify({ type: 'episode', episode_key: key, feed_id: 'feed1', state: pick(['transcribing', 'enriching', 'done']), stage: 'transcribe', at: new Date().toISOString() }));
}, 200);

// --- run --------------------------------------------------------------------------------
const samples = [];
let exitCode = 0;
try {
  await waitHttp(`${base}/healthz`);
  await get('warm-up', '/api/episodes?limit=50');
  stats.clear();
  const idle = rssMb();
  console.log(`api pid ${api.pid}: RSS ${idle.toFixed(1)} MB after start; ${MINUTES} min of load: ${C} clients, ${SSE} SSE clients (reconnecting every 5–30 s), an event every 200 ms; cpus = ${os.cpus().length}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const t0 = Date.now();
  const sample = async () => {
    const s = { t_s: Math.round((Date.now() - t0) / 1000), rss_mb: Number(rssMb().toFixed(1)), ...(await heapMb()), sse_clients: sseRequests.size, requests: [...stats.values()].reduce((a, x) => a + x.n, 0), load1: Number(os.loadavg()[0].toFixed(2)) };
    for (const k of ['heap_used', 'heap_total', 'external']) if (typeof s[k] === 'number') s[k] = Number(s[k].toFixed(1));
    samples.push(s);
    console.log(`  t=${String(s.t_s).padStart(4)} s  RSS ${s.rss_mb.toFixed(1).padStart(6)} MB  heap used ${String(s.heap_used).padStart(6)} / total ${String(s.heap_total).padStart(6)} MB  external ${String(s.external).padStart(5)} MB  requests ${s.requests}  load ${s.load1}`);
  };
  for (let i = 0; i < SSE; i++) sseClient();
  const clients = Array.from({ length: C }, client);
  await sample();
  const timer = setInterval(() => void sample(), SAMPLE_MS);
  await new Promise((r) => setTimeout(r, DURATION_MS));
  clearInterval(timer);
  await sample();
  stopping = true;
  for (const r of sseRequests) r.destroy();
  await Promise.all(clients);

  // A mark: the minute before it (at least one sample), its highest RSS and lowest heap used.
  const at = (sec) => {
    const near = samples.reduce((best, s) => (Math.abs(s.t_s - sec) < Math.abs(best.t_s - sec) ? s : best));
    const win = samples.filter((s) => s.t_s > near.t_s - 60 && s.t_s <= near.t_s);
    return { t_s: near.t_s, rss_mb: Math.max(...win.map((s) => s.rss_mb)), rss_sample_mb: near.rss_mb, heap_floor_mb: Math.min(...win.map((s) => s.heap_used ?? Infinity)), samples: win.length };
  };
  const marks = { one: at(60), half: at((MINUTES * 60) / 2), end: at(samples[samples.length - 1].t_s) };
  const ratio = marks.end.rss_mb / marks.half.rss_mb;
  const goal = ratio <= GOAL;
  const elapsed = (Date.now() - t0) / 1000;
  const kinds = [...stats.entries()].map(([kind, s]) => {
    s.lat.sort((a, b) => a - b);
    const q = (p) => Number((s.lat[Math.min(s.lat.length - 1, Math.floor((p / 100) * s.lat.length))] ?? 0).toFixed(1));
    return { kind, requests: s.n, errors: s.errors, unexpected_status: s.unexpected, p50_ms: q(50), p95_ms: q(95) };
  });
  const total = kinds.reduce((a, k) => a + k.requests, 0);
  console.log('\nrequests by kind:');
  for (const k of kinds) console.log(`  ${k.kind.padEnd(26)} ${String(k.requests).padStart(8)}   p50 ${String(k.p50_ms).padStart(6)} ms   p95 ${String(k.p95_ms).padStart(6)} ms   errors ${k.errors}  unexpected status ${k.unexpected_status}`);
  console.log(`  ${'all'.padEnd(26)} ${String(total).padStart(8)}   ${(total / elapsed).toFixed(0)} req/s; SSE: ${sseConnects} connections, ${published} events published, ${sseEvents} delivered`);
  const mark = (m) => `${m.t_s} s: ${m.rss_mb} MB (heap floor ${m.heap_floor_mb} MB)`;
  for (const [why, n] of errorKinds) console.log(`  error ×${n}: ${why}`);
  console.log(`\napi RSS (highest of the minute before): idle ${idle.toFixed(1)} MB; ${mark(marks.one)}; ${mark(marks.half)}; ${mark(marks.end)}`);
  console.log(`end / half-time = ${ratio.toFixed(3)}; goal (≤ ${GOAL}): ${goal ? 'met' : 'NOT met'}`);
  const out = path.join(root, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'soak.json'),
    JSON.stringify({ at: new Date().toISOString(), cpus: os.cpus().length, minutes: MINUTES, connections: C, sse_clients: SSE, episodes: count, chunks, idle_rss_mb: idle, marks, ratio_end_half: ratio, goal_met: goal, requests: total, rps: total / elapsed, sse: { connects: sseConnects, published, delivered: sseEvents }, kinds, errors: Object.fromEntries(errorKinds), samples }, null, 2) + '\n',
  );
  if (!goal) exitCode = 1;
} finally {
  stopping = true;
  clearInterval(publishTimer);
  publisher.disconnect();
  api.kill('SIGTERM');
  await new Promise((r) => (api.exitCode !== null ? r() : api.once('exit', r)));
  if (!values.keep) await dropDatabase(values.db);
}
process.exit(exitCode);
