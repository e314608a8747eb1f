import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { StageJobs } from '../src/jobs/stage.jobs';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { registry } from '../src/telemetry/metrics';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir } from './support/stack';

// podbrain_queue_paused{queue} drives PodbrainQueuePausedWithBacklog (runbook queue-paused):
// the scheduler samples it with the queue depths.
describe('podbrain_queue_paused', () => {
  const prefix = `pbtest_qpaused_${process.pid}`;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  let ctx: RoleContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('queue-paused');
    const config = loadConfig({ env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: prefix, PODBRAIN_CONFIG: '' } });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    ctx = await createRoleContext(config, { log: silentLogger, poolSize: 2 });
  }, 60_000);

  afterAll(async () => {
    await ctx?.close();
    await clearRedisPrefix('redis://127.0.0.1:6379', prefix).catch(() => undefined);
    await db?.drop();
    tmp?.remove();
  });

  const sample = async (queue: string) => {
    const text = await registry.metrics();
    const value = (name: string, extra = '') => Number(new RegExp(`^${name}\\{queue="${queue}"${extra}[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    return { paused: value('podbrain_queue_paused'), waiting: value('podbrain_queue_depth', ',state="waiting"') };
  };

  it('is 1 for a paused queue (its waiting jobs still counted) and 0 again once it is resumed', async () => {
    const scheduler = new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis);
    const q = ctx.queues.get('enrich');
    await q.pause();
    await q.add('enrich', { episode_key: 'x' } as never);
    await scheduler.sampleGauges();
    expect(await sample('enrich')).toEqual({ paused: 1, waiting: 1 });
    expect((await sample('ingest')).paused).toBe(0);
    await q.resume();
    await scheduler.sampleGauges();
    expect((await sample('enrich')).paused).toBe(0);
  });
});
