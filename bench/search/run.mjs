#!/usr/bin/env node
// Vector search benchmark: exact (Flat) vs ANN (IVF, HNSW) over N random 384-d unit vectors,
// through podbrain's FAISS binding (services/native/faiss) exactly as the search service uses it
// (searchAsync on libuv's pool, one OpenMP thread per search).
//
//   node bench/search/run.mjs --size 100k|1m [--queries 200] [--types ivf,hnsw] [--data clustered|lowrank|uniform] [--nlist-factor 4 (IVF cells = factor·√N, podbrain's default 4)]
//
// Data: `clustered` (default) draws each vector from a mixture of 1,000 Gaussian clusters in 384-d
// (centre ~ N(0,1), noise ~ N(0,1) per coordinate) and normalises it — structured like real
// sentence embeddings, which live near a low-dimensional manifold. `lowrank` puts the points on a
// continuous 32-d linear subspace plus noise (no clusters for IVF's cells to align with: harder).
// `uniform` (i.i.d. Gaussian
// directions) has no neighbourhood structure at all; no ANN index reaches high recall on it
// cheaply, so it is reported only as a worst case. Queries are fresh draws, not base vectors.
//
// Reports per index: build time, RSS growth, p50/p95 single-query latency, recall@10 against the
// exact Flat results of the same run, and the latency ratio Flat/ANN. Then the event-loop lag
// (perf_hooks.monitorEventLoopDelay) of this process while 50 searches run concurrently, against
// the same 50 searches made with the synchronous call as the baseline.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(import.meta.url);
const { NativeIndex } = require(path.join(root, 'services/native/faiss/build/Release/podbrain_faiss.node'));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') ? 'true' : all[i + 1]]] : acc), []),
);
const SIZES = { '10k': 10_000, '100k': 100_000, '1m': 1_000_000 };
const sizeName = (args.size ?? '100k').toLowerCase();
const N = SIZES[sizeName] ?? Number(sizeName);
if (!N) throw new Error(`--size must be 100k or 1m, got ${args.size}`);
const D = 384;
const K = 10;
const NQ = Number(args.queries ?? (N >= 1_000_000 ? 100 : 200));
const TYPES = (args.types ?? 'ivf,hnsw').split(',');
const DATA = args.data ?? 'clustered';
const CONCURRENCY = 50;
const RECALL_GOAL = 0.95;

// ---- data ----
let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return (seed + 0.5) / 4294967296;
};
let spare = null;
function gauss() {
  if (spare !== null) {
    const s = spare;
    spare = null;
    return s;
  }
  const r = Math.sqrt(-2 * Math.log(rnd()));
  const t = 2 * Math.PI * rnd();
  spare = r * Math.sin(t);
  return r * Math.cos(t);
}
const CLUSTERS = 1000;
const centres = new Float32Array(CLUSTERS * D);
for (let i = 0; i < centres.length; i++) centres[i] = gauss();
// lowrank: points on a 32-d linear manifold (x = A·z + noise), continuous instead of clustered.
const RANK = 32;
const A = new Float32Array(D * RANK);
for (let i = 0; i < A.length; i++) A[i] = gauss() / Math.sqrt(RANK);
function draw(n) {
  const x = new Float32Array(n * D);
  if (DATA === 'lowrank') {
    const z = new Float32Array(RANK);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < RANK; k++) z[k] = gauss();
      let s = 0;
      for (let j = 0; j < D; j++) {
        let v = 0.3 * gauss();
        for (let k = 0; k < RANK; k++) v += A[j * RANK + k] * z[k];
        x[i * D + j] = v;
        s += v * v;
      }
      s = Math.sqrt(s);
      for (let j = 0; j < D; j++) x[i * D + j] /= s;
    }
    return x;
  }
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rnd() * CLUSTERS) * D;
    let s = 0;
    for (let j = 0; j < D; j++) {
      const v = (DATA === 'uniform' ? 0 : centres[c + j]) + gauss();
      x[i * D + j] = v;
      s += v * v;
    }
    s = Math.sqrt(s);
    for (let j = 0; j < D; j++) x[i * D + j] /= s;
  }
  return x;
}

