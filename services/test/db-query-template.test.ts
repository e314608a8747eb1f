import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/logger';
import { Database, QueryTemplate } from '../src/db/database';
import { migrateUp, createMigrationDataSource } from '../src/db/migrate';
import { createTestDatabase } from './support/pg';

// QueryTemplate: a hot read built and compiled once (the Library page), run with other values.
describe('QueryTemplate', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let database: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    const ds = await createMigrationDataSource(testDb.url).initialize();
    await migrateUp(ds);
    await ds.destroy();
    database = new Database({ databaseUrl: testDb.url }, silentLogger, { poolSize: 2 });
    await database.db
      .insertInto('feeds')
      .values(['a', 'b', 'c'].map((id, i) => ({ id, url: `https://example.com/${id}.xml`, title: `Feed ${id}`, poll_interval_s: 60 * (i + 1) })))
      .execute();
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  const byInterval = () =>
    new QueryTemplate<{ min: number; notId: string; n: number }, { id: string }>((v) =>
      database.db.selectFrom('feeds').select('id').where('poll_interval_s', '>=', v.min).where('id', '<>', v.notId).orderBy('id').limit(v.n),
    );

  it('compiles once with stand-ins and runs with the values given, by name', async () => {
    const t = byInterval();
    expect(t.bind({ min: 1, notId: 'x', n: 9 }).values).toEqual([1, 'x', 9]);
    expect((await database.preparedTemplate(t, { min: 60, notId: 'b', n: 10 })).map((r) => r.id)).toEqual(['a', 'c']);
    expect((await database.preparedTemplate(t, { min: 120, notId: 'zzz', n: 1 })).map((r) => r.id)).toEqual(['b']);
  });

  it('is one prepared statement per SQL shape', () => {
    const a = byInterval();
    const b = byInterval();
    expect(a.name).toBe(b.name);
    const other = new QueryTemplate<{ n: number }, { id: string }>((v) => database.db.selectFrom('feeds').select('id').limit(v.n));
    expect(other.name).not.toBe(a.name);
  });

  it('refuses to run without a value for a stand-in', () => {
    const t = byInterval();
    expect(() => t.bind({ min: 1, n: 2 } as never)).toThrow(/no value for notId/);
  });
});
