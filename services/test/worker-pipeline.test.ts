import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { createLogger, silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { parseEpisodeEvent, type EpisodeEvent } from '../src/repositories/episode-events.repository';
import { EpisodeSkipped, notConfiguredError, type Stage } from '../src/pipeline/stage';
import { createIngestStage } from '../src/stages/ingest.stage';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { WorkerHost } from '../src/queue/worker-host';
import { QUEUE_NAMES } from '../src/queue/queues';
import { fixture } from './support/fixtures';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';
import { addFeed, sqlRows } from './support/db';

/**
 * Stage mode in one process: the real ingest stage (copies fixture audio), real BullMQ on the
 * shared Redis (own prefix), real Postgres, the scheduler and the workers; transcribe, enrich
 * and index are small deterministic stages here so the chain, reuse, retries and projection
 * are tested in seconds (the platform e2e runs the real ones in separate processes).
 */

const counters = { transcribe: 0, enrich: 0, index: 0 };

function fakeStage(name: 'transcribe' | 'enrich' | 'index', write: (ep: string, text: string) => Record<string, unknown>, opts: { fail?: (key: string) => boolean } = {}): Stage {
  return {
    name,
    needs: name === 'transcribe' ? ['ingest'] : ['transcribe'],
    plan: () => ({ configured: true, parts: { fake: name, v: 1 } }),
    async run(ctx, out) {
      counters[name]++;
      if (opts.fail?.(ctx.episode.title)) throw new Error(`${name} exploded on purpose`);
      for (const [file, value] of Object.entries(write(ctx.episode.episodeKey, ctx.episode.title))) {
        if (typeof value === 'string') await out.writeText(file, value);
        else await out.writeJson(file, value);
      }
      return { info: { fake: true } };
    },
  };
}

function testStages(opts: { failEnrich?: (title: string) => boolean; noIndex?: boolean; transcribeNotConfigured?: string } = {}): Stage[] {
  const notConfigured = opts.transcribeNotConfigured;
  const stages: Stage[] = [
    createIngestStage(),
    notConfigured
      ? { name: 'transcribe', needs: ['ingest'], plan: () => ({ configured: true, parts: {} }), run: () => Promise.reject(notConfiguredError('asr_unavailable', notConfigured)) }
      : fakeStage('transcribe', (ep, title) => ({
      'transcript.json': {
        schema_version: 1, episode_key: ep, engine: 'fake', model: 'none', language: 'en', duration_ms: 4000, speech_coverage: 1, status: 'valid', quality: { reasons: [] },
        segments: [
          { start_ms: 0, end_ms: 2000, text: `Welcome to ${title}.` },
          { start_ms: 2000, end_ms: 4000, text: 'Photosynthesis turns sunlight into sugar.' },
        ],
      },
    })),
    fakeStage(
      'enrich',
      () => ({
        'summary.json': { schema_version: 1, title: 'Plants', bullets: ['sunlight into sugar'], key_quotes: [], status: 'valid', method: 'extractive' },
        'gi.json': {
          schema_version: 1,
          nodes: [
            { id: 'insight:1', type: 'Insight', properties: { text: 'Plants make sugar', insight_type: 'claim', confidence: 0.9 } },
            { id: 'quote:1', type: 'Quote', properties: { text: 'Photosynthesis turns sunlight into sugar.', char_start: 10, char_end: 50, start_ms: 2000, end_ms: 4000 } },
          ],
          edges: [{ source: 'insight:1', target: 'quote:1', type: 'SUPPORTED_BY' }],
        },
        'kg.json': {
          schema_version: 1,
          nodes: [
            { id: 'topic:photosynthesis', type: 'Topic', properties: { label: 'Photosynthesis', slug: 'photosynthesis' } },
            { id: 'person:ada', type: 'Person', properties: { name: 'Ada', role: 'host' } },
          ],
          edges: [{ source: 'person:ada', target: 'topic:photosynthesis', type: 'MENTIONS' }],
        },
      }),
      { fail: opts.failEnrich },
    ),
  ];
  if (!opts.noIndex) {
    stages.push(
      fakeStage('index', (_ep, title) => ({
        'chunks.jsonl': [{ idx: 0, text: `Welcome to ${title}. Photosynthesis turns sunlight into sugar.`, start_ms: 0, end_ms: 4000, vector_id: 7 }].map((c) => JSON.stringify(c)).join('\n') + '\n',
      })),
    );
  } else {
    stages.push({ name: 'index', needs: ['transcribe'], plan: () => ({ configured: false, reason: 'no embeddings here' }), run: () => Promise.reject(new Error('unreachable')) });
  }
  return stages;
}

function writeFeed(dir: string, name: string, items: { guid: string; title: string; audio?: string }[]): string {
  for (const it of items) if (it.audio) copyFileSync(fixture('audio', it.audio), path.join(dir, `${it.guid}-${it.audio}`));
  const xml = `<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://example.com</link><description>d</description>
${items
  .map(
    (it, i) => `<item><guid>${it.guid}</guid><title>${it.title}</title><pubDate>Mon, 0${i + 1} Jan 2024 10:00:00 GMT</pubDate>${
      it.audio ? `<enclosure url="${it.guid}-${it.audio}" type="audio/ogg" length="1000"/>` : ''
    }</item>`,
  )
  .join('\n')}
</channel></rss>`;
  const file = path.join(dir, `${name}.xml`);
  writeFileSync(file, xml);
  return file;
}

interface Harness {
  ctx: RoleContext;
  host: WorkerHost;
  scheduler: Scheduler;
  events: EpisodeEvent[];
  stop(): Promise<void>;
}

async function startHarness(config: Config, stages: Stage[]): Promise<Harness> {
  const ctx = await createRoleContext(config, { log: process.env.E1_DEBUG ? createLogger({ service: 'test', level: 'debug' }) : silentLogger, stages, poolSize: 4 });
  const pipeline = new StageJobs(ctx);
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: QUEUE_NAMES, connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: config.queue.lockMs, shutdownGraceMs: 5000 });
  const scheduler = new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
  const sub = new IORedis(config.redisUrl);
  const events: EpisodeEvent[] = [];
  await sub.subscribe(`${config.queue.prefix}:events`);
  sub.on('message', (_c, m) => {
    const e = parseEpisodeEvent(m);
    if (e) events.push(e);
  });
  host.start();
  scheduler.start();
  return {
    ctx,
    host,
    scheduler,
    events,
    async stop() {
      await scheduler.stop();
      await host.close();
      sub.disconnect();
      await ctx.close();
    },
  };
}

