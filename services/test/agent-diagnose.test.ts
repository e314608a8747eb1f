/**
 * The on-call agent's diagnose steps (agent/diagnose.ts) for real: PromQL against the Debian
 * Prometheus binary scraping a tiny local target, LogQL against a Loki stand-in, /healthz of a
 * stand-in role, admin reads against real Redis/BullMQ/Postgres; label injection refused,
 * outputs truncated, a step that hangs fails within its timeout and the next step still runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeForQuoted, fillTemplate, queryPrometheus, runDiagnose, truncateOutput, type DiagnoseDeps, type DiagnoseStep } from '../src/agent/diagnose';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { createMigrationDataSource, migrateUp } from '../src/db/migrate';
import { createRedis, Queues } from '../src/queue/queues';
import { SettingsRepository } from '../src/repositories/settings.repository';
import { serveBody, stall, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { createTestDatabase } from './support/pg';

const PROMETHEUS = '/usr/bin/prometheus';

let tmp: string;
let target: FixtureServer;
let stubs: FixtureServer;
let prometheus: ChildProcess | null = null;
let promUrl: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let config: Config;
let redis: Redis;
let queues: Queues;
let database: Database;
const lokiCalls: URLSearchParams[] = [];
let lokiAnswer: unknown = { status: 'success', data: { resultType: 'streams', result: [] } };

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

const deps = (over: Partial<Config['agent']> = {}, extra: Partial<DiagnoseDeps> = {}): DiagnoseDeps => ({
  config: { ...config, agent: { ...config.agent, ...over } },
  redis,
  queues,
  database,
  ...extra,
});

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-diagnose-'));

  // A scrape target serving two metrics.
  target = await startFixtureServer();
  target.route('/metrics', serveBody('# TYPE podbrain_test_queue_waiting gauge\npodbrain_test_queue_waiting{queue="transcribe"} 7\npodbrain_test_queue_waiting{queue="ingest"} 0\n', { contentType: 'text/plain; version=0.0.4' }));

  // Stand-ins: a role's /healthz, Loki, and endpoints that never answer.
  stubs = await startFixtureServer();
  stubs.route('/healthz', (_req, res) => {
    const body = JSON.stringify({ status: 'unhealthy', version: '1.2.3', uptime_seconds: 42, checks: { redis: { status: 'unhealthy', detail: 'ECONNREFUSED 127.0.0.1:6379' }, postgres: { status: 'healthy' } } });
    res.writeHead(503, { 'content-type': 'application/json' }).end(body);
  });
  stubs.route('/hang/healthz', stall());
  stubs.route('/hang/api/v1/query', stall());
  stubs.route('/loki/api/v1/query_range', (req, res) => {
    lokiCalls.push(new URL(req.url ?? '/', 'http://x').searchParams);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(lokiAnswer));
  });

  const port = await freePort();
  const cfg = path.join(tmp, 'prometheus.yml');
  writeFileSync(
    cfg,
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: podbrain\n    static_configs:\n      - targets: ['127.0.0.1:${target.port}']\n        labels: { role: worker }\n`,
  );
  prometheus = spawn(PROMETHEUS, [`--config.file=${cfg}`, `--storage.tsdb.path=${path.join(tmp, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  prometheus.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  promUrl = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${promUrl}/-/ready`)).ok, 30_000, `Prometheus ready (${stderr})`);
  await until(async () => {
    const r = await queryPrometheus(promUrl, 'up{job="podbrain"} == 1', { timeoutMs: 2000 });
    return r.resultType === 'vector' && r.series.length === 1;
  }, 30_000, 'the first scrape');

  db = await createTestDatabase();
  const ds = await createMigrationDataSource(db.url).initialize();
  await migrateUp(ds);
  await ds.destroy();
  config = loadConfig({
    env: {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `diag-${randomBytes(4).toString('hex')}`,
      DATA_DIR: tmp,
      LOG_LEVEL: 'silent',
      PROMETHEUS_URL: promUrl,
      LOKI_URL: stubs.origin,
      API_HEALTH_TARGETS: `worker-gpu=${stubs.url('/healthz')},worker-io=${stubs.url('/hang/healthz')}`,
    },
  });
  redis = createRedis(config);
  queues = Queues.fromConfig(config, redis);
  database = new Database(config, silentLogger);
}, 120_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await target?.close();
  await stubs?.close();
  if (queues) await Promise.all(queues.all().map((q) => q.obliterate({ force: true }).then(() => q.close()).catch(() => undefined)));
  if (redis) {
    const keys = await redis.keys(`${config.queue.prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
  await database?.pool.end();
  await db?.drop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('queryPrometheus (real Prometheus)', () => {
  it('returns an instant vector with labels and values, and a scalar', async () => {
    const v = await queryPrometheus(promUrl, 'podbrain_test_queue_waiting', { timeoutMs: 3000 });
    expect(v.resultType).toBe('vector');
    const series = v.resultType === 'vector' ? v.series : [];
    expect(series.map((s) => [s.metric.queue, s.metric.role, s.value]).sort()).toEqual([
      ['ingest', 'worker', 0],
      ['transcribe', 'worker', 7],
    ]);
    expect(await queryPrometheus(promUrl, 'scalar(sum(podbrain_test_queue_waiting))', { timeoutMs: 3000 })).toMatchObject({ resultType: 'scalar', value: 7 });
  });

  it('a query Prometheus refuses throws PrometheusError with its message', async () => {
    await expect(queryPrometheus(promUrl, 'up{', { timeoutMs: 3000 })).rejects.toMatchObject({ name: 'PrometheusError', code: 'prometheus_query_failed', message: expect.stringMatching(/refused the query \(400 bad_data\): .*parse error/) });
  });
});

describe('runDiagnose', () => {
  it('query steps fill labels and record the series Prometheus returns', async () => {
    const steps: DiagnoseStep[] = [
      { step: 'Is it scraped?', query: 'up{job="podbrain",role="{role}"}' },
      { step: 'Backlog', query: "podbrain_test_queue_waiting{queue='{queue}'}" },
      { step: 'Nothing there', query: 'podbrain_test_queue_waiting{queue="nope"}' },
      { step: 'Bad query', query: 'rate(up[' },
    ];
    const recs = await runDiagnose(steps, { role: 'worker', queue: 'transcribe' }, deps());
    expect(recs.map((r) => [r.kind, r.status])).toEqual([
      ['query', 'ok'],
      ['query', 'ok'],
      ['query', 'ok'],
      ['query', 'failed'],
    ]);
    expect(recs[0].target).toBe('up{job="podbrain",role="worker"}');
    expect(recs[0].output).toMatch(/^up\{instance="127\.0\.0\.1:\d+",job="podbrain",role="worker"\} => 1$/);
    expect(recs[1].output).toMatch(/podbrain_test_queue_waiting\{.*queue="transcribe",role="worker"\} => 7/);
    expect(recs[2].output).toBe('(empty result: no series matched)');
    expect(recs[3]).toMatchObject({ ok: false, output: expect.stringMatching(/^failed: Prometheus refused the query \(400 bad_data\)/) });
    for (const r of recs) expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  it('an alert label that would inject PromQL or LogQL is refused for that step, not run; the other steps run', async () => {
    const evil = 'worker"} or vector(1) or {a="';
    const recs = await runDiagnose(
      [
        { step: 'Is it scraped?', query: 'up{job="podbrain",role="{role}"}' },
        { step: 'Logs', logql: '{service="podbrain-{role}"} |= "error"' },
        { step: 'Unrelated', query: 'up{job="podbrain"}' },
      ],
      { role: evil },
      deps(),
    );
    expect(recs.map((r) => r.status)).toEqual(['refused', 'refused', 'ok']);
    expect(recs[0]).toMatchObject({ ok: false, target: 'up{job="podbrain",role="{role}"}', output: expect.stringMatching(/^label role \(.*\) is not a plain name.*not run/) });
    expect(lokiCalls).toHaveLength(0);
  });

  it('placeholders: escaped inside string literals, bare tokens only outside them, missing labels refused', () => {
    expect(escapeForQuoted('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeForQuoted("it's", "'")).toBe("it\\'s");
    expect(fillTemplate('sum(rate(x{q="{queue}"}[{window}]))', { queue: 'transcribe', window: '5m' }, 'query')).toEqual({ ok: true, text: 'sum(rate(x{q="transcribe"}[5m]))' });
    expect(fillTemplate('sum(rate(x[{window}]))', { window: '5m or up' }, 'query')).toMatchObject({ ok: false, problem: expect.stringMatching(/outside a string literal/) });
    expect(fillTemplate('x{a="{v}"}', { v: 'a b/c-d:e.f' }, 'query')).toEqual({ ok: true, text: 'x{a="a b/c-d:e.f"}' });
    expect(fillTemplate('x{a="\\"{v}"}', { v: 'w' }, 'query')).toEqual({ ok: true, text: 'x{a="\\"w"}' });
    expect(fillTemplate('x{a="{v}"}', { v: 'w\nx' }, 'query')).toMatchObject({ ok: false });
    expect(fillTemplate('x{a="{v}"}', {}, 'query')).toMatchObject({ ok: false, problem: expect.stringMatching(/label v is not set on the alert/) });
    expect(fillTemplate('docker compose restart {role}', { role: 'worker-gpu' }, 'command')).toEqual({ ok: true, text: 'docker compose restart worker-gpu' });
    expect(fillTemplate('docker compose restart {role}', { role: 'worker -t 0 api' }, 'command')).toMatchObject({ ok: false, problem: /add words to a command/ });
    expect(fillTemplate('{x}', { x: 'a'.repeat(201) }, 'text')).toMatchObject({ ok: false });
    // Labels named like Object.prototype members are not labels.
    expect(fillTemplate('{constructor}', {}, 'text')).toMatchObject({ ok: false });
  });

  it('logql steps ask Loki for the last 15 minutes; control characters are stripped; without LOKI_URL they are skipped', async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    lokiAnswer = {
      status: 'success',
      data: {
        resultType: 'streams',
        result: [
          { stream: { service: 'podbrain-worker-gpu' }, values: [[`${now}`, 'error: CUDA out of memory \u001b[31mred\u001b[0m'], [`${now - 2_000_000_000n}`, 'error: earlier']] },
          { stream: { service: 'podbrain-worker-gpu', level: 'warn' }, values: [[`${now - 1_000_000_000n}`, 'error: middle']] },
        ],
      },
    };
    lokiCalls.length = 0;
    const [rec] = await runDiagnose([{ step: 'Recent errors', logql: '{service="podbrain-{role}"} |= "error"' }], { role: 'worker-gpu' }, deps());
    expect(rec).toMatchObject({ kind: 'logql', status: 'ok', target: '{service="podbrain-worker-gpu"} |= "error"' });
    const lines = rec.output.split('\n');
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      '{service="podbrain-worker-gpu"} error: CUDA out of memory [31mred[0m',
      '{level="warn",service="podbrain-worker-gpu"} error: middle',
      '{service="podbrain-worker-gpu"} error: earlier',
    ]);
    expect(rec.output).not.toMatch(/\u001b/);
    expect(lokiCalls).toHaveLength(1);
    const q = lokiCalls[0];
    expect(q.get('query')).toBe('{service="podbrain-worker-gpu"} |= "error"');
    expect(BigInt(q.get('end')!) - BigInt(q.get('start')!)).toBe(15n * 60n * 1_000_000_000n);
    expect(q.get('limit')).toBe('100');

    const [skipped] = await runDiagnose([{ step: 'Recent errors', logql: '{service="x"}' }], {}, deps({ lokiUrl: '' }));
    expect(skipped).toMatchObject({ ok: false, status: 'skipped', output: 'skipped: LOKI_URL is not set' });
    expect(lokiCalls).toHaveLength(1);
  });

  it('long outputs are truncated with a marker', async () => {
    lokiAnswer = { status: 'success', data: { resultType: 'streams', result: [{ stream: { s: 'x' }, values: [[`${BigInt(Date.now()) * 1_000_000n}`, 'y'.repeat(10_000)]] }] } };
    const [rec] = await runDiagnose([{ step: 'Big', logql: '{s="x"}' }], {}, deps());
    expect(rec.output).toHaveLength(4000);
    expect(rec.output.endsWith('…(truncated)')).toBe(true);
    expect(truncateOutput('short')).toBe('short');
  });

  it('health steps GET the role’s /healthz from API_HEALTH_TARGETS; an unknown role (or a URL in the label) is not fetched', async () => {
    const recs = await runDiagnose(
      [
        { step: 'Its health', health: '{role}' },
        { step: 'Nope', health: '{other}' },
      ],
      { role: 'worker-gpu', other: 'http://169.254.169.254/latest' },
      deps(),
    );
    expect(recs[0]).toMatchObject({ kind: 'health', status: 'ok', ok: true, target: `worker-gpu ${stubs.url('/healthz')}` });
    expect(recs[0].output).toBe('HTTP 503: unhealthy, version 1.2.3, up 42 s\n  redis: unhealthy (ECONNREFUSED 127.0.0.1:6379)\n  postgres: healthy');
    expect(recs[1]).toMatchObject({ status: 'failed', output: expect.stringMatching(/no health URL for role "http:\/\/169\.254\.169\.254\/latest" in API_HEALTH_TARGETS \(worker-gpu, worker-io\)/) });
  });

  it('commands are never run, only shown; skipped without PROMETHEUS_URL; malformed steps fail alone', async () => {
    const recs = await runDiagnose(
      [
        { step: 'For a human', command: 'docker compose logs --tail 50 {role}' },
        { step: 'Metric', query: 'up' },
        { step: 'Two kinds', query: 'up', command: 'ls' },
        { step: 'Unknown read', admin: 'everything' },
        { step: 'As runbooks.ts loads it', kind: 'command', text: 'docker compose ps {role}' },
      ],
      { role: 'worker-gpu' },
      deps({ prometheusUrl: '' }),
    );
    expect(recs.map((r) => [r.status, r.output])).toEqual([
      ['for-human', 'for a human: docker compose logs --tail 50 worker-gpu'],
      ['skipped', 'skipped: PROMETHEUS_URL is not set'],
      ['failed', 'a diagnose step needs exactly one of query, health, admin, logql, command'],
      ['failed', 'unknown admin read "everything": one of roles, queues, failures, stuck-jobs, workers, settings'],
      ['for-human', 'for a human: docker compose ps worker-gpu'],
    ]);
    expect(recs[0].ok).toBe(true);
  });

  it('a step whose server never answers fails within the step timeout (5 s) and the next step still runs', async () => {
    const t0 = Date.now();
    const recs = await runDiagnose(
      [
        { step: 'Hung role', health: '{role}' },
        { step: 'Next', command: 'docker compose ps' },
      ],
      { role: 'worker-io' },
      deps(),
    );
    expect(recs[0]).toMatchObject({ status: 'failed', output: expect.stringMatching(/^failed: .*(did not answer|no answer) within 5000 ms$/) });
    expect(recs[0].ms).toBeGreaterThanOrEqual(4900);
    expect(recs[0].ms).toBeLessThan(6500);
    expect(recs[1].status).toBe('for-human');
    expect(Date.now() - t0).toBeLessThan(7000);

    const [q, after] = await runDiagnose(
      [
        { step: 'Hung Prometheus', query: 'up' },
        { step: 'After', admin: 'settings' },
      ],
      {},
      deps({ prometheusUrl: stubs.url('/hang') }, { stepTimeoutMs: 1000 }),
    );
    expect(q).toMatchObject({ status: 'failed', output: expect.stringMatching(/^failed: .*(did not answer|no answer) within 1000 ms$/) });
    expect(q.ms).toBeLessThan(2500);
    expect(after.status).toBe('ok');
  }, 20_000);
});

describe('admin reads (real Redis, BullMQ, Postgres)', () => {
  it('roles, queues, failures, stuck-jobs, workers and settings', async () => {
    const prefix = config.queue.prefix;
    const entry = { role: 'worker-gpu', pid: 4242, hostname: 'box', version: '1.2.3', git_sha: 'abc', status: 'degraded', started_at: new Date().toISOString(), reported_at: new Date().toISOString(), queues: ['transcribe'] };
    await redis.set(`${prefix}:roles:worker-gpu:box:4242`, JSON.stringify(entry), 'PX', 60_000);
    await redis.set(`${prefix}:roles:worker-io:box:1`, '{"not":"a role"}', 'PX', 60_000);

    await queues.get('transcribe').add('stage', { episodeKey: 'a', feedId: 'f', fingerprint: 'x' }, { jobId: 'transcribe.a.x' });
    await queues.get('transcribe').add('stage', { episodeKey: 'b', feedId: 'f', fingerprint: 'x' }, { jobId: 'transcribe.b.x' });
    await queues.get('enrich').pause();

    const workerConn = createRedis(config, { forWorker: true });
    const worker = new Worker(
      'ingest',
      async (job) => {
        throw new Error(`cannot resolve the host of https://cdn.example.com/${String(job.data.episodeKey)}.mp3`);
      },
      { connection: workerConn, prefix, name: 'diag-test-worker' },
    );
    try {
      for (const k of ['ep1', 'ep2']) await queues.get('ingest').add('stage', { episodeKey: k, feedId: 'f', fingerprint: 'x' }, { jobId: `ingest.${k}.x`, attempts: 1 });
      await until(async () => (await queues.get('ingest').getFailedCount()) === 2, 10_000, 'two failed ingest jobs');
      await new SettingsRepository(database).set('feeds.poll_interval_s', 120, 'test');

      const recs = await runDiagnose(
        ['roles', 'queues', 'failures', 'stuck-jobs', 'workers', 'settings'].map((a) => ({ step: a, admin: a })),
        {},
        deps(),
      );
      expect(recs.map((r) => [r.step, r.status])).toEqual(['roles', 'queues', 'failures', 'stuck-jobs', 'workers', 'settings'].map((a) => [a, 'ok']));
      const [roles, qs, failures, stuck, workers, settings] = recs.map((r) => r.output);
      expect(roles.split('\n').map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ role: 'worker-gpu', pid: 4242, status: 'degraded', queues: ['transcribe'] })]);
      const byQueue = Object.fromEntries(qs.split('\n').map((l) => JSON.parse(l)).map((q) => [q.queue, q]));
      expect(byQueue.transcribe).toMatchObject({ paused: false, waiting: 2 });
      expect(byQueue.enrich).toMatchObject({ paused: true, waiting: 0 });
      expect(byQueue.ingest).toMatchObject({ failed: 2 });
      expect(failures.split('\n').map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ cause: 'cannot resolve the host of https://cdn.example.com/…', count: 2, queues: { ingest: 2 } })]);
      expect(stuck).toBe('no job has been active longer than its queue timeout');
      const ingestWorkers = workers.split('\n').map((l) => JSON.parse(l)).find((w) => w.queue === 'ingest');
      expect(ingestWorkers.workers).toBeGreaterThanOrEqual(1);
      expect(settings).toMatch(/^feeds\.poll_interval_s = 120$/m);
      expect(settings).toMatch(/^agent\.mode = "shadow"$/m);
    } finally {
      await worker.close();
      workerConn.disconnect();
    }
  });
});
