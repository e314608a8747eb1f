#!/usr/bin/env node
// Digest figure (issue 17): time to generate the digest of 200 episodes published in one week
// (20 shows × 10), against a baseline of 50 (5 shows × 10) in the same run and database. The corpus
// is what fake-model transcripts project to, with realistic sizes: per episode 12 insights with 2
// timed quotes each, 60 chunks of ~200 words, ~13 graph entities; each episode covers 3 of 40
// subjects, so stories cross shows; the 4 weeks before hold the same number of episodes (graph
// rows only) for the trends. Embeddings: hash (the default); BENCH_ONNX=1 adds the onnx provider
// with a random-weights model of all-MiniLM-L6-v2's shape made locally (plumbing cost only).
// Needs Postgres (PODBRAIN_BENCH_PG, default postgres://postgres@127.0.0.1:5432/postgres) and the
// compiled services: `npm run build -w services`, then `npm run bench:digest`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(root, 'services/dist');
const require = createRequire(path.join(root, 'services/package.json'));
if (!existsSync(path.join(dist, 'digest/generate.js'))) {
  console.error(`missing ${dist}/digest/generate.js: run "npm run build -w services" first`);
  process.exit(2);
}
const { Client } = require('pg');
const { loadConfig } = require(path.join(dist, 'config/config.js'));
const { silentLogger } = require(path.join(dist, 'core/logger.js'));
const { Database } = require(path.join(dist, 'db/database.js'));
const { createMigrationDataSource, migrateUp } = require(path.join(dist, 'db/migrate.js'));
const { digestDeps } = require(path.join(dist, 'digest/deps.js'));
const { buildDigest, generateDigest } = require(path.join(dist, 'digest/generate.js'));
const { closeEmbeddingProviders } = require(path.join(dist, 'index/embeddings/index.js'));

const ADMIN = process.env.PODBRAIN_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = 'podbrain_bench_digest';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PER_FEED = 10;
const FEEDS = 20;
const SMALL_FEEDS = 5;
const DAY = 86_400_000;

// ---- a deterministic corpus --------------------------------------------------------------------
let seed = 42;
const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const FILLER = (
  'the a of and to in that it is was for on are with as this be at by from or have an they which you one we all there their what so up out if about who get would make like time just him know take people into year your good some could them see other than then now look only come its over think also back after use two how our work first well way even new want because any these give day most us very thing really said need much both kind fact part point world talk lot sure right show week today guest story question answer idea place case problem number money market money company price plan team future small large early late long short'
).split(' ');
const SUBJECTS = Array.from({ length: 40 }, (_, i) => {
  const words = Array.from({ length: 8 }, (_, j) => `${['quant', 'bio', 'astro', 'geo', 'neuro', 'crypto', 'agri', 'hydro', 'aero', 'techno'][i % 10]}${['lith', 'morph', 'graph', 'phon', 'stat', 'gen', 'vol', 'dyn'][j]}${String.fromCharCode(97 + (i % 26))}${i}`);
  return { id: `topic:subject-${i}`, label: `Subject ${i} ${words[0]}`, words };
});
const POOL = Array.from({ length: 150 }, (_, i) => ({ id: `${['topic', 'person', 'org'][i % 3]}:pool-${i}`, kind: ['Topic', 'Person', 'Organization'][i % 3], label: `${['Theme', 'Person', 'Org'][i % 3]} ${i}` }));
const sentence = (subject, n) => Array.from({ length: n }, (_, i) => (i % 4 === 0 ? pick(subject.words) : pick(FILLER))).join(' ');

