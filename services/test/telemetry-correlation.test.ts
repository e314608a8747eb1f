import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFakeWhisperModel } from '../src/asr/whisper/fake-model';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { pollJobId } from '../src/queue/queues';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { StageJobs } from '../src/jobs/stage.jobs';
import type { FixtureServer } from './support/http-fixture-server';
import { expectedOutcome, startPodcastServer } from './support/platform-feed';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, SERVICES_DIR, startStack, tempDir, waitFor, type Stack } from './support/stack';
import { addFeed, sqlRows } from './support/db';

/**
 * One correlation id from the API request through the queue to every worker log line and
 * span (ARCHITECTURE §9), end to end: real Postgres and Redis, the api and one all-queues
 * worker as their own processes (preloaded with telemetry/register.js, as the image runs them),
 * exporting spans over OTLP/HTTP JSON to a receiver in this test.
 */

const CORRELATION_ID = 'test-corr-123';
const EPISODES = 2;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
  service: string;
}

function attr(span: OtlpSpan, key: string): string | undefined {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : String(v.intValue));
}

/** Spans of every OTLP/HTTP JSON export received so far, each with its resource's service.name. */
function spansOf(bodies: string[]): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const body of bodies) {
    const doc = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: OtlpSpan['attributes'] }; scopeSpans?: { spans?: Omit<OtlpSpan, 'service'>[] }[] }[] };
    for (const rs of doc.resourceSpans ?? []) {
      const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
      for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) out.push({ ...s, service });
    }
  }
  return out;
}

function jsonLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const l of output.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* a line cut by the output buffer */
    }
  }
  return lines;
}

