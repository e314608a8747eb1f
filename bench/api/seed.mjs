// The api benchmarks' database: `episodes` episodes in `feeds` feeds, all subscribed by the
// default tenant, mixed states, ~500 bytes of show notes each (bench:api, bench:telemetry-api),
// and the small HTTP helpers both benchmarks use.
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const { Client } = require('pg');

export const adminUrl = process.env.PODBRAIN_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Recreates database `db`, migrates it and seeds it; returns its URL and the episode count. */
export async function seedApiDatabase({ db, episodes, feeds }) {
  const { createMigrationDataSource, migrateUp } = require(path.join(root, 'services/dist/db/migrate.js'));
  const dbUrl = adminUrl.replace(/\/[^/]*$/, `/${db}`);
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const ds = await createMigrationDataSource(dbUrl).initialize();
  await migrateUp(ds);
  await ds.destroy();
  const pg = new Client({ connectionString: dbUrl });
  await pg.connect();
  await pg.query(
    `INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at)
     SELECT 'feed' || f, 'https://example.com/feed' || f || '.xml', 'Bench feed ' || f, 3600, now() + interval '1 day' FROM generate_series(1, $1) f`,
    [feeds],
  );
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) SELECT 'default', id FROM feeds`);
  const states = ['pending', 'transcribing', 'enriching', 'done', 'done', 'done', 'failed'];
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, title, published_at, duration_s, enclosure, transcripts, source, state, state_reason, failed_stage)
     SELECT md5('ep' || i), 'feed' || (1 + i % $2), 'Benchmark episode number ' || i || ': a title of ordinary length',
            timestamptz '2020-01-01' + make_interval(mins => i * 37), 1800 + i % 3600,
            jsonb_build_object('url', 'https://cdn.example.com/audio/' || i || '.mp3', 'type', 'audio/mpeg', 'length', 12345678),
            '[]'::jsonb, jsonb_build_object('description', repeat('Show notes of episode ' || i || '. ', 20)),
            ($3::text[])[1 + i % 7]::episode_state, CASE WHEN i % 7 = 6 THEN 'whisper exited with code 1' END, CASE WHEN i % 7 = 6 THEN 'transcribe' END
     FROM generate_series(1, $1) i`,
    [episodes, feeds, states],
  );
  await pg.query('ANALYZE');
  const { rows } = await pg.query('SELECT count(*)::int AS n FROM episodes');
  await pg.end();
  return { dbUrl, count: rows[0].n };
}

export async function dropDatabase(db) {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end();
}

/** A TCP port the kernel says is free right now. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Polls `url` until it answers 2xx; returns that response. */
export async function waitHttp(url, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return r;
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error(`${url} did not answer in time`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
