#!/usr/bin/env node
// Stage overlap figure (issue 5): a 20-episode backlog through the platform where transcription (real ffmpeg +
// whisper.cpp with the fake tiny model) is the slowest stage. Figure: wall time ÷ sum of transcription times
// (1.0 = transcription is the only bottleneck; goal ≤ 1.15), for
//   roles     scheduler + worker-io + worker-gpu + worker-ml, each its own process (stage overlap), and
//   baseline  scheduler + one `worker --queues all` (the simple tier), same backlog, same run.
// Each configuration gets a fresh database, DATA_DIR and Redis prefix (nothing reused between them).
// Needs: `npm run build -w services`, the whisper build (`npm run build:whisper -w services`), Postgres and Redis.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const services = path.join(root, 'services');
const require = createRequire(path.join(services, 'package.json'));
const mainJs = path.join(services, 'dist/main.js');
if (!existsSync(mainJs)) {
  console.error(`missing ${mainJs}: run "npm run build -w services" first`);
  process.exit(2);
}
const { createMigrationDataSource, migrateUp } = require(path.join(services, 'dist/db/migrate.js'));
const { feedIdOf } = require(path.join(services, 'dist/core/identity.js'));
const { normalizeFeedLocation } = require(path.join(services, 'dist/feeds/load.js'));
const { writeFakeWhisperModel } = require(path.join(services, 'dist/asr/whisper/fake-model.js'));
const { Client } = require('pg');
const IORedis = require('ioredis');