describe('correlation id from the API request to every worker job (api + worker processes)', () => {
  let stack: Stack;
  let podcast: { server: FixtureServer; feedUrl: string; titles: string[] };
  let models: ReturnType<typeof tempDir>;
  let receiver: http.Server;
  const otlpBodies: string[] = [];
  let apiUrl: string;

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url === '/v1/traces') otlpBodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const otlpPort = (receiver.address() as AddressInfo).port;

    models = tempDir('g-corr-models');
    await writeFakeWhisperModel({ shape: 'tiny', outDir: models.dir });
    podcast = await startPodcastServer({ count: EPISODES, title: 'Correlation Show' });
    stack = await startStack({
      name: 'gcorr',
      env: {
        ALLOW_PRIVATE_NETWORK: 'true',
        MODELS_DIR: models.dir,
        WHISPER_MODEL: 'tiny',
        WHISPER_THREADS: '1',
        WHISPER_BEAM_SIZE: '1',
        WHISPER_VAD: 'false',
        ASR_MIN_COVERAGE: '0',
        // 'job started' (debug) names every job, project included
        LOG_LEVEL: 'debug',
        NODE_OPTIONS: `--require ${path.join(SERVICES_DIR, 'dist/telemetry/register.js')}`,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      },
    });
    // No scheduler: the feed's only poll is the one the API request enqueues.
    await Promise.all([stack.start('api'), stack.start('worker', { args: ['--queues', 'all'] })]);
    apiUrl = `http://127.0.0.1:${stack.roles.get('api')!.healthPort}`;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await podcast?.server.close();
    models?.remove();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  });

  it('answers every request with x-correlation-id: the caller’s when it is a sane token, else a new one', async () => {
    const own = await fetch(`${apiUrl}/api/feeds`, { headers: { 'x-correlation-id': 'caller-id-0001' } });
    expect(own.headers.get('x-correlation-id')).toBe('caller-id-0001');
    const none = await fetch(`${apiUrl}/api/feeds`);
    expect(none.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await fetch(`${apiUrl}/api/feeds`, { headers: { 'x-correlation-id': 'evil"}\\n{"injected' } });
    expect(bad.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    // error answers carry it too
    const notFound = await fetch(`${apiUrl}/api/feeds/nope/refresh`, { method: 'POST', headers: { 'x-correlation-id': 'caller-id-0002' } });
    expect(notFound.status).toBeGreaterThanOrEqual(400);
    expect(notFound.headers.get('x-correlation-id')).toBe('caller-id-0002');
  });

  it('the worker’s log lines and spans of every job of the added feed carry the request’s correlation id and trace', async () => {
    const res = await fetch(`${apiUrl}/api/feeds`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-correlation-id': CORRELATION_ID },
      body: JSON.stringify({ url: podcast.feedUrl }),
    });
    expect(res.status, await res.clone().text()).toBe(202); // a new feed: its poll job is queued
    expect(res.headers.get('x-correlation-id')).toBe(CORRELATION_ID);
    const feedId = ((await res.json()) as { id: string }).id;

    const expected = await expectedOutcome({ ...stack.env });
    if (expected.state !== 'done') console.log(`[telemetry-correlation] this build cannot run stage ${expected.stage} (${expected.reason}): the chain stops there`);
    const rows = await waitFor(
      `${EPISODES} episodes in a final state`,
      async () => {
        const r = (await stack.db.query(`SELECT episode_key, state::text AS state, correlation_id FROM episodes WHERE feed_id = $1`, [feedId])) as { episode_key: string; state: string; correlation_id: string }[];
        return r.length === EPISODES && r.every((e) => ['done', 'failed', 'skipped'].includes(e.state)) ? r : null;
      },
      60_000,
      300,
    ).catch(async (e) => {
      console.log('[telemetry-correlation] worker log tail:', stack.logs('worker').slice(-3000));
      throw e;
    });
    for (const r of rows) expect(r).toMatchObject({ state: expected.state, correlation_id: CORRELATION_ID });
    const keys = new Set(rows.map((r) => r.episode_key));

    // --- log lines ---
    const apiLines = jsonLines(stack.logs('api'));
    expect(apiLines.find((l) => l.msg === 'feed added; poll enqueued')).toMatchObject({ correlation_id: CORRELATION_ID, feed_id: feedId });

    const workerLines = jsonLines(stack.logs('worker'));
    const ours = workerLines.filter((l) => l.feed_id === feedId || keys.has(String(l.episode_key)));
    expect(ours.length).toBeGreaterThan(0);
    const strays = ours.filter((l) => l.correlation_id !== CORRELATION_ID);
    expect(strays, JSON.stringify(strays.slice(0, 3))).toEqual([]);
    // every job of the chain, the feed poll included, logged under the id, with its queue and worker
    const started = workerLines.filter((l) => l.msg === 'job started');
    for (const l of started) expect(l, JSON.stringify(l)).toMatchObject({ correlation_id: CORRELATION_ID, worker_id: expect.any(String), queue: expect.any(String) });
    expect(started.filter((l) => l.queue === 'ingest' && l.episode_key === undefined)).toHaveLength(1); // the poll
    const chain = ['ingest', 'transcribe', 'enrich', 'index', 'project'];
    const reached = expected.state === 'done' ? chain : chain.slice(0, Math.max(1, chain.indexOf(expected.stage))).concat('project');
    for (const key of keys) {
      const queues = started.filter((l) => l.episode_key === key).map((l) => l.queue);
      for (const q of reached) expect(queues, `${key}: ${queues.join(',')}`).toContain(q);
    }
    // no key printed twice (child bindings and the log context's mixin must not overlap)
    const raw = stack.logs('worker').split('\n').filter((l) => l.includes('"job started"'));
    for (const l of raw) expect(l.match(/"correlation_id":/g), l).toHaveLength(1);

    // --- spans: the worker continues the API request's trace, stage after stage ---
    const spans = await waitFor(
      'the worker’s project spans exported',
      async () => {
        const all = spansOf(otlpBodies);
        return all.filter((s) => s.name === 'project process' && attr(s, 'correlation_id') === CORRELATION_ID).length >= EPISODES ? all : null;
      },
      15_000,
      200,
    ).catch((e) => {
      const names = spansOf(otlpBodies).map((s) => `${s.service}:${s.name}`);
      console.log(`[telemetry-correlation] ${names.length} spans received: ${[...new Set(names)].join(', ')}`);
      throw e;
    });
    console.log(`[telemetry-correlation] ${EPISODES} episodes ${expected.state}; ${ours.length} worker log lines of the feed, ${spans.length} spans received`);
    const apiSpan = spans.find((s) => s.service === 'podbrain-api' && s.kind === 2 && s.name.startsWith('POST') && [attr(s, 'http.target'), attr(s, 'url.path'), attr(s, 'http.route')].includes('/api/feeds'));
    expect(apiSpan, spans.filter((s) => s.service === 'podbrain-api').map((s) => s.name).join(', ')).toBeDefined();
    const poll = spans.find((s) => s.name === 'ingest process' && attr(s, 'job.name') === 'poll-feed' && attr(s, 'correlation_id') === CORRELATION_ID);
    expect(poll).toMatchObject({ service: 'podbrain-worker', traceId: apiSpan!.traceId, parentSpanId: apiSpan!.spanId });
    for (const q of reached) {
      const jobSpans = spans.filter((s) => s.name === `${q} process` && keys.has(attr(s, 'episode_key') ?? ''));
      expect(jobSpans.length, q).toBeGreaterThanOrEqual(EPISODES);
      for (const s of jobSpans) expect(s, `${q} span`).toMatchObject({ traceId: apiSpan!.traceId, service: 'podbrain-worker' });
      for (const s of jobSpans) expect(attr(s, 'correlation_id')).toBe(CORRELATION_ID);
    }
  }, 90_000);
});

