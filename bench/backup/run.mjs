#!/usr/bin/env node
// Backup and restore figure (issue 15): a library of 100 episodes made by the real stage-mode pipeline
// (in this process: scheduler + workers on real Postgres, Redis and BullMQ; ingest downloads fixture
// audio, transcribe takes a publisher SRT of a ~30-minute synthetic transcript made from the real
// fixture feeds' text, extractive enrich, hash-embedding index + FAISS), then
// deploy/scripts/backup.sh (full and --no-audio) and restore.sh onto a wiped database and DATA_DIR.
//
//   npm run build -w services && npm run bench:backup      [BENCH_EPISODES=100] [BENCH_RUNS=3]
//
// Needs Postgres (PODBRAIN_TEST_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres), Redis
// (REDIS_URL), pg_dump/psql/pg_restore, tar and zstd. Everything it makes (a database, a key prefix, a temp
// dir) is removed at the end. Prints a JSON summary and writes it to bench/results/backup.json.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const dist = (p) => {
  const f = path.join(root, 'services/dist', p);
  if (!existsSync(f)) {
    console.error(`missing ${f}: run "npm run build -w services" first`);
    process.exit(2);
  }
  return require(f);
};
const { loadConfig } = dist('config/config.js');
const { silentLogger } = dist('core/logger.js');
const { openMigrationDataSource, migrateUp } = dist('db/migrate.js');
const { createRoleContext } = dist('roles/context.js');
const { StageJobs } = dist('jobs/stage.jobs.js');
const { jobHandlers } = dist('jobs/handlers.js');
const { WorkerHost } = dist('queue/worker-host.js');
const { QUEUE_NAMES } = dist('queue/queues.js');
const { Scheduler } = dist('scheduler/scheduler.js');
const { parseFeed } = dist('feeds/parse.js');
const { feedIdOf } = dist('core/identity.js');
const { normalizeFeedLocation } = dist('feeds/load.js');
const { Client } = require('pg');
const IORedis = require('ioredis');