const mb = (b) => Math.round(b / 2 ** 20);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

log(`generating ${N} ${DATA} vectors + ${NQ} queries (d=${D})`);
let t0 = performance.now();
const base = draw(N);
const queries = draw(NQ);
const q = (i) => queries.subarray(i * D, (i + 1) * D);
log(`generated in ${round((performance.now() - t0) / 1000, 1)} s`);

async function build(factory, opts = {}) {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const idx = NativeIndex.create(D, factory, 'ip');
  if (opts.efConstruction) idx.setParam('efConstruction', opts.efConstruction);
  const t = performance.now();
  if (!idx.isTrained()) {
    // k-means on a sample (40 points per centroid), as the vector store does.
    const sample = Math.min(N, opts.trainPoints ?? N);
    await idx.trainAsync(base.subarray(0, sample * D), 0);
  }
  await idx.addAsync(base, 0);
  const seconds = (performance.now() - t) / 1000;
  const rss = process.memoryUsage().rss - rss0;
  return { idx, seconds, rssMb: mb(rss) };
}

async function timeQueries(idx) {
  const lat = [];
  const labels = [];
  for (let i = 0; i < NQ; i++) {
    const t = performance.now();
    const r = await idx.searchAsync(q(i), K);
    lat.push(performance.now() - t);
    labels.push(Array.from(r.labels));
  }
  return { p50: round(pct(lat, 50)), p95: round(pct(lat, 95)), labels };
}

const recallAt = (truth, got) => {
  let hit = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = new Set(truth[i]);
    hit += got[i].filter((l) => t.has(l)).length;
  }
  return round(hit / (truth.length * K), 3);
};