describe('correlation ids of scheduler work (in process, real Postgres + Redis)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  let ctx: RoleContext;
  let scheduler: Scheduler;

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('g-corr-sched');
    const config = loadConfig({ env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_gcorr_${process.pid}`, RECONCILE_GRACE_MS: '0' } });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    ctx = await createRoleContext(config, { log: silentLogger, poolSize: 2 });
    scheduler = new Scheduler(ctx, new StageJobs(ctx), ctx.queues, ctx.redis);
    expect(await scheduler.lock.tick()).toBe(true);
  });
  afterAll(async () => {
    await scheduler?.stop();
    const prefix = ctx?.config.queue.prefix;
    await ctx?.close();
    if (prefix) await clearRedisPrefix('redis://127.0.0.1:6379', prefix);
    await db?.drop();
    tmp?.remove();
  });

  it('each scheduled poll gets its own new id; the reconciler re-enqueues an episode under the id it was found with', async () => {
    const ids: string[] = [];
    for (const name of ['a', 'b']) {
      const file = path.join(tmp.dir, `${name}.xml`);
      writeFileSync(file, `<rss version="2.0"><channel><title>${name}</title></channel></rss>`);
      ids.push((await addFeed(ctx.database, file, { pollIntervalS: 3600 })).feed.id);
    }
    expect(await scheduler.enqueueDuePolls()).toBe(2);
    const polls = await Promise.all(ids.map((id) => ctx.queues.get('ingest').getJob(pollJobId(id))));
    const pollIds = polls.map((j) => (j?.data as { correlation_id?: string }).correlation_id);
    for (const id of pollIds) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(pollIds[0]).not.toBe(pollIds[1]);

    const source = { guid: 'g', title: 'Lost', description: null, link: null, image: null, published: null, durationS: null, enclosure: { url: 'https://example.com/a.mp3', type: 'audio/mpeg', length: 1 }, transcripts: [], chaptersUrl: null, persons: [], season: null, episode: null, episodeType: null, explicit: null, author: null };
    await sqlRows(ctx.database, 
      `INSERT INTO episodes (episode_key, feed_id, title, state, source, job_id, correlation_id) VALUES ('lostcorr1', $1, 'Lost', 'downloading', $2, 'ingest.lostcorr1.000000000000', 'poll-corr-0042')`,
      [ids[0], JSON.stringify(source)],
    );
    expect((await scheduler.reconcile()).reEnqueued).toBe(1);
    const [{ job_id }] = (await sqlRows(ctx.database, `SELECT job_id FROM episodes WHERE episode_key = 'lostcorr1'`)) as { job_id: string }[];
    const job = await ctx.queues.get('ingest').getJob(job_id);
    expect(job?.data).toMatchObject({ episodeKey: 'lostcorr1', correlation_id: 'poll-corr-0042' });
  });
});
