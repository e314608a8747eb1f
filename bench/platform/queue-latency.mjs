#!/usr/bin/env node
// Queue latency figure (issue 5): enqueue → start of a job on podbrain's BullMQ queues with 1,000 jobs queued.
// Needs the compiled services (`npm run build -w services`) and Redis (REDIS_URL, default 127.0.0.1:6379);
// everything lives under its own key prefix and is deleted afterwards.
//
//   A  1,000 transcribe jobs wait (no GPU worker), a project worker is idle: 500 jobs enqueued one at a
//      time on `project`; latency = worker start − enqueue. The backlog must not slow other queues.
//   B  1,000 jobs enqueued in one burst on a live `project` queue (concurrency 32, no-op processor):
//      per-job enqueue → start, plus drain throughput. Here latency includes waiting behind the burst.
//   baseline  the same 500 one-at-a-time hand-offs through a bare Redis list (LPUSH → BRPOP), the floor.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const dist = path.join(root, 'services/dist/queue/queues.js');
if (!existsSync(dist)) {
  console.error(`missing ${dist}: run "npm run build -w services" first`);
  process.exit(2);
}
const { Queues, QUEUE_SETTINGS } = require(dist);
const { Worker } = require('bullmq');
const IORedis = require('ioredis');

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `pbbench_ql_${process.pid}`;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 500);
const BACKLOG = 1000;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (xs) => ({ p50: +pct(xs, 50).toFixed(2), p95: +pct(xs, 95).toFixed(2), p99: +pct(xs, 99).toFixed(2), max: +Math.max(...xs).toFixed(2) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

async function cleanup() {
  const r = new IORedis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}

async function main() {
  const conn = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
  const queues = new Queues(conn, prefix);

  // backlog: 1,000 transcribe jobs nobody consumes
  const tq = queues.get('transcribe');
  await tq.addBulk(Array.from({ length: BACKLOG }, (_, i) => ({ name: 'stage', data: { episodeKey: `b${i}`, feedId: 'f', fingerprint: 'x' }, opts: queues.options('transcribe', { jobId: `transcribe.b${i}.000000000000` }) })));

  // A: one at a time on an idle queue
  const starts = new Map();
  const worker = new Worker('project', async (job) => void starts.set(job.id, now()), { connection: conn, prefix, concurrency: 32 });
  await worker.waitUntilReady();
  await sleep(300);
  const pq = queues.get('project');
  const latA = [];
  for (let i = 0; i < SAMPLES; i++) {
    const id = `project.a${i}.000000000000`;
    const t0 = now();
    await pq.add('stage', { t0 }, queues.options('project', { jobId: id }));
    while (!starts.has(id)) await sleep(0.2);
    latA.push(starts.get(id) - t0);
  }
  const waiting = (await tq.getJobCounts('waiting')).waiting;

  // B: a burst of 1,000 on the live queue
  starts.clear();
  const tB = now();
  const added = new Map();
  await pq.addBulk(Array.from({ length: BACKLOG }, (_, i) => {
    added.set(`project.b${i}.000000000000`, now());
    return { name: 'stage', data: {}, opts: queues.options('project', { jobId: `project.b${i}.000000000000` }) };
  }));
  while (starts.size < BACKLOG) await sleep(2);
  const drainS = (Math.max(...starts.values()) - tB) / 1000;
  const latB = [...starts.entries()].map(([id, t]) => t - added.get(id));
  await worker.close();
  await queues.close();

  // baseline: bare Redis list hand-off
  const a = new IORedis(REDIS_URL);
  const b = new IORedis(REDIS_URL);
  const key = `${prefix}:raw`;
  const latRaw = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = now();
    const popped = b.brpop(key, 5);
    await a.lpush(key, String(t0));
    await popped;
    latRaw.push(now() - t0);
  }
  a.disconnect();
  b.disconnect();
  conn.disconnect();

  const A = fmt(latA);
  const B = fmt(latB);
  const R = fmt(latRaw);
  const result = {
    machine: `${os.cpus().length} cores ${os.cpus()[0]?.model ?? ''}, load ${os.loadavg()[0].toFixed(1)}`,
    backlog_waiting: waiting,
    project_concurrency: 32,
    attempts: QUEUE_SETTINGS.project.attempts,
    A_idle_queue_with_1000_queued_ms: A,
    B_burst_of_1000_ms: B,
    B_drain_jobs_per_s: Math.round(BACKLOG / drainS),
    baseline_redis_list_handoff_ms: R,
    ratio_A_p95_over_baseline_p95: +(A.p95 / R.p95).toFixed(1),
    goal: 'A p95 <= 50 ms',
    pass: A.p95 <= 50,
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/platform-queue-latency.json'), `${JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2)}\n`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(cleanup);