const EPISODES = Number(process.env.BENCH_EPISODES ?? 20);
const PG_ADMIN = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const CLIPS = ['fleurs-en-000.ogg', 'fleurs-en-001.ogg', 'fleurs-en-002.ogg', 'fleurs-en-005.ogg', 'fleurs-en-006.ogg'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function podcastServer() {
  const audio = CLIPS.map((c) => readFileSync(path.join(fixtures, 'audio', c)));
  let xml = '';
  const server = http.createServer((req, res) => {
    const m = /^\/audio\/(\d+)\.ogg$/.exec(req.url ?? '');
    if (m) {
      const body = audio[Number(m[1]) % audio.length];
      res.writeHead(200, { 'content-type': 'audio/ogg', 'content-length': String(body.length) });
      return res.end(body);
    }
    if (req.url === '/feed.xml') return res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(xml);
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const items = Array.from({ length: EPISODES }, (_, i) => `<item><guid>ov-${i}</guid><title>Overlap ${i + 1}</title><pubDate>Mon, ${String((i % 28) + 1).padStart(2, '0')} Jan 2024 10:00:00 GMT</pubDate><enclosure url="${origin}/audio/${i}.ogg" type="audio/ogg" length="1000"/></item>`);
  xml = `<?xml version="1.0"?><rss version="2.0"><channel><title>Overlap bench</title><link>https://example.com</link><description>d</description>${items.join('')}</channel></rss>`;
  return { server, feedUrl: `${origin}/feed.xml` };
}

async function runConfiguration(name, roles, feedUrl, modelsDir) {
  const dbName = `podbrain_bench_overlap_${process.pid}_${name.replace(/\W/g, '')}`;
  const admin = new Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = PG_ADMIN.replace(/\/[^/]*$/, `/${dbName}`);
  const ds = await createMigrationDataSource(dbUrl, { poolSize: 2 }).initialize();
  await migrateUp(ds);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `podbrain-overlap-${name}-`));
  const prefix = `pbbench_ov_${process.pid}_${name.replace(/\W/g, '')}`;
  const env = {
    ...process.env,
    DATABASE_URL: dbUrl, REDIS_URL, QUEUE_PREFIX: prefix, DATA_DIR: dataDir, MODELS_DIR: modelsDir, PODBRAIN_CONFIG: '',
    ALLOW_PRIVATE_NETWORK: 'true', WHISPER_MODEL: 'tiny', WHISPER_THREADS: '1', WHISPER_BEAM_SIZE: '1', WHISPER_VAD: 'false', ASR_MIN_COVERAGE: '0',
    SCHEDULER_TICK_MS: '500', LOG_LEVEL: 'warn', HEALTH_PORT: '0',
  };
  const procs = roles.map(([role, ...args]) => spawn(process.execPath, [mainJs, role, ...args], { cwd: services, env, stdio: ['ignore', 'ignore', 'inherit'] }));
  try {
    await sleep(3000); // roles connect; the scheduler takes its lock
    // The feed as POST /api/feeds leaves it: in the catalog, due now, the default tenant subscribed.
    const url = normalizeFeedLocation(feedUrl);
    await ds.query(`INSERT INTO feeds (id, url, poll_interval_s, next_poll_at) VALUES ($1, $2, 3600, now()) ON CONFLICT (id) DO NOTHING`, [feedIdOf(url), url]);
    await ds.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', $1) ON CONFLICT DO NOTHING`, [feedIdOf(url)]);
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      const [{ n, final }] = await ds.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE state IN ('done','failed','skipped'))::int AS final FROM episodes`);
      if (n === EPISODES && final === EPISODES) break;
      if (Date.now() > deadline) throw new Error(`${name}: not finished after 30 min (${final}/${n})`);
      await sleep(500);
    }
    const states = await ds.query(`SELECT state::text AS state, count(*)::int AS n FROM episodes GROUP BY 1`);
    const [t] = await ds.query(`SELECT EXTRACT(EPOCH FROM max(finished_at) - min(started_at)) * 1000 AS wall_ms FROM stage_runs`);
    const perStage = await ds.query(`SELECT stage, sum(duration_ms)::int AS sum_ms, count(*)::int AS n FROM stage_runs WHERE status = 'done' GROUP BY stage ORDER BY sum(duration_ms) DESC`);
    const transcribe = perStage.find((s) => s.stage === 'transcribe');
    if (!transcribe) throw new Error(`${name}: no transcriptions ran (${JSON.stringify(states)})`);
    return {
      name,
      states: Object.fromEntries(states.map((s) => [s.state, s.n])),
      wall_s: +(t.wall_ms / 1000).toFixed(1),
      sum_transcribe_s: +(transcribe.sum_ms / 1000).toFixed(1),
      ratio_wall_over_transcription: +(t.wall_ms / transcribe.sum_ms).toFixed(3),
      stage_sums_s: Object.fromEntries(perStage.map((s) => [s.stage, +(s.sum_ms / 1000).toFixed(1)])),
    };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', r)))));
    await ds.destroy();
    const c = new Client({ connectionString: PG_ADMIN });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
    const r = new IORedis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
    r.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const modelsDir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-overlap-models-'));
  await writeFakeWhisperModel({ shape: 'tiny', outDir: modelsDir });
  const { server, feedUrl } = await podcastServer();
  try {
    const rolesRun = await runConfiguration('roles', [['scheduler'], ['worker-io'], ['worker-gpu'], ['worker-ml']], feedUrl, modelsDir);
    const baseline = await runConfiguration('all-in-one', [['scheduler'], ['worker', '--queues', 'all']], feedUrl, modelsDir);
    const result = {
      machine: `${os.cpus().length} cores ${os.cpus()[0]?.model ?? ''}, load ${os.loadavg().map((l) => l.toFixed(1)).join('/')}`,
      episodes: EPISODES,
      roles: rolesRun,
      baseline,
      goal: 'roles ratio <= 1.15',
      pass: rolesRun.ratio_wall_over_transcription <= 1.15,
      roles_vs_baseline_wall: +(rolesRun.wall_s / baseline.wall_s).toFixed(3),
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    writeFileSync(path.join(root, 'bench/results/platform-overlap.json'), `${JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2)}\n`);
  } finally {
    server.close();
    rmSync(modelsDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
