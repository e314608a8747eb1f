#!/usr/bin/env node
// Saved-search figure (issue 17): time from an episode being indexed (its project commit: the
// moment StageJobs.runProject hands it to the saved searches) to the notification arriving at a
// local webhook receiver (NOTIFY_WEBHOOK_URL), median and p95 over several episodes, with 1 saved
// search (baseline) vs 100 saved searches for the same tenant (one matches, 99 other topics), in
// the same run, database and index. The worker side is real: Postgres, Redis (queues), the index
// stage (hash embeddings into FAISS) after a fake transcribe, StageJobs in this process; a corpus
// of BENCH_CORPUS unrelated episodes is indexed first, so the vector index is not trivially small.
// Needs Postgres (PODBRAIN_BENCH_PG, default postgres://postgres@127.0.0.1:5432/postgres), Redis
// (REDIS_URL, default redis://127.0.0.1:6379) and the compiled services: `npm run build -w services`,
// then `npm run bench:saved-search`.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(root, 'services/dist');
const require = createRequire(path.join(root, 'services/package.json'));
if (!existsSync(path.join(dist, 'saved-searches/saved-search-alerts.js'))) {
  console.error(`missing ${dist}/saved-searches/saved-search-alerts.js: run "npm run build -w services" first`);
  process.exit(2);
}
const { Client } = require('pg');
const { loadConfig } = require(path.join(dist, 'config/config.js'));
const { createMigrationDataSource, migrateUp } = require(path.join(dist, 'db/migrate.js'));
const { createRoleContext } = require(path.join(dist, 'roles/context.js'));
const { StageJobs } = require(path.join(dist, 'jobs/stage.jobs.js'));
const { createIndexStage } = require(path.join(dist, 'stages/index.stage.js'));
const { closeEmbeddingProviders } = require(path.join(dist, 'index/embeddings/index.js'));

const ADMIN = process.env.PODBRAIN_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = 'podbrain_bench_saved_search';
const EPISODES = Number(process.env.BENCH_EPISODES ?? 12);
const CORPUS = Number(process.env.BENCH_CORPUS ?? 40);
const MANY = Number(process.env.BENCH_SEARCHES ?? 100);

// ---- text: a matching episode talks about fruit flies; the corpus and the 99 other searches about anything else ----
const TOPICS = ['sourdough bread starter', 'black hole telescope', 'football penalty goalkeeper', 'backup restore drive', 'tomato garden mulch', 'bitcoin exchange fund', 'marathon training shoes', 'violin practice scales', 'electric car battery', 'coffee roasting beans', 'chess opening gambit', 'mountain hiking boots', 'jazz saxophone solo', 'solar panel inverter', 'knitting wool pattern', 'volcano eruption lava', 'sailing knots harbour', 'pottery kiln glaze', 'vintage camera film', 'beekeeping honey hive'];
let seed = 7;
const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const FILLER = 'we talked about it for a while and then the guest explained how the whole thing works in practice for people at home'.split(' ');
const filler = (n) => Array.from({ length: n }, () => FILLER[Math.floor(rnd() * FILLER.length)]).join(' ');
function sentencesAbout(topic, count = 60) {
  const words = topic.split(' ');
  return Array.from({ length: count }, (_, i) => `${filler(6)} ${words[i % words.length]} ${filler(5)} ${words[(i + 1) % words.length]} ${filler(4)}.`);
}
function fruitFlyEpisode(n) {
  const s = sentencesAbout(TOPICS[n % TOPICS.length], 60);
  s[20 + (n % 30)] = 'To get rid of fruit flies, set a small trap of apple cider vinegar with a drop of dish soap.';
  return s;
}
const transcript = (key, sentences) => ({
  schema_version: 1, episode_key: key, engine: 'feed', model: 'bench', language: 'en', duration_ms: sentences.length * 4000,
  segments: sentences.map((text, i) => ({ start_ms: i * 4000, end_ms: (i + 1) * 4000 - 100, text })), speech_coverage: null, status: 'valid', quality: { reasons: [] },
});

// ---- the platform ----
const admin = new Client({ connectionString: ADMIN });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${DB}`);
const url = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
const ds = await createMigrationDataSource(url).initialize();
await migrateUp(ds);
await ds.destroy();

const arrivals = [];
let onArrival = null;
const hook = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const at = performance.now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    arrivals.push({ at, body });
    res.end('ok');
    onArrival?.(body, at);
  });
});
await new Promise((r) => hook.listen(0, '127.0.0.1', r));

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-saved-search-'));
const config = {
  ...loadConfig({
    env: {
      DATABASE_URL: url, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: `bench-ss-${process.pid}`, DATA_DIR: dataDir, LOG_LEVEL: 'silent',
      EMBEDDINGS_PROVIDER: 'hash', NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${hook.address().port}/hook`, NOTIFY_REPEAT_WINDOW_S: '0', PUBLIC_URL: 'https://podbrain.example', SMTP_HOST: '', NOTIFY_NTFY_URL: '',
    },
  }),
  role: 'worker',
};
const transcripts = new Map();
const fakeTranscribe = {
  name: 'transcribe', needs: [],
  plan: ({ episode }) => ({ configured: true, parts: { bench: 1, text: transcripts.get(episode.episodeKey)?.segments.map((s) => s.text) } }),
  async run({ episode }, out) {
    await out.writeJson('transcript.json', transcripts.get(episode.episodeKey));
    return { info: { engine: 'feed' } };
  },
};
const ctx = await createRoleContext(config, { stages: [fakeTranscribe, createIndexStage()], poolSize: 4 });
const jobs = new StageJobs(ctx);
const pg = new Client({ connectionString: url });
await pg.connect();
await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('bench-feed', 'https://example.com/bench.xml', 'Bench show', 3600, now())`);
await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'bench-feed')`);

