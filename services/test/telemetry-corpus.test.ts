import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { createMigrationDataSource, migrateUp } from '../src/db/migrate';
import { StageRunRepository } from '../src/repositories/stage-runs.repository';
import { addFeed, sqlRows } from './support/db';
import { createTestDatabase } from './support/pg';

/** podbrain_corpus_artifacts (Grafana: Corpus Growth / Artifacts by kind) counts committed artifact sets per stage. */
describe('committed artifact sets per stage (real Postgres)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let database: Database;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = await createMigrationDataSource(db.url, { poolSize: 1 }).initialize();
    await migrateUp(ds);
    database = new Database({ databaseUrl: db.url }, silentLogger, { poolSize: 1 });
  });
  afterAll(async () => {
    await database?.close();
    await ds?.destroy();
    await db?.drop();
  });

  it('counts distinct artifact directories of done and reused runs, nothing else', async () => {
    const runs = new StageRunRepository(database);
    expect(await runs.committedArtifactsByStage()).toEqual({});
    const { feed } = await addFeed(database, 'https://example.org/feed.xml', { pollIntervalS: 3600 });
    for (const key of ['ep-1', 'ep-2', 'ep-3']) {
      await sqlRows(database, `INSERT INTO episodes (episode_key, feed_id, title, enclosure, transcripts, source) VALUES ($1, $2, $1, 'null', '[]', '{}')`, [key, feed.id]);
    }
    await runs.finish('ep-1', 'transcribe', 'f1', { status: 'done', durationMs: 5, artifactPath: '/data/a/ep-1/transcribe/f1' });
    await runs.finish('ep-2', 'transcribe', 'f1', { status: 'done', durationMs: 5, artifactPath: '/data/a/ep-2/transcribe/f1' });
    await runs.recordReuse('ep-3', 'transcribe', 'f1', '/data/a/ep-2/transcribe/f1'); // the same set, attached once more
    await runs.finish('ep-1', 'enrich', 'f2', { status: 'done', durationMs: 5, artifactPath: '/data/a/ep-1/enrich/f2' });
    await runs.finish('ep-2', 'enrich', 'f2', { status: 'failed', durationMs: 5, error: 'boom' });
    await runs.finish('ep-3', 'index', 'f3', { status: 'skipped', durationMs: 5 });
    await runs.start('ep-3', 'enrich', 'f2');
    expect(await runs.committedArtifactsByStage()).toEqual({ transcribe: 2, enrich: 1 });
  });
});
