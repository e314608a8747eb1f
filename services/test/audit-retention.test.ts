import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { StageJobs } from '../src/jobs/stage.jobs';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir } from './support/stack';

// admin_audit grows with every admin call: the scheduler prunes it after AUDIT_RETENTION_DAYS.
describe('admin audit retention', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  const contexts: RoleContext[] = [];

  const schedulerWith = async (days: string) => {
    const config = loadConfig({
      env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_audit_${process.pid}`, AUDIT_RETENTION_DAYS: days, PODBRAIN_CONFIG: '' },
    });
    const ctx = await createRoleContext(config, { log: silentLogger, poolSize: 2 });
    contexts.push(ctx);
    return { ctx, scheduler: new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis) };
  };
  const ages = async (ctx: RoleContext) =>
    (await ctx.database.db.selectFrom('admin_audit').select('path').orderBy('path').execute()).map((r) => r.path);

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('audit-retention');
    const ds = await openMigrationDataSource(loadConfig({ env: { DATABASE_URL: db.url, PODBRAIN_CONFIG: '' } }), { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
  }, 60_000);

  afterAll(async () => {
    for (const ctx of contexts) await ctx.close();
    await clearRedisPrefix('redis://127.0.0.1:6379', `pbtest_audit_${process.pid}`).catch(() => undefined);
    await db?.drop();
    tmp?.remove();
  });

  it('deletes rows older than the retention, keeps the rest, at most once an hour; 0 keeps everything', async () => {
    const { ctx: keepAll, scheduler: never } = await schedulerWith('0');
    const day = 86_400_000;
    await keepAll.database.db
      .insertInto('admin_audit')
      .values([100, 31, 29, 0].map((d) => ({ at: new Date(Date.now() - d * day), actor: 'admin-key', method: 'POST', path: `/api/admin/d${String(d).padStart(3, '0')}`, params: '{}', status: 200 })))
      .execute();
    expect(await never.pruneAudit()).toBe(0);
    expect(await ages(keepAll)).toHaveLength(4);

    const { ctx, scheduler } = await schedulerWith('30');
    expect(await scheduler.pruneAudit()).toBe(2);
    expect(await ages(ctx)).toEqual(['/api/admin/d000', '/api/admin/d029']);
    // Within the hour nothing runs again, an hour later it does.
    await ctx.database.db.insertInto('admin_audit').values({ at: new Date(Date.now() - 40 * day), actor: 'open', method: 'PUT', path: '/api/admin/late', params: '{}', status: 202 }).execute();
    expect(await scheduler.pruneAudit()).toBe(0);
    expect(await scheduler.pruneAudit(Date.now() + 3_600_001)).toBe(1);
    expect(await ages(ctx)).toEqual(['/api/admin/d000', '/api/admin/d029']);
  });
});
