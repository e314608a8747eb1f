import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { appliedMigrations, createMigrationDataSource, MIGRATIONS, migrateDown, migrateUp } from '../src/db/migrate';
import { createTestDatabase } from './support/pg';
import { ensureBuilt } from './support/stack';

const TABLES = [
  'admin_audit', 'api_keys', 'bookmarks', 'chapters', 'chunks', 'digests', 'episodes', 'feeds', 'incident_actions', 'incident_events', 'incidents', 'insight_support',
  'insights', 'kg_edges', 'kg_nodes', 'notes', 'playback', 'quotes', 'refeed_tokens', 'runtime_settings', 'saved_search_hits', 'saved_searches', 'stage_runs', 'subscriptions', 'summaries', 'tenants', 'transcript_segments',
];

async function tables(ds: DataSource): Promise<string[]> {
  const rows = (await ds.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1`)) as { tablename: string }[];
  return rows.map((r) => r.tablename);
}

describe('db migrations (real Postgres)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = await createMigrationDataSource(db.url, { poolSize: 2 }).initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('runs all ups, all downs, all ups again', async () => {
    expect(await migrateUp(ds)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await tables(ds)).toEqual(TABLES);
    expect(await migrateUp(ds)).toEqual([]);

    expect(await migrateDown(ds, { all: true })).toBe(MIGRATIONS.length);
    expect(await tables(ds)).toEqual([]);
    const types = (await ds.query(`SELECT typname FROM pg_type WHERE typname = 'episode_state'`)) as unknown[];
    expect(types).toHaveLength(0);
    expect(await appliedMigrations(ds)).toEqual([]);

    await migrateUp(ds);
    expect(await tables(ds)).toEqual(TABLES);
  });

  it('seeds the default tenant, keeps the hot-read indexes, and fills chunks.tsv by itself', async () => {
    expect(await ds.query(`SELECT id FROM tenants`)).toEqual([{ id: 'default' }]);
    const idx = (await ds.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('episodes','chunks')`)) as { indexname: string; indexdef: string }[];
    const defs = idx.map((i) => i.indexdef).join('\n');
    expect(defs).toMatch(/episodes USING btree \(feed_id, published_at DESC\)/);
    expect(defs).toMatch(/episodes USING btree \(state/);
    expect(defs).toMatch(/chunks USING gin \(tsv\)/);

    // The Kysely schema (db/schema.ts) writes and reads what the migrations created.
    const database = new Database({ databaseUrl: db.url }, silentLogger, { poolSize: 1 });
    await database.db.insertInto('feeds').values({ id: 'f1', url: 'https://example.com/feed.xml', title: 'Show' }).execute();
    await database.db.insertInto('episodes').values({ episode_key: 'e1', feed_id: 'f1', guid: 'g1', title: 'Ep', transcripts: '[]', source: '{}', state: 'pending' }).execute();
    await ds.query(`INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms) VALUES ('e1','fp',0,'The runners were running quickly',0,1000)`);
    const hits = (await ds.query(`SELECT idx FROM chunks WHERE tsv @@ plainto_tsquery('english', 'run')`)) as unknown[];
    expect(hits).toHaveLength(1);
    const ep = await database.db.selectFrom('episodes').selectAll().where('episode_key', '=', 'e1').executeTakeFirstOrThrow();
    await database.close();
    expect(ep.state).toBe('pending');
    await expect(ds.query(`UPDATE episodes SET state = 'bogus' WHERE episode_key = 'e1'`)).rejects.toThrow(/invalid input value for enum/);
    await expect(ds.query(`INSERT INTO stage_runs (episode_key, stage, fingerprint, status) VALUES ('e1','ingest','x','done'), ('e1','ingest','x','done')`)).rejects.toThrow(/duplicate key/);
  });
});

describe('podbrain db migrate / revert (built CLI)', () => {
  const SERVICES = path.resolve(__dirname, '..');
  const run = promisify(execFile);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    await ensureBuilt(); // builds only when src is newer than dist
  }, 300_000);
  afterAll(async () => db?.drop());

  it('migrate, revert --all, migrate', async () => {
    const cli = (...args: string[]) => run(process.execPath, ['dist/cli/main.js', 'db', ...args], { cwd: SERVICES, env: { ...process.env, DATABASE_URL: db.url, PODBRAIN_CONFIG: '' } });
    expect((await cli('migrate')).stdout).toContain('applied InitialSchema');
    expect((await cli('migrate')).stdout).toContain('up to date');
    expect((await cli('revert', '--all')).stdout).toContain(`reverted ${MIGRATIONS.length} migration(s)`);
    expect((await cli('status')).stdout).toContain('no migrations applied');
    expect((await cli('migrate')).stdout).toContain('applied InitialSchema');
    // Five CLI starts (each loads the whole dist) and every migration twice: ~25 s on 2 idle cores, far more under load.
  }, 180_000);
});