function episodeRows(key, feed, title, published, full) {
  const subjects = [pick(SUBJECTS), pick(SUBJECTS), pick(SUBJECTS)];
  const r = { episode: [key, feed, title, published], insights: [], quotes: [], support: [], chunks: [], edges: [], summary: [key, `${title}: ${subjects[0].label}`] };
  for (const s of subjects) r.edges.push([key, `episode:${key}`, s.id, JSON.stringify({ weight: 3 + Math.floor(rnd() * 5) })]);
  for (let i = 0; i < 10; i++) r.edges.push([key, `episode:${key}`, pick(POOL).id, JSON.stringify({ weight: 1 + Math.floor(rnd() * 3) })]);
  if (!full) return r;
  for (let i = 0; i < 12; i++) {
    const s = subjects[i % 3];
    r.insights.push([key, `insight:${i}`, `${sentence(s, 24)}.`, Math.round(rnd() * 100) / 100]);
    for (let q = 0; q < 2; q++) {
      const id = `quote:${i}-${q}`;
      r.quotes.push([key, id, `${sentence(s, 30)}.`, Math.floor(rnd() * 3_600_000)]);
      r.support.push([key, `insight:${i}`, id]);
    }
  }
  for (let c = 0; c < 60; c++) r.chunks.push([key, c, `${sentence(subjects[c % 3], 200)}.`, c * 60_000, (c + 1) * 60_000]);
  return r;
}

