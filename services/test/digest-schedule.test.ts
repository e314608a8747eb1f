import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { CronError, digestCron, parseCron } from '../src/digest/cron';
import { DigestSchedule } from '../src/digest/digest-schedule';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { digestJobId } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { DAY, seedDigestCorpus } from './support/digest-corpus';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

const local = (y: number, mo: number, d: number, h = 0, mi = 0) => new Date(y, mo - 1, d, h, mi);

describe('digest schedule: 5-field cron in the process time zone', () => {
  it('finds the previous and next run', () => {
    const weekly = parseCron('0 6 * * 1'); // Mondays 06:00
    const wed = local(2026, 12, 2, 12, 0); // a Wednesday
    expect(weekly.prev(wed)).toEqual(local(2026, 11, 30, 6, 0));
    expect(weekly.next(wed)).toEqual(local(2026, 12, 7, 6, 0));
    expect(weekly.prev(local(2026, 11, 30, 6, 0))).toEqual(local(2026, 11, 30, 6, 0)); // at the minute: due
    expect(weekly.next(local(2026, 11, 30, 6, 0))).toEqual(local(2026, 12, 7, 6, 0));
    expect(parseCron('*/15 9-17 * * mon-fri').next(local(2026, 12, 4, 17, 50))).toEqual(local(2026, 12, 7, 9, 0)); // Friday evening → Monday
    expect(parseCron('30 7 1 jan,jul *').prev(local(2026, 12, 6))).toEqual(local(2026, 7, 1, 7, 30));
    expect(parseCron('0 0 * * 7').next(local(2026, 12, 1))).toEqual(local(2026, 12, 6, 0, 0)); // 7 is Sunday
    // Both day fields restricted: either matches (Vixie cron).
    expect(parseCron('0 12 13 * 5').next(local(2026, 12, 1))).toEqual(local(2026, 12, 4, 12, 0));
  });

  it('refuses bad expressions with what is wrong; off disables', () => {
    expect(digestCron('off')).toBeNull();
    expect(digestCron(' OFF ')).toBeNull();
    for (const [bad, why] of [
      ['0 6 * *', /has 4 field\(s\); a cron schedule has 5/],
      ['61 6 * * 1', /minute: 61 is outside 0-59/],
      ['0 6 * * funday', /day of week: "funday" is not a number or a name/],
      ['0 6 5-1 * *', /runs backwards/],
      ['0 6 31 2 *', /never runs/],
      ['@weekly', /has 1 field/],
    ] as const) {
      expect(() => digestCron(bad), bad).toThrow(CronError);
      expect(() => digestCron(bad), bad).toThrow(why);
    }
    let err: unknown;
    try {
      loadConfig({ env: { DIGEST_SCHEDULE: '0 25 * * *', PODBRAIN_CONFIG: '' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/DIGEST_SCHEDULE[\s\S]*hour: 25 is outside 0-23/);
    expect(loadConfig({ env: { DIGEST_SCHEDULE: 'off', PODBRAIN_CONFIG: '' } }).digest.schedule).toBe('off');
  });
});

describe('scheduled digest: cron due → job → stored → notification', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  let pg: Client;
  let hook: http.Server;
  const received: Record<string, unknown>[] = [];
  const contexts: RoleContext[] = [];
  const hosts: WorkerHost[] = [];
  const PREFIX = `pbtest_digest_sched_${process.pid}`;
  // The schedule: every day at 06:00 local; `due` is its latest run before now.
  const SCHEDULE = '0 6 * * *';
  const due = parseCron(SCHEDULE).prev(new Date())!;
  let config: Config;

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('digest-schedule');
    const ds = await openMigrationDataSource(loadConfig({ env: { DATABASE_URL: db.url, PODBRAIN_CONFIG: '' } }), { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    await seedDigestCorpus(pg, due);
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    config = loadConfig({
      env: {
        DATABASE_URL: db.url,
        DATA_DIR: path.join(tmp.dir, 'data'),
        QUEUE_PREFIX: PREFIX,
        PODBRAIN_CONFIG: '',
        LOG_LEVEL: 'silent',
        EMBEDDINGS_PROVIDER: 'hash',
        DIGEST_SCHEDULE: SCHEDULE,
        PUBLIC_URL: 'https://brain.example',
        NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
      },
    });
  }, 120_000);

  afterAll(async () => {
    for (const h of hosts) await h.close();
    for (const ctx of contexts) await ctx.close();
    await clearRedisPrefix('redis://127.0.0.1:6379', PREFIX).catch(() => undefined);
    await new Promise((r) => hook?.close(r));
    await pg?.end();
    await db?.drop();
    tmp?.remove();
  });

  const context = async () => {
    const ctx = await createRoleContext(config, { log: silentLogger, poolSize: 3 });
    contexts.push(ctx);
    return ctx;
  };

  it('the leader enqueues one job per tenant and time; the worker stores the digest and notifies once', async () => {
    const ctx = await context();
    // Started a minute before the scheduled time; the clock then passes it.
    let clock = new Date(due.getTime() - 60_000);
    const scheduler = new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis, { now: () => clock });
    await scheduler.lock.tick();
    expect(scheduler.lock.isLeader).toBe(true);
    await scheduler.tick();
    expect(await ctx.queues.get('digest').getJobCounts('waiting')).toMatchObject({ waiting: 0 });
    clock = new Date(due.getTime() + 30_000);
    await scheduler.tick();
    const jobId = digestJobId('default', due);
    const job = await ctx.queues.get('digest').getJob(jobId);
    expect(job?.data).toMatchObject({ tenantId: 'default', from: new Date(due.getTime() - 7 * DAY).toISOString(), to: due.toISOString() });
    // Another tick, and another scheduler (a restart) at the same time: no second job.
    await scheduler.tick();
    const again = new DigestSchedule(ctx, ctx.queues, () => clock, new Date(due.getTime() - 60_000));
    await again.tick();
    expect(await ctx.queues.get('digest').getJobCounts('waiting', 'active', 'completed')).toEqual({ waiting: 1, active: 0, completed: 0 });

    const host = new WorkerHost(ctx, jobHandlers(ctx, new StageJobs(ctx)), { queues: ['digest'], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 30_000, shutdownGraceMs: 2000 });
    hosts.push(host);
    host.start();
    const row = await waitFor('the scheduled digest', async () => (await pg.query(`SELECT id, trigger, kind, period_end, body FROM digests`)).rows[0], 30_000);
    expect(row).toMatchObject({ trigger: 'scheduled', kind: 'weekly' });
    expect(new Date(row.period_end).getTime()).toBe(due.getTime());
    expect(row.body.clusters.length).toBe(2);
    await waitFor('the notification', async () => received.length > 0, 10_000);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ kind: 'digest', key: String(row.id), severity: 'info', link: `https://brain.example/digests/${row.id}` });
    expect(received[0].body).toMatch(/^6 new episodes from 3 shows\nTop stories:\n• /);

    // The job again (a retry, a second job with another id): nothing new is stored or sent.
    await ctx.queues.get('digest').add('digest', { tenantId: 'default', from: new Date(due.getTime() - 7 * DAY).toISOString(), to: due.toISOString() }, { jobId: 'digest.default.again' });
    await waitFor('the repeated job', async () => (await ctx.queues.get('digest').getJobState('digest.default.again')) === 'completed', 30_000);
    const repeat = await ctx.queues.get('digest').getJob('digest.default.again');
    expect(repeat?.returnvalue).toMatchObject({ created: false, notified: false });
    expect((await pg.query(`SELECT count(*)::int AS n FROM digests`)).rows[0].n).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toHaveLength(1);
    await scheduler.stop();
  }, 90_000);

  it('a missed run is made up once at the next start, for tenants the schedule served before; a fresh tenant waits', async () => {
    const ctx = await context();
    for (const t of ['served', 'fresh']) {
      await pg.query(`INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [t]);
      await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ($1, 'feed-money')`, [t]);
    }
    // 'served' had a scheduled digest a week before this run; the box was off at `due`.
    const prevFrom = new Date(due.getTime() - 14 * DAY);
    const prevTo = new Date(due.getTime() - 7 * DAY);
    await pg.query(`INSERT INTO digests (tenant_id, period_start, period_end, kind, trigger, body) VALUES ('served', $1, $2, 'weekly', 'scheduled', '{}')`, [prevFrom, prevTo]);
    const startedLate = new Date(due.getTime() + 3 * 3600_000);
    const schedule = new DigestSchedule(ctx, ctx.queues, () => startedLate, startedLate);
    const r = await schedule.tick();
    // default has this window already (the test before), fresh never had one: only 'served' is made up.
    expect(r).toEqual({ due: due.toISOString(), enqueued: [digestJobId('served', due)] });
    expect(await schedule.tick()).toEqual({ skipped: 'not_due' });
    const off = new DigestSchedule({ ...ctx, config: { ...config, digest: { ...config.digest, schedule: 'off' } } }, ctx.queues);
    expect(await off.tick()).toEqual({ skipped: 'off' });
  }, 60_000);
});