describe('stage-mode workers (in process, real Postgres + Redis)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  let config: Config;
  let h: Harness;
  let feedFile: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('e1-worker');
    config = loadConfig({
      env: {
        DATABASE_URL: db.url,
        DATA_DIR: path.join(tmp.dir, 'data'),
        QUEUE_PREFIX: `pbtest_e1w_${process.pid}`,
        // every episode of the feed runs (the default backfill, newest:3, would leave one out: feed-policy.test.ts)
        FEED_BACKFILL_DEFAULT: 'all',
        QUEUE_BACKOFF_MS: '50',
        SCHEDULER_TICK_MS: '200',
        SCHEDULER_LEASE_MS: '2000',
        RECONCILE_GRACE_MS: '1500',
        QUEUE_LOCK_MS: '3000',
      },
    });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    feedFile = writeFeed(tmp.dir, 'show', [
      { guid: 'a', title: 'Leaves', audio: 'fleurs-en-000.ogg' },
      { guid: 'b', title: 'Roots', audio: 'fleurs-en-001.ogg' },
      { guid: 'c', title: 'Trailer without audio' },
      { guid: 'd', title: 'Broken enrich', audio: 'fleurs-en-002.ogg' },
    ]);
    h = await startHarness(config, testStages({ failEnrich: (t) => t === 'Broken enrich' }));
  });

  afterAll(async () => {
    await h?.stop();
    await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
    await db?.drop();
    tmp?.remove();
  });

  const states = async () =>
    Object.fromEntries(((await sqlRows(h.ctx.database, `SELECT title, state::text AS state FROM episodes ORDER BY title`)) as { title: string; state: string }[]).map((r) => [r.title, r.state]));

  it('polls a subscribed feed and carries every episode to its final state, projecting the artifacts', async () => {
    const { created } = await addFeed(h.ctx.database, feedFile, { pollIntervalS: 3600 });
    expect(created).toBe(true);
    await waitFor('all episodes final', async () => {
      const s = await states();
      return Object.keys(s).length === 4 && Object.values(s).every((v) => ['done', 'failed', 'skipped'].includes(v));
    }, 40_000);
    expect(await states()).toEqual({ Leaves: 'done', Roots: 'done', 'Trailer without audio': 'skipped', 'Broken enrich': 'failed' });

    const failed = (await sqlRows(h.ctx.database, `SELECT failed_stage, last_error, state_reason, attempts FROM episodes WHERE title = 'Broken enrich'`))[0];
    expect(failed).toMatchObject({ failed_stage: 'enrich', attempts: 3 });
    expect(failed.last_error).toContain('exploded on purpose');
    // The reason says why, not only "enrich failed after 3 attempt(s)".
    expect(failed.state_reason).toBe('enrich failed after 3 attempt(s): enrich exploded on purpose');
    const skipped = (await sqlRows(h.ctx.database, `SELECT state_reason FROM episodes WHERE title = 'Trailer without audio'`))[0];
    expect(skipped.state_reason).toMatch(/no enclosure/);

    // projections
    const [seg] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n FROM transcript_segments`);
    expect(seg.n).toBe(4);
    const hits = await sqlRows(h.ctx.database, `SELECT e.title FROM chunks c JOIN episodes e USING (episode_key) WHERE c.tsv @@ plainto_tsquery('english', 'photosynthesis sugar') ORDER BY 1`);
    expect(hits.map((r: { title: string }) => r.title)).toEqual(['Leaves', 'Roots']);
    const [support] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n FROM insight_support`);
    expect(support.n).toBe(2);
    const nodes = await sqlRows(h.ctx.database, `SELECT id, label FROM kg_nodes ORDER BY id`);
    expect(nodes).toEqual([{ id: 'person:ada', label: 'Ada' }, { id: 'topic:photosynthesis', label: 'Photosynthesis' }]);
    const [edges] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n FROM kg_edges`);
    expect(edges.n).toBe(2);
    const [summaries] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n FROM summaries`);
    expect(summaries.n).toBe(2);

    // stage runs: one execution per stage for the good episodes, three attempts for the broken enrich
    const runs = await sqlRows(h.ctx.database, `SELECT e.title, r.stage, r.status, r.attempts FROM stage_runs r JOIN episodes e USING (episode_key) ORDER BY e.title, r.id`);
    const leaves = runs.filter((r: { title: string }) => r.title === 'Leaves').map((r: { stage: string; status: string; attempts: number }) => `${r.stage}:${r.status}:${r.attempts}`);
    expect(leaves).toEqual(['ingest:done:1', 'transcribe:done:1', 'enrich:done:1', 'index:done:1', 'project:done:1']);
    expect(runs.find((r: { title: string; stage: string }) => r.title === 'Broken enrich' && r.stage === 'enrich')).toMatchObject({ status: 'failed', attempts: 3 });
  });

  it('publishes every state change on <prefix>:events', async () => {
    const [leaves] = await sqlRows(h.ctx.database, `SELECT episode_key FROM episodes WHERE title = 'Leaves'`);
    const seen = h.events.filter((e) => e.episode_key === leaves.episode_key).map((e) => e.state);
    expect(seen).toEqual(['pending', 'downloading', 'transcribing', 'enriching', 'indexing', 'projecting', 'done']);
    const [broken] = await sqlRows(h.ctx.database, `SELECT episode_key FROM episodes WHERE title = 'Broken enrich'`);
    const last = h.events.filter((e) => e.episode_key === broken.episode_key).at(-1);
    expect(last).toMatchObject({ state: 'failed', stage: 'enrich' });
    expect(last?.error).toContain('exploded');
    expect(last?.reason).toBe('enrich failed after 3 attempt(s): enrich exploded on purpose');
  });

  it('a second tenant subscribing to the processed feed attaches to existing artifacts (no stage runs again)', async () => {
    const before = { ...counters };
    const [runsBefore] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n, sum(attempts)::int AS attempts FROM stage_runs`);
    await sqlRows(h.ctx.database, `INSERT INTO tenants (id, name) VALUES ('t2', 'Second')`);
    const { created, feed } = await addFeed(h.ctx.database, feedFile, { tenantId: 't2', pollIntervalS: 3600 });
    expect(created).toBe(false);
    // Re-send every done episode through the chain, as a re-subscribe / re-poll storm would.
    for (const key of (await sqlRows(h.ctx.database, `SELECT episode_key FROM episodes WHERE state = 'done'`)).map((r: { episode_key: string }) => r.episode_key)) {
      const loaded = await h.ctx.episodes.feedEpisode(key);
      await h.ctx.queues.addStageJob('ingest', { episodeKey: key, feedId: feed.id, fingerprint: 'again' });
      await h.ctx.queues.addStageJob('transcribe', { episodeKey: key, feedId: feed.id, fingerprint: 'again' });
      expect(loaded).not.toBeNull();
    }
    await h.ctx.queues.addPollJob(feed.id);
    await waitFor('re-sent jobs drained', async () => {
      const counts = await Promise.all(QUEUE_NAMES.map((q) => h.ctx.queues.get(q).getJobCounts('waiting', 'active', 'delayed')));
      return counts.every((c) => c.waiting + c.active + c.delayed === 0);
    }, 20_000);
    expect(counters).toEqual(before);
    const [runsAfter] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n, sum(attempts)::int AS attempts FROM stage_runs`);
    expect(runsAfter).toEqual(runsBefore);
    expect(await states()).toMatchObject({ Leaves: 'done', Roots: 'done' });
    const subs = await sqlRows(h.ctx.database, `SELECT tenant_id FROM subscriptions ORDER BY 1`);
    expect(subs.map((s: { tenant_id: string }) => s.tenant_id)).toEqual(['default', 't2']);
  });

  it('a double enqueue of the same (stage, episode, fingerprint) is one job', async () => {
    const q = h.ctx.queues.get('digest');
    await q.pause();
    try {
      const data = { episodeKey: 'x', feedId: 'y', fingerprint: 'abcdef0123456789' };
      const a = await h.ctx.queues.addStageJob('index', data);
      const b = await h.ctx.queues.addStageJob('index', data);
      expect(a).toBe(b);
      expect(a).toBe('index.x.abcdef012345');
    } finally {
      await q.resume();
    }
  });
});