const EPISODES = Number(process.env.BENCH_EPISODES ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PER_FEED = 3; // feeds of three episodes: within any back-catalogue policy's default
const MINUTES = 30;
const ADMIN = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const FIXTURES = path.resolve(root, '../shared/fixtures');
const SCRIPTS = path.join(root, 'deploy/scripts');
const DB = `podbrain_bench_backup_${process.pid}`;
const DB_URL = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
const prefix = `pbbench_bk_${process.pid}`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-backup-'));
const dataDir = path.join(tmp, 'data');
const backupDir = path.join(tmp, 'backups');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (b) => +(b / 2 ** 20).toFixed(2);
async function admin(sql) {
  const c = new Client({ connectionString: ADMIN });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
async function q(sql, params = []) {
  const c = new Client({ connectionString: DB_URL });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}
function script(name, args) {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(path.join(SCRIPTS, name), args, { env: { ...process.env, DATABASE_URL: DB_URL, DATA_DIR: dataDir, BACKUP_DIR: backupDir, BACKUP_KEEP: '100' }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${name} failed: ${stderr}`)) : resolve({ ms: performance.now() - t0, stdout: stdout.trim(), stderr }),
    );
  });
}
function du(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? du(p) : e.isFile() ? statSync(p).size : 0;
  }
  return n;
}

// ---- the library's source: feeds of PER_FEED episodes, fixture audio, ~30-minute SRTs ----
function sentences() {
  const out = [];
  for (const f of readdirSync(path.join(FIXTURES, 'feeds/real')).filter((n) => n.endsWith('.xml'))) {
    let feed;
    try {
      feed = parseFeed(readFileSync(path.join(FIXTURES, 'feeds/real', f)));
    } catch {
      continue;
    }
    for (const e of feed.episodes) {
      const text = (e.contentHtml ?? e.description ?? '').replace(/<[^>]+>/g, ' ').replace(/&[a-z#0-9]+;/gi, ' ').replace(/\s+/g, ' ');
      for (const s of text.split(/(?<=[a-z0-9][.!?])\s+(?=[A-Z])/)) if (s.split(' ').length >= 6 && !/https?:|www\.|@/.test(s)) out.push(s.trim());
    }
  }
  return out;
}
function srt(pool, offset) {
  const t = (ms) => new Date(ms).toISOString().slice(11, 23).replace('.', ',');
  const cues = [];
  let ms = 0;
  for (let i = 0; ms < MINUTES * 60_000; i++) {
    const s = pool[(offset + i * 7) % pool.length];
    const d = Math.round((s.split(' ').length / 150) * 60_000);
    cues.push(`${i + 1}\n${t(ms)} --> ${t(ms + d)}\n${s}\n`);
    ms += d + 200;
  }
  return cues.join('\n');
}
const clips = readdirSync(path.join(FIXTURES, 'audio')).filter((n) => n.endsWith('.ogg')).sort();
const pool = sentences();
const server = http.createServer((req, res) => {
  const m = /^\/(feed|a|t)\/(\d+)\.(xml|ogg|srt)$/.exec(req.url ?? '');
  if (!m) return res.writeHead(404).end();
  const n = Number(m[2]);
  const base = `http://127.0.0.1:${server.address().port}`;
  if (m[1] === 'a') return res.writeHead(200, { 'content-type': 'audio/ogg' }).end(readFileSync(path.join(FIXTURES, 'audio', clips[n % clips.length])));
  if (m[1] === 't') return res.writeHead(200, { 'content-type': 'application/x-subrip' }).end(srt(pool, n * 37));
  const items = [];
  for (let i = n * PER_FEED; i < Math.min(EPISODES, (n + 1) * PER_FEED); i++) {
    const day = String((i % 28) + 1).padStart(2, '0');
    items.push(
      `<item><guid>ep-${i}</guid><title>Episode ${i}</title><pubDate>Mon, ${day} Jan 2024 10:00:00 GMT</pubDate><enclosure url="${base}/a/${i}.ogg" type="audio/ogg" length="1000"/>` +
        `<podcast:transcript url="${base}/t/${i}.srt" type="application/x-subrip"/></item>`,
    );
  }
  res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(
    `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Show ${n}</title><link>https://example.com/</link><description>d</description>${items.join('')}</channel></rss>`,
  );
});

const config = loadConfig({
  env: {
    DATABASE_URL: DB_URL,
    REDIS_URL,
    DATA_DIR: dataDir,
    MODELS_DIR: path.join(tmp, 'models'),
    QUEUE_PREFIX: prefix,
    ALLOW_PRIVATE_NETWORK: 'true',
    ASR_ENGINES: 'feed',
    EMBEDDINGS_PROVIDER: 'hash',
    SCHEDULER_TICK_MS: '300',
    LOG_LEVEL: 'silent',
  },
});

async function buildLibrary() {
  const ds = await openMigrationDataSource(config, { poolSize: 1 });
  await migrateUp(ds);
  await ds.destroy();
  const ctx = await createRoleContext(config, { log: silentLogger, poolSize: 4 });
  const pipeline = new StageJobs(ctx);
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: QUEUE_NAMES, connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: config.queue.lockMs, shutdownGraceMs: 5000 });
  const scheduler = new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
  host.start();
  scheduler.start();
  const t0 = performance.now();
  for (let n = 0; n * PER_FEED < EPISODES; n++) {
    const url = normalizeFeedLocation(`http://127.0.0.1:${server.address().port}/feed/${n}.xml`);
    const id = feedIdOf(url);
    await q(`INSERT INTO feeds (id, url, poll_interval_s, next_poll_at) VALUES ($1, $2, 86400, now())`, [id, url]);
    await q(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', $1)`, [id]);
  }
  for (;;) {
    const [r] = await q(`SELECT count(*)::int AS n, count(*) FILTER (WHERE state IN ('done','failed','skipped'))::int AS final, count(*) FILTER (WHERE state = 'done')::int AS done FROM episodes`);
    if (r.n === EPISODES && r.final === EPISODES) {
      if (r.done !== EPISODES) throw new Error(`${EPISODES - r.done} episode(s) did not finish: ${JSON.stringify(await q(`SELECT state, state_reason, last_error FROM episodes WHERE state <> 'done' LIMIT 3`))}`);
      break;
    }
    if (performance.now() - t0 > 20 * 60_000) throw new Error(`library not done after 20 min: ${JSON.stringify(r)}`);
    await sleep(500);
  }
  const buildS = (performance.now() - t0) / 1000;
  await scheduler.stop();
  await host.close();
  await ctx.close();
  return buildS;
}

async function wipe() {
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${DB}`);
  rmSync(dataDir, { recursive: true, force: true });
}

async function main() {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  await admin(`CREATE DATABASE ${DB}`);
  const buildS = await buildLibrary();
  const library = {
    episodes: EPISODES,
    feeds: Math.ceil(EPISODES / PER_FEED),
    transcript_minutes: MINUTES,
    build_s: +buildS.toFixed(1),
    db_bytes: Number((await q(`SELECT pg_database_size(current_database()) AS n`))[0].n),
    data_dir_bytes: du(dataDir),
    audio_bytes: 0,
    chunks: (await q(`SELECT count(*)::int AS n FROM chunks`))[0].n,
    transcript_segments: (await q(`SELECT count(*)::int AS n FROM transcript_segments`))[0].n,
  };
  const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  library.audio_bytes = walk(path.join(dataDir, 'corpus')).filter((f) => /\/ingest@[^/]+\/audio\.[^/]+$/.test(f)).reduce((s, f) => s + statSync(f).size, 0);

  const result = { machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${mib(os.totalmem()) >> 10} GiB`, node: process.version, library, runs: RUNS };
  const sizeOf = (dir) => Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(path.join(dir, f)).size]));
  for (const [label, args] of [['full', []], ['no_audio', ['--no-audio']]]) {
    const times = [];
    let dir;
    for (let i = 0; i < RUNS; i++) {
      const r = await script('backup.sh', args);
      times.push(r.ms);
      dir = r.stdout;
    }
    const files = sizeOf(dir);
    result[`backup_${label}`] = { median_s: +(median(times) / 1000).toFixed(2), runs_s: times.map((t) => +(t / 1000).toFixed(2)), bytes: Object.values(files).reduce((a, b) => a + b, 0), files, dir };
    const restores = [];
    for (let i = 0; i < RUNS; i++) {
      await wipe();
      const r = await script('restore.sh', [dir]);
      restores.push(r.ms);
      const [s] = await q(`SELECT count(*) FILTER (WHERE state = 'done')::int AS done FROM episodes`);
      if (s.done !== EPISODES) throw new Error(`after restore ${s.done}/${EPISODES} episodes done`);
    }
    result[`restore_${label}`] = { median_s: +(median(restores) / 1000).toFixed(2), runs_s: restores.map((t) => +(t / 1000).toFixed(2)) };
  }
  for (const k of ['backup_full', 'backup_no_audio']) delete result[k].dir;
  result.library_bytes = library.db_bytes + library.data_dir_bytes;
  result.ratio_backup_to_library = +(result.backup_full.bytes / result.library_bytes).toFixed(3);
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(path.join(root, 'bench/results'), { recursive: true });
  writeFileSync(path.join(root, 'bench/results/backup.json'), `${JSON.stringify(result, null, 2)}\n`);
}

try {
  await main();
} finally {
  server.close();
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`).catch(() => undefined);
  const r = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
  rmSync(tmp, { recursive: true, force: true });
}