async function insertMany(pg, table, columns, types, rows) {
  for (let i = 0; i < rows.length; i += 2000) {
    const part = rows.slice(i, i + 2000);
    const arrays = columns.map((_, j) => part.map((r) => r[j]));
    const sel = columns.map((_, j) => `$${j + 1}::${types[j]}[]`).join(', ');
    await pg.query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${sel}) ON CONFLICT DO NOTHING`, arrays);
  }
}

async function seed_(pg, now) {
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('big', 'big'), ('small', 'small') ON CONFLICT DO NOTHING`);
  const feeds = Array.from({ length: FEEDS }, (_, i) => `bench-feed-${i}`);
  await insertMany(pg, 'feeds', ['id', 'url', 'title'], ['text', 'text', 'text'], feeds.map((f, i) => [f, `https://example.com/${f}.xml`, `Show ${i}`]));
  await insertMany(pg, 'subscriptions', ['tenant_id', 'feed_id'], ['text', 'text'], [...feeds.map((f) => ['big', f]), ...feeds.slice(0, SMALL_FEEDS).map((f) => ['small', f])]);
  const all = [];
  for (let week = 0; week < 5; week++) {
    for (const [fi, f] of feeds.entries()) {
      for (let e = 0; e < PER_FEED; e++) {
        const published = new Date(now.getTime() - week * 7 * DAY - (e + 0.5) * (7 * DAY / PER_FEED) - fi * 1000);
        all.push(episodeRows(`${f}:w${week}e${e}`, f, `Show ${fi} episode ${week}-${e}`, published.toISOString(), week === 0));
      }
    }
  }
  await insertMany(pg, 'kg_nodes', ['id', 'kind', 'label'], ['text', 'text', 'text'], [
    ...SUBJECTS.map((s) => [s.id, 'Topic', s.label]),
    ...POOL.map((p) => [p.id, p.kind, p.label]),
    ...all.map((r) => [`episode:${r.episode[0]}`, 'Episode', r.episode[2]]),
  ]);
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, title, published_at, enclosure, transcripts, source, state)
     SELECT k, f, t, p, NULL, '[]', '{}', 'done' FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS x(k, f, t, p)`,
    [0, 1, 2, 3].map((j) => all.map((r) => r.episode[j])),
  );
  await insertMany(pg, 'summaries', ['episode_key', 'fingerprint', 'title', 'status'], ['text', 'text', 'text', 'text'], all.map((r) => [r.summary[0], 'fp', r.summary[1], 'valid']));
  await insertMany(pg, 'insights', ['episode_key', 'id', 'text', 'confidence', 'fingerprint', 'insight_type'], ['text', 'text', 'text', 'real', 'text', 'text'], all.flatMap((r) => r.insights.map((x) => [...x, 'fp', 'claim'])));
  await insertMany(pg, 'quotes', ['episode_key', 'id', 'text', 'start_ms', 'fingerprint'], ['text', 'text', 'text', 'int', 'text'], all.flatMap((r) => r.quotes.map((x) => [...x, 'fp'])));
  await insertMany(pg, 'insight_support', ['episode_key', 'insight_id', 'quote_id'], ['text', 'text', 'text'], all.flatMap((r) => r.support));
  await insertMany(pg, 'chunks', ['episode_key', 'idx', 'text', 'start_ms', 'end_ms', 'fingerprint'], ['text', 'int', 'text', 'int', 'int', 'text'], all.flatMap((r) => r.chunks.map((x) => [...x, 'fp'])));
  await insertMany(pg, 'kg_edges', ['episode_key', 'source_id', 'target_id', 'props', 'fingerprint', 'kind'], ['text', 'text', 'text', 'jsonb', 'text', 'text'], all.flatMap((r) => r.edges.map((x) => [...x, 'fp', 'MENTIONS'])));
  return all.length;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(label, config, database, now) {
  const deps = digestDeps(config, database, silentLogger);
  const from = new Date(now.getTime() - 7 * DAY);
  // A warm-up each (first queries plan, the onnx model loads).
  const warm = { big: await buildDigest(deps, { tenantId: 'big', from, to: now, trigger: 'manual' }), small: await buildDigest(deps, { tenantId: 'small', from, to: now, trigger: 'manual' }) };
  const times = { big: [], small: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const t of ['small', 'big']) {
      const t0 = performance.now();
      await buildDigest(deps, { tenantId: t, from, to: now, trigger: 'manual' });
      times[t].push(performance.now() - t0);
    }
  }
  const stored = await generateDigest(deps, { tenantId: 'big', from, to: now, trigger: 'manual' });
  const big = median(times.big);
  const small = median(times.small);
  const s = warm.big.stats;
  console.log(
    `${label.padEnd(5)} 200 episodes: ${Math.round(big)} ms (median of ${RUNS}; ${s.passages} passages, ${warm.big.clusters.length} clusters, ${warm.big.trends.length} trends; stored digest ${stored.digest.id} took ${stored.digest.duration_ms} ms)  |  baseline 50 episodes: ${Math.round(small)} ms (${warm.small.stats.passages} passages)  |  ×${(big / small).toFixed(2)}`,
  );
  return { provider: label, big_ms: Math.round(big), small_ms: Math.round(small), ratio: Number((big / small).toFixed(2)), passages: s.passages, clusters: warm.big.clusters.length, trends: warm.big.trends.length, cross_show_clusters: warm.big.clusters.filter((c) => c.feeds >= 2).length, runs: RUNS };
}

const admin = new Client({ connectionString: ADMIN });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${DB}`);
await admin.end();
const url = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
const results = [];
try {
  const ds = await createMigrationDataSource(url).initialize();
  await migrateUp(ds);
  await ds.destroy();
  const pg = new Client({ connectionString: url });
  await pg.connect();
  const now = new Date();
  const t0 = performance.now();
  const n = await seed_(pg, now);
  await pg.query('ANALYZE');
  await pg.end();
  console.log(`seeded ${n} episodes (${FEEDS * PER_FEED} this week, the rest in the 4 weeks before) in ${Math.round(performance.now() - t0)} ms; ${os.cpus().length} CPUs "${os.cpus()[0]?.model}", load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const base = { PODBRAIN_CONFIG: '', DATABASE_URL: url, LOG_LEVEL: 'silent', DATA_DIR: path.join(os.tmpdir(), 'podbrain-bench-digest') };
  const hashConfig = loadConfig({ env: { ...base, EMBEDDINGS_PROVIDER: 'hash' } });
  const database = new Database(hashConfig, silentLogger, { poolSize: 6 });
  try {
    results.push(await measure('hash', hashConfig, database, now));
    if (process.env.BENCH_ONNX === '1') {
      const { ensureEmbeddingModel } = await import(path.join(root, 'services/test/support/bert-onnx.mjs'));
      const modelPath = ensureEmbeddingModel({ texts: [FILLER.join(' '), ...SUBJECTS.map((s) => s.words.join(' '))], shape: 'minilm' });
      const onnxConfig = loadConfig({ env: { ...base, EMBEDDINGS_PROVIDER: 'onnx', EMBEDDINGS_MODEL_PATH: modelPath } });
      results.push(await measure('onnx', onnxConfig, database, now));
    }
  } finally {
    await database.close();
    await closeEmbeddingProviders();
  }
  console.log(JSON.stringify({ bench: 'digest', load: os.loadavg().map((l) => Number(l.toFixed(2))), results }));
} finally {
  const c = new Client({ connectionString: ADMIN });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await c.end();
}