describe('stage-mode workers: a stage that is not configured', () => {
  it('projects what exists and marks the episode skipped with "not configured", never done', async () => {
    const db = await createTestDatabase();
    const tmp = tempDir('e1-nc');
    const config = loadConfig({
      env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_e1nc_${process.pid}`, SCHEDULER_TICK_MS: '200', RECONCILE_GRACE_MS: '1500' },
    });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    const feed = writeFeed(tmp.dir, 'nc', [{ guid: 'n1', title: 'Only transcript', audio: 'fleurs-en-003.ogg' }]);
    const h = await startHarness(config, testStages({ noIndex: true }));
    try {
      await addFeed(h.ctx.database, feed, { pollIntervalS: 3600 });
      const row = await waitFor('final state', async () => {
        const [r] = await sqlRows(h.ctx.database, `SELECT state::text AS state, state_reason, failed_stage FROM episodes`);
        return r && ['done', 'skipped', 'failed'].includes(r.state) ? r : null;
      }, 30_000);
      expect(row).toMatchObject({ state: 'skipped', failed_stage: 'index' });
      expect(row.state_reason).toBe('not configured: index: no embeddings here');
      const [seg] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n FROM transcript_segments`);
      expect(seg.n).toBe(2);
      const [sum] = await sqlRows(h.ctx.database, `SELECT count(*)::int AS n FROM summaries`);
      expect(sum.n).toBe(1);
    } finally {
      await h.stop();
      await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
      await db.drop();
      tmp.remove();
    }
  });
});