const result = {
  size: N,
  dim: D,
  data: DATA,
  queries: NQ,
  k: K,
  machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${mb(os.totalmem())} MiB RAM, load avg ${os.loadavg().map((x) => x.toFixed(1)).join('/')} at start`,
  node: process.version,
  indexes: [],
};

log('building Flat (exact baseline)');
const flat = await build('Flat');
const exact = await timeQueries(flat.idx);
result.indexes.push({ name: 'Flat (exact)', build_s: round(flat.seconds, 1), rss_mb: flat.rssMb, p50_ms: exact.p50, p95_ms: exact.p95, recall10: 1 });
log(`Flat: build ${round(flat.seconds, 1)} s, p50 ${exact.p50} ms, p95 ${exact.p95} ms`);

let chosen = null;
for (const type of TYPES) {
  let built;
  let sweep;
  let factory;
  if (type === 'ivf') {
    const nlist = Math.max(16, Math.min(65536, Math.round(Number(args['nlist-factor'] ?? 4) * Math.sqrt(N))));
    factory = `IVF${nlist},Flat`;
    log(`building ${factory}`);
    built = await build(factory, { trainPoints: 40 * nlist });
    sweep = { param: 'nprobe', values: [4, 8, 16, 32, 64, 128, 160, 192, 224, 256, 288, 320, 384] };
  } else if (type === 'hnsw') {
    factory = 'HNSW32,Flat';
    log(`building ${factory} (efConstruction 40)`);
    built = await build(factory, { efConstruction: 40 });
    sweep = { param: 'efSearch', values: [16, 32, 64, 128, 256] };
  } else {
    throw new Error(`unknown type ${type}`);
  }
  log(`${factory}: build ${round(built.seconds, 1)} s, rss +${built.rssMb} MiB`);
  const rows = [];
  for (const v of sweep.values) {
    built.idx.setParam(sweep.param, v);
    const r = await timeQueries(built.idx);
    const recall = recallAt(exact.labels, r.labels);
    rows.push({ [sweep.param]: v, p50_ms: r.p50, p95_ms: r.p95, recall10: recall });
    log(`  ${sweep.param}=${v}: p50 ${r.p50} ms, p95 ${r.p95} ms, recall@10 ${recall}`);
    if (recall >= 0.99) break;
  }
  const op = rows.find((r) => r.recall10 >= RECALL_GOAL) ?? rows[rows.length - 1];
  built.idx.setParam(sweep.param, op[sweep.param]);
  const entry = {
    name: factory,
    build_s: round(built.seconds, 1),
    rss_mb: built.rssMb,
    operating_point: { [sweep.param]: op[sweep.param] },
    p50_ms: op.p50_ms,
    p95_ms: op.p95_ms,
    recall10: op.recall10,
    speedup_vs_flat_p50: round(exact.p50 / op.p50_ms, 1),
    sweep: rows,
  };
  result.indexes.push(entry);
  if (!chosen || (op.recall10 >= RECALL_GOAL && op.p95_ms < chosen.entry.p95_ms)) chosen = { entry, idx: built.idx };
  else built.idx = null;
}

// ---- event-loop lag while 50 searches run concurrently ----
async function lagDuring(fn, seconds = 3) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  // A 1 ms interval timer: what a busy API process would be doing meanwhile.
  const tick = setInterval(() => {}, 1);
  h.enable();
  const t = performance.now();
  let searches = 0;
  while (performance.now() - t < seconds * 1000) searches += await fn();
  // One more loop turn, so a loop blocked for the whole window still records that delay.
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  clearInterval(tick);
  const elapsed = (performance.now() - t) / 1000;
  return { p50_ms: round(h.percentile(50) / 1e6), p99_ms: round(h.percentile(99) / 1e6), max_ms: round(h.max / 1e6), qps: Math.round(searches / elapsed) };
}
const target = chosen?.idx ?? flat.idx;
// Like the vector store: at most (cores - 1) searches in flight on the pool, so the event loop
// keeps a core; the rest wait in a JS queue.
const SLOTS = Math.max(1, os.availableParallelism() - 1);
let inFlight = 0;
const waiting = [];
async function limited(fn) {
  if (inFlight >= SLOTS) await new Promise((r) => waiting.push(r));
  inFlight++;
  try {
    return await fn();
  } finally {
    inFlight--;
    waiting.shift()?.();
  }
}
// Each of the 50 searches arrives as its own macrotask, like 50 concurrent HTTP requests.
const burst = (search) =>
  Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => new Promise((resolve, reject) => setImmediate(() => search(i).then(resolve, reject))))).then(
    () => CONCURRENCY,
  );
log(`event-loop lag with ${CONCURRENCY} concurrent searches on ${chosen?.entry.name ?? 'Flat'} (${SLOTS} in flight at most)`);
const asyncLag = await lagDuring(() => burst((i) => limited(() => target.searchAsync(q(i % NQ), K))));
// Baseline: the same searches as synchronous calls on the event loop.
const syncLag = await lagDuring(() => burst((i) => Promise.resolve(target.search(q(i % NQ), K))));
result.event_loop = {
  index: chosen?.entry.name ?? 'Flat',
  concurrency: CONCURRENCY,
  in_flight_max: SLOTS,
  async: asyncLag,
  sync_baseline: syncLag,
  p99_ratio_sync_over_async: round(syncLag.p99_ms / Math.max(asyncLag.p99_ms, 0.001), 1),
};
log(`lag p99: async ${asyncLag.p99_ms} ms, sync baseline ${syncLag.p99_ms} ms`);
result.peak_rss_mb = mb(process.resourceUsage().maxRSS * 1024);
result.finished_load_avg = os.loadavg().map((x) => x.toFixed(1)).join('/');

const outDir = path.join(root, 'bench/results');
mkdirSync(outDir, { recursive: true });
const outFile = path.join(outDir, `search-${sizeName}-${DATA}.json`);
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
log(`wrote ${path.relative(root, outFile)}`);
