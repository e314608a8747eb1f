import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { createLogger, silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import type { Stage } from '../src/pipeline/stage';
import { QUEUE_NAMES } from '../src/queue/queues';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { OUT_OF_SPACE_MAX_RETRIES, Scheduler } from '../src/scheduler/scheduler';
import { createIngestStage } from '../src/stages/ingest.stage';
import { DEFAULT_DISK_THRESHOLDS, diskCheck } from '../src/telemetry/health';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { WorkerHost } from '../src/queue/worker-host';
import { createTestDatabase } from './support/pg';
import { fixture } from './support/fixtures';
import { serveBody, startFixtureServer } from './support/http-fixture-server';
import { serveSlowAudio } from './support/slow-audio';
import { PG_BIN, REDIS_SERVER, startPrivatePostgres, startPrivateRedis, type PrivateService } from './support/private-services';
import { clearRedisPrefix, SERVICES_DIR, startStack, tempDir, waitFor, type Stack } from './support/stack';
import { addFeed, sqlRows } from './support/db';

/**
 * Hostile probes on the lifecycle of the platform (issue 12, "every failure says why"):
 * what the roles and their bookkeeping do when Redis or Postgres go away under them.
 * Outages are made on a private Redis / Postgres (support/private-services.ts), never on the
 * machine's shared ones.
 */
const API_BUILT = existsSync(path.join(SERVICES_DIR, 'dist/api/bootstrap.js'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A feed of one episode whose enclosure takes `ms` to download (a job that is still running when the outage starts). */
async function startSlowFeed(ms: number) {
  const server = await startFixtureServer();
  const audioLength = serveSlowAudio(server, '/slow.ogg', ms, 20);
  server.route('/feed.xml', serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title><link>https://example.com</link><description>d</description>
<item><guid>slow</guid><title>Slow download</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><enclosure url="${server.url('/slow.ogg')}" type="audio/ogg" length="${audioLength}"/></item>
</channel></rss>`, { contentType: 'application/rss+xml' }));
  return { feedUrl: server.url('/feed.xml'), close: () => server.close() };
}

let stack: Stack | null = null;
let privateRedis: (PrivateService & { url: string }) | null = null;
let privatePg: (PrivateService & { adminUrl: string }) | null = null;
afterEach(async () => {
  await privateRedis?.thaw();
  await privatePg?.thaw();
  await stack?.stop();
  stack = null;
  await privateRedis?.remove();
  privateRedis = null;
  await privatePg?.remove();
  privatePg = null;
});

const alive = (s: Stack, name: string) => {
  const c = s.roles.get(name)!.child;
  return c.exitCode === null && c.signalCode === null;
};

describe.skipIf(!REDIS_SERVER || !PG_BIN || !API_BUILT)('SIGTERM while Redis or Postgres is down (point 12)', () => {
  const ROLES = ['api', 'scheduler', 'worker-io', 'worker-gpu', 'worker-ml'] as const;
  const GRACE_MS = 2000;
  /** SHUTDOWN_GRACE_MS plus the margin a role may take to close its connections. */
  const BOUND_MS = GRACE_MS + 5000;

  for (const down of ['redis', 'postgres', 'frozen'] as const) {
    const what = down === 'frozen' ? 'redis and postgres frozen (SIGSTOP: connections open, no answers)' : `${down} stopped`;
    it(`${what} with a download running: each of the five roles exits on SIGTERM within SHUTDOWN_GRACE_MS + 5 s`, async () => {
      const t = Date.now();
      const feed = await startSlowFeed(15_000);
      try {
        [privateRedis, privatePg] = await Promise.all([startPrivateRedis(), startPrivatePostgres()]);
        stack = await startStack({ name: `lf${down}`, redisUrl: privateRedis.url, pgAdminUrl: privatePg.adminUrl, env: { SHUTDOWN_GRACE_MS: String(GRACE_MS), ALLOW_PRIVATE_NETWORK: 'true' } });
        const s = stack;
        await Promise.all(ROLES.map((r) => s.start(r)));
        console.log(`[lifecycle-faults] ${down}: 5 roles up after ${Date.now() - t} ms`);
        await addFeed(s.db, feed.feedUrl, { pollIntervalS: 3600 });
        await waitFor('download running', async () => ((await s.db.query(`SELECT 1 FROM stage_runs WHERE stage = 'ingest' AND status = 'running'`)) as unknown[]).length > 0, 30_000, 50);
        if (down === 'frozen') await Promise.all([privateRedis.freeze(), privatePg.freeze()]);
        else await (down === 'redis' ? privateRedis.stop() : privatePg.stop());
        await sleep(1500); // the roles notice: reconnect loops, failed health checks
        for (const r of ROLES) expect(alive(s, r), `${r} died when ${down} went away:\n${s.logs(r).slice(-2000)}`).toBe(true);

        const t0 = Date.now();
        const exits = await Promise.all(
          ROLES.map(async (r) => {
            const exit = await Promise.race([s.kill(r, 'SIGTERM'), sleep(BOUND_MS + 10_000).then(() => null)]);
            return { role: r, ms: Date.now() - t0, exit, tail: exit ? '' : s.logs(r).slice(-1500) };
          }),
        );
        console.log(`[lifecycle-faults] ${down} down, SIGTERM → exit: ${exits.map((e) => `${e.role} ${e.exit ? `${e.ms} ms (code ${e.exit.code})` : 'still alive'}`).join(', ')}`);
        for (const e of exits) {
          expect(e.exit, `${e.role} still alive ${BOUND_MS + 10_000} ms after SIGTERM with ${down} down:\n${e.tail}`).not.toBeNull();
          expect(e.ms, `${e.role} took ${e.ms} ms to exit`).toBeLessThanOrEqual(BOUND_MS);
          expect(e.exit, s.logs(e.role).slice(-1500)).toEqual({ code: 0, signal: null });
          expect(s.logs(e.role)).toContain('"msg":"stopped"');
        }
        // the download outlived the grace period: it was aborted, not waited for
        expect(s.logs('worker-io')).toContain('grace period over: aborting running jobs');
      } finally {
        await feed.close();
      }
    }, 150_000);
  }
});

// ------------------------------------------------------------------ in-process platform

/**
 * The stage chain with the real ingest (copies a local fixture) and small deterministic
 * transcribe/enrich/index stages whose artifacts project cleanly. `transcribe` waits on
 * `gate.transcribe` when set (a stage that is "mid-run" until the test lets it finish) and
 * `ingest` can be made to fail with `gate.ingestError`.
 */
interface Gates {
  transcribe?: Promise<void>;
  ingestError?: () => Error | null;
}
function testStages(gates: Gates): Stage[] {
  const fake = (name: 'transcribe' | 'enrich' | 'index', files: (title: string, ep: string) => Record<string, unknown>): Stage => ({
    name,
    needs: name === 'transcribe' ? ['ingest'] : ['transcribe'],
    plan: () => ({ configured: true, parts: { fake: name, v: 1 } }),
    async run(ctx, out) {
      if (name === 'transcribe' && gates.transcribe) await gates.transcribe;
      for (const [file, value] of Object.entries(files(ctx.episode.title, ctx.episode.episodeKey))) {
        if (typeof value === 'string') await out.writeText(file, value);
        else await out.writeJson(file, value);
      }
      return { info: { fake: true } };
    },
  });
  const ingest = createIngestStage();
  return [
    {
      ...ingest,
      async run(ctx, out) {
        const e = gates.ingestError?.();
        if (e) throw e;
        return ingest.run(ctx, out);
      },
    },
    fake('transcribe', (title, ep) => ({
      'transcript.json': {
        schema_version: 1, episode_key: ep, engine: 'fake', model: 'none', language: 'en', duration_ms: 4000, speech_coverage: 1, status: 'valid', quality: { reasons: [] },
        segments: [
          { start_ms: 0, end_ms: 2000, text: `Welcome to ${title}.` },
          { start_ms: 2000, end_ms: 4000, text: 'Photosynthesis turns sunlight into sugar.' },
        ],
      },
    })),
    fake('enrich', () => ({
      'summary.json': { schema_version: 1, title: 'Plants', bullets: ['sunlight into sugar'], key_quotes: [], status: 'valid', method: 'extractive' },
      'gi.json': { schema_version: 1, nodes: [], edges: [] },
      'kg.json': { schema_version: 1, nodes: [], edges: [] },
    })),
    fake('index', (title) => ({
      'chunks.jsonl': `${JSON.stringify({ idx: 0, text: `Welcome to ${title}. Photosynthesis turns sunlight into sugar.`, start_ms: 0, end_ms: 4000, vector_id: 7 })}\n`,
    })),
  ];
}

function writeFeed(dir: string, items: { guid: string; title: string }[]): string {
  copyFileSync(fixture('audio', 'fleurs-en-000.ogg'), path.join(dir, 'a.ogg'));
  const xml = `<?xml version="1.0"?><rss version="2.0"><channel><title>Lifecycle</title><link>https://example.com</link><description>d</description>
${items.map((it, i) => `<item><guid>${it.guid}</guid><title>${it.title}</title><pubDate>Mon, 0${i + 1} Jan 2024 10:00:00 GMT</pubDate><enclosure url="a.ogg" type="audio/ogg" length="1000"/></item>`).join('\n')}
</channel></rss>`;
  const file = path.join(dir, 'feed.xml');
  writeFileSync(file, xml);
  return file;
}

interface Platform {
  config: Config;
  ctx: RoleContext;
  host: WorkerHost;
  scheduler: Scheduler;
  tmp: ReturnType<typeof tempDir>;
  stop(): Promise<void>;
}

/** Workers for every queue and the scheduler in this process, on `databaseAdminUrl`'s Postgres and the shared Redis (own prefix). */
async function startPlatform(name: string, opts: { pgAdminUrl?: string; gates: Gates; env?: Record<string, string>; scheduler?: (ctx: RoleContext, pipeline: StageJobs) => Scheduler }): Promise<Platform> {
  const db = await createTestDatabase(opts.pgAdminUrl);
  const tmp = tempDir(`lf-${name}`);
  const config = loadConfig({
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: path.join(tmp.dir, 'data'),
      QUEUE_PREFIX: `pbtest_lf${name}_${process.pid}`,
      QUEUE_BACKOFF_MS: '100',
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_LEASE_MS: '2000',
      RECONCILE_GRACE_MS: '1000',
      QUEUE_LOCK_MS: '3000',
      ...opts.env,
    },
  });
  const ds = await openMigrationDataSource(config, { poolSize: 1 });
  await migrateUp(ds);
  await ds.destroy();
  const log = process.env.LF_DEBUG ? createLogger({ service: `lf-${name}`, level: 'debug' }) : silentLogger;
  const ctx = await createRoleContext(config, { log, stages: testStages(opts.gates), poolSize: 4 });
  const pipeline = new StageJobs(ctx);
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: QUEUE_NAMES, connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: config.queue.lockMs, shutdownGraceMs: 3000 });
  const scheduler = opts.scheduler ? opts.scheduler(ctx, pipeline) : new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
  host.start();
  scheduler.start();
  return {
    config,
    ctx,
    host,
    scheduler,
    tmp,
    async stop() {
      await scheduler.stop();
      await host.close();
      await ctx.close();
      await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
      await db.drop().catch(() => undefined);
      tmp.remove();
    },
  };
}

let platform: Platform | null = null;
afterEach(async () => {
  await platform?.stop();
  platform = null;
});

type RunRow = { stage: string; status: string; error: string | null };
const episodeRow = async (p: Platform) => ((await sqlRows(p.ctx.database, `SELECT episode_key, state::text AS state, failed_stage, last_error FROM episodes`)) as { episode_key: string; state: string; failed_stage: string | null; last_error: string | null }[])[0];
const runRows = async (p: Platform) => (await sqlRows(p.ctx.database, `SELECT stage, status, error FROM stage_runs ORDER BY id`)) as RunRow[];

describe.skipIf(!PG_BIN)('stage_runs converge after a Postgres outage (point 5)', () => {
  it('Postgres stopped mid-stage until the job has failed for good, then started: the episode completes and every stage run says done', async () => {
    const t = Date.now();
    privatePg = await startPrivatePostgres();
    let release!: () => void;
    const gates: Gates = { transcribe: new Promise<void>((r) => (release = r)) };
    const p = (platform = await startPlatform('pgout', { pgAdminUrl: privatePg.adminUrl, gates }));
    await addFeed(p.ctx.database, writeFeed(p.tmp.dir, [{ guid: 'a', title: 'Leaves' }]), { pollIntervalS: 3600 });
    await waitFor('transcribe running', async () => (await runRows(p)).some((r) => r.stage === 'transcribe' && r.status === 'running'), 20_000, 50);
    const { episode_key: key } = await episodeRow(p);

    // Postgres goes away mid-stage; the stage finishes (its artifact is committed on disk) but
    // nothing can be written; the job's retries run out while Postgres is still down.
    await privatePg.stop();
    release();
    const tq = p.ctx.queues.get('transcribe');
    const jobId = (await tq.getJobs(['active', 'waiting', 'delayed', 'failed']))[0]?.id;
    expect(jobId).toBeDefined();
    await waitFor('transcribe job failed for good', async () => (await tq.getJobState(jobId!)) === 'failed', 20_000, 50);
    const failedReason = (await tq.getJob(jobId!))?.failedReason;
    await privatePg.start();
    const t0 = Date.now();

    // Within a bound the bookkeeping agrees with the artifacts: the episode is done, no run is left "running".
    const BOUND_MS = 15_000;
    const converged = await waitFor('episode done and every stage run final', async () => {
      const ep = await episodeRow(p);
      const runs = await runRows(p);
      return ep.state === 'done' && runs.every((r) => r.status !== 'running') ? { ep, runs } : null;
    }, BOUND_MS, 100).catch(async (e) => {
      throw new Error(`${(e as Error).message}\nepisode: ${JSON.stringify(await episodeRow(p))}\nruns: ${JSON.stringify(await runRows(p))}`);
    });
    console.log(`[lifecycle-faults] Postgres back → episode done, stage runs final after ${Date.now() - t0} ms (job had failed with: ${failedReason}; test ${Date.now() - t} ms)`);
    expect(converged!.ep.state).toBe('done');
    expect(converged!.runs.map((r) => `${r.stage}:${r.status}`)).toEqual(['ingest:done', 'transcribe:done', 'enrich:done', 'index:done', 'project:done']);
    // exactly one transcript artifact set, the one the run left running committed
    const [tr] = (await sqlRows(p.ctx.database, `SELECT artifact_path FROM stage_runs WHERE episode_key = $1 AND stage = 'transcribe'`, [key])) as { artifact_path: string | null }[];
    expect(tr.artifact_path).toMatch(/transcribe@/);
    // the reconciler settled the run the outage left "running" (the episode had moved on without it)
    expect(p.scheduler.stats.runsRepaired).toBeGreaterThanOrEqual(1);
    expect(p.host.activeJobs).toBe(0);
  }, 90_000);

  it('a run left running is settled from what is committed once its episode has moved on, never while the episode waits on it', async () => {
    const db = await createTestDatabase();
    const tmp = tempDir('lf-runs');
    const config = loadConfig({ env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_lfruns_${process.pid}`, RECONCILE_GRACE_MS: '60000' } });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    const ctx = await createRoleContext(config, { log: silentLogger, poolSize: 2 });
    try {
      const scheduler = new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis);
      const { feed } = await addFeed(ctx.database, 'http://127.0.0.1:9/feed.xml', { pollIntervalS: 3600 });
      const source = { guid: 'g', title: 't', description: null, link: null, image: null, published: null, durationS: null, enclosure: { url: 'https://example.com/a.mp3', type: 'audio/mpeg', length: 1 }, transcripts: [], chaptersUrl: null, persons: [], season: null, episode: null, episodeType: null, explicit: null, author: null };
      const episode = (key: string, state: string, extra = ''): Promise<unknown> =>
        sqlRows(ctx.database, `INSERT INTO episodes (episode_key, feed_id, title, state, source${extra ? ', failed_stage, last_error' : ''}) VALUES ($1, $2, $1, $3, $4${extra ? `, 'transcribe', '${extra}'` : ''})`, [key, feed.id, state, JSON.stringify(source)]);
      await episode('moved', 'enriching');
      await episode('failedthere', 'failed', 'whisper crashed: out of memory');
      await episode('waiting', 'transcribing');
      await episode('donestale', 'done');
      await episode('recent', 'done');
      const run = (key: string, stage: string, age: string) =>
        sqlRows(ctx.database, `INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, started_at) VALUES ($1, $2, 'f0000000000000000', 'running', 1, now() - $3::interval)`, [key, stage, age]);
      await run('moved', 'transcribe', '1 hour');
      await run('failedthere', 'transcribe', '1 hour');
      await run('waiting', 'transcribe', '1 hour');
      await run('donestale', 'project', '1 hour');
      await run('recent', 'index', '5 seconds'); // younger than RECONCILE_GRACE_MS: may still be finishing

      expect(await scheduler.repairStageRuns()).toBe(3);
      const rows = Object.fromEntries(((await sqlRows(ctx.database, `SELECT episode_key, status, error, finished_at IS NOT NULL AS finished FROM stage_runs`)) as { episode_key: string; status: string; error: string | null; finished: boolean }[]).map((r) => [r.episode_key, r]));
      expect(rows.moved).toMatchObject({ status: 'failed', finished: true });
      expect(rows.moved.error).toMatch(/^interrupted: .*the episode is enriching now$/);
      expect(rows.failedthere).toMatchObject({ status: 'failed', error: 'whisper crashed: out of memory', finished: true });
      expect(rows.waiting).toMatchObject({ status: 'running', error: null, finished: false });
      expect(rows.donestale).toMatchObject({ status: 'failed', finished: true }); // a projection of other inputs than the episode's now
      expect(rows.recent).toMatchObject({ status: 'running', finished: false });
      expect(await scheduler.repairStageRuns()).toBe(0);
    } finally {
      await ctx.close();
      await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
      await db.drop();
      tmp.remove();
    }
  }, 60_000);
});