describe('stage-mode workers: a stage finds out while running that nothing here can do it', () => {
  it('marks the episode skipped with "not configured" at once, like the CLI, instead of retrying and failing', async () => {
    const db = await createTestDatabase();
    const tmp = tempDir('e1-ncrun');
    const config = loadConfig({
      env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_e1ncr_${process.pid}`, SCHEDULER_TICK_MS: '200', RECONCILE_GRACE_MS: '1500', QUEUE_BACKOFF_MS: '100' },
    });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    const feed = writeFeed(tmp.dir, 'ncr', [{ guid: 'r1', title: 'Unusable transcript', audio: 'fleurs-en-003.ogg' }]);
    const why = 'the publisher transcript could not be used and whisper-cpp has no model here (ggml-base.en.bin)';
    const h = await startHarness(config, testStages({ transcribeNotConfigured: why }));
    try {
      await addFeed(h.ctx.database, feed, { pollIntervalS: 3600 });
      const row = await waitFor('final state', async () => {
        const [r] = await sqlRows(h.ctx.database, `SELECT state::text AS state, state_reason, failed_stage, last_error FROM episodes`);
        return r && ['done', 'skipped', 'failed'].includes(r.state) ? r : null;
      }, 30_000);
      expect(row).toMatchObject({ state: 'skipped', failed_stage: 'transcribe', state_reason: `not configured: transcribe: ${why}`, last_error: null });
      const runs = await sqlRows(h.ctx.database, `SELECT stage, status, attempts FROM stage_runs WHERE stage = 'transcribe'`);
      expect(runs).toEqual([{ stage: 'transcribe', status: 'skipped', attempts: 1 }]);
    } finally {
      await h.stop();
      await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
      await db.drop();
      tmp.remove();
    }
  });
});

export { EpisodeSkipped };