// The hook's hand-over is the project commit: runProject calls it right after the commit and the episode event.
const handedOver = new Map();
const alerts = ctx.savedSearches;
const original = alerts.episodeProjected.bind(alerts);
alerts.episodeProjected = (key) => {
  handedOver.set(key, performance.now());
  original(key);
};

const JOB = { signal: new AbortController().signal, attempt: 1, maxAttempts: 1 };
async function processEpisode(key, sentences) {
  transcripts.set(key, transcript(key, sentences));
  await pg.query(`INSERT INTO episodes (episode_key, feed_id, title, transcripts, source, state) VALUES ($1, 'bench-feed', $2, '[]', $3, 'pending')`, [key, `Episode ${key}`, JSON.stringify({ guid: key, title: `Episode ${key}` })]);
  for (const stage of ['transcribe', 'index']) {
    const r = await jobs.runStage(stage, key, JOB);
    if (r !== 'done') throw new Error(`${stage} ${key}: ${r}`);
  }
  const r = await jobs.runProject(key, JOB);
  if (r !== 'projected') throw new Error(`project ${key}: ${r}`);
}

const t0 = performance.now();
for (let i = 0; i < CORPUS; i++) await processEpisode(`corpus-${i}`, sentencesAbout(TOPICS[i % TOPICS.length]));
await alerts.idle();
console.log(`corpus: ${CORPUS} episodes indexed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function scenario(label, searches) {
  await pg.query(`DELETE FROM saved_searches`);
  await pg.query(`INSERT INTO saved_searches (tenant_id, name, query, threshold, notify, min_interval_s) VALUES ('default', 'Fruit flies', 'fruit flies', 0.8, true, 0)`);
  for (let i = 1; i < searches; i++) {
    const topic = `${TOPICS[i % TOPICS.length].split(' ')[i % 3]} ${['tips', 'news', 'history', 'review', 'guide'][i % 5]} ${i}`;
    await pg.query(`INSERT INTO saved_searches (tenant_id, name, query, threshold, notify, min_interval_s) VALUES ('default', $1, $1, 0.8, true, 0)`, [topic]);
  }
  const [{ id: flies }] = (await pg.query(`SELECT id FROM saved_searches WHERE name = 'Fruit flies'`)).rows;
  const latencies = [];
  const matchMs = [];
  for (let n = 0; n < EPISODES; n++) {
    const key = `${label}-${n}`;
    const arrived = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no notification for ${key} within 30 s`)), 30_000);
      onArrival = (body, at) => {
        if (body.key === flies && body.link?.includes(encodeURIComponent(key))) {
          clearTimeout(timer);
          resolve(at);
        }
      };
    });
    await processEpisode(key, fruitFlyEpisode(n));
    const at = await arrived;
    latencies.push(at - handedOver.get(key));
    await alerts.idle();
    const t = performance.now();
    await alerts.matchEpisode(key); // the same work again (stored already: no second notification), for the matching time alone
    matchMs.push(performance.now() - t);
  }
  return { label, searches, latencies, matchMs };
}

// Warm-up (first query embeddings, the vector floor of the index): not measured.
await scenario('warmup', 1);
const runs = [];
for (const searches of [1, MANY]) runs.push(await scenario(`s${searches}`, searches));

const rows = runs.map((r) => ({
  saved_searches: r.searches,
  episodes: r.latencies.length,
  'median ms': pct(r.latencies, 50).toFixed(1),
  'p95 ms': pct(r.latencies, 95).toFixed(1),
  'match median ms': pct(r.matchMs, 50).toFixed(1),
}));
console.table(rows);
const [base, many] = runs;
console.log(`ratio (${MANY} vs 1 saved searches): median ×${(pct(many.latencies, 50) / pct(base.latencies, 50)).toFixed(2)}, p95 ×${(pct(many.latencies, 95) / pct(base.latencies, 95)).toFixed(2)}`);
console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

onArrival = null;
await pg.end();
await ctx.close();
await closeEmbeddingProviders();
hook.close();
await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
await admin.end();
rmSync(dataDir, { recursive: true, force: true });