describe('episodes that failed for lack of disk space (point 9)', () => {
  const GiB = 2 ** 30;
  /** A disk whose free space the test sets; the real telemetry check judges it (degraded < 5 GiB, unhealthy < 512 MiB). */
  function fakeDisk(freeBytes: number) {
    const disk = { freeBytes, totalBytes: 100 * GiB, probes: 0 };
    const check = diskCheck('/data', DEFAULT_DISK_THRESHOLDS, async () => {
      disk.probes++;
      return { freeBytes: disk.freeBytes, totalBytes: disk.totalBytes };
    });
    return { disk, check };
  }
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });

  it('are retried once the disk check is healthy again, and not while the disk is low', async () => {
    const { disk, check } = fakeDisk(100 * 2 ** 20); // 100 MiB: unhealthy
    let full = true;
    const p = (platform = await startPlatform('enospc', { gates: { ingestError: () => (full ? enospc() : null) }, scheduler: (ctx, pl) => new Scheduler(ctx, pl, ctx.queues, ctx.redis, { diskHealth: check }) }));
    await addFeed(p.ctx.database, writeFeed(p.tmp.dir, [{ guid: 'a', title: 'Leaves' }]), { pollIntervalS: 3600 });
    const failed = await waitFor('episode failed with ENOSPC', async () => {
      const ep = await episodeRow(p);
      return ep?.state === 'failed' ? ep : null;
    }, 20_000, 100);
    expect(failed).toMatchObject({ failed_stage: 'ingest', last_error: 'ENOSPC: no space left on device, write' });

    // Space is freed on disk but the check still says low (unhealthy, then degraded): no retry.
    full = false;
    const probesBefore = disk.probes;
    await sleep(2500); // > RECONCILE_GRACE_MS + several scheduler ticks
    disk.freeBytes = 2 * GiB; // degraded (< 5 GiB)
    await sleep(1500);
    expect(disk.probes - probesBefore, 'the scheduler looked at the disk').toBeGreaterThan(2);
    expect(await episodeRow(p)).toMatchObject({ state: 'failed', failed_stage: 'ingest' });
    expect(p.scheduler.stats.outOfSpaceRetries).toBe(0);

    // The check turns healthy: the episode is retried and completes.
    disk.freeBytes = 40 * GiB;
    const t0 = Date.now();
    await waitFor('episode done after the retry', async () => (await episodeRow(p))?.state === 'done', 15_000, 100);
    console.log(`[lifecycle-faults] ENOSPC failure retried and done ${Date.now() - t0} ms after the disk check turned healthy`);
    expect(p.scheduler.stats.outOfSpaceRetries).toBe(1);
    expect((await runRows(p)).map((r) => `${r.stage}:${r.status}`)).toEqual(['ingest:done', 'transcribe:done', 'enrich:done', 'index:done', 'project:done']);
  }, 60_000);

  it(`an episode that keeps running out of space is retried ${OUT_OF_SPACE_MAX_RETRIES} times, then stays failed`, async () => {
    const { check } = fakeDisk(40 * GiB); // healthy all along: the episode itself fills the disk
    const p = (platform = await startPlatform('enospc2', { gates: { ingestError: enospc }, scheduler: (ctx, pl) => new Scheduler(ctx, pl, ctx.queues, ctx.redis, { diskHealth: check }) }));
    await addFeed(p.ctx.database, writeFeed(p.tmp.dir, [{ guid: 'a', title: 'Leaves' }]), { pollIntervalS: 3600 });
    await waitFor(`${OUT_OF_SPACE_MAX_RETRIES} retries`, async () => p.scheduler.stats.outOfSpaceRetries === OUT_OF_SPACE_MAX_RETRIES && (await episodeRow(p))?.state === 'failed', 40_000, 100);
    await sleep(2500); // > RECONCILE_GRACE_MS + several ticks: no further retry
    expect(p.scheduler.stats.outOfSpaceRetries).toBe(OUT_OF_SPACE_MAX_RETRIES);
    expect(await episodeRow(p)).toMatchObject({ state: 'failed', failed_stage: 'ingest', last_error: 'ENOSPC: no space left on device, write' });
    const [ingest] = (await sqlRows(p.ctx.database, `SELECT status, attempts FROM stage_runs WHERE stage = 'ingest'`)) as { status: string; attempts: number }[];
    expect(ingest).toEqual({ status: 'failed', attempts: 3 * (OUT_OF_SPACE_MAX_RETRIES + 1) });
  }, 60_000);
});
