import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import IORedis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFakeWhisperModel } from '../src/asr/whisper/fake-model';
import { fixture } from './support/fixtures';
import { serveBody, startFixtureServer } from './support/http-fixture-server';
import { expectedOutcome, startPodcastServer } from './support/platform-feed';
import { freePort, SERVICES_DIR, startStack, tempDir, waitFor, type Stack } from './support/stack';
import { addFeed } from './support/db';

/**
 * Faults on the running platform (each role its own OS process): kill -9 of worker-gpu in
 * mid-transcription, kill -9 of the active scheduler, a Redis restart that loses every job,
 * SIGTERM during a job, Postgres unreachable under the api.
 */
const API_BUILT = existsSync(path.join(SERVICES_DIR, 'dist/api/bootstrap.js'));
const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
const WHISPER = { WHISPER_MODEL: 'tiny', WHISPER_THREADS: '1', WHISPER_BEAM_SIZE: '1', WHISPER_VAD: 'false', ASR_MIN_COVERAGE: '0', ALLOW_PRIVATE_NETWORK: 'true' };

let models: ReturnType<typeof tempDir>;
let longAudio: string;
beforeAll(async () => {
  models = tempDir('e1-faults');
  await writeFakeWhisperModel({ shape: 'tiny', outDir: models.dir });
  // ~25 s of speech: one whisper window, long enough to be killed in the middle
  longAudio = path.join(models.dir, 'long.ogg');
  const clips = ['fleurs-en-000.ogg', 'fleurs-en-001.ogg', 'fleurs-en-003.ogg'].map((c) => fixture('audio', c));
  await promisify(execFile)('ffmpeg', ['-v', 'error', ...clips.flatMap((c) => ['-i', c]), '-filter_complex', `concat=n=${clips.length}:v=0:a=1`, '-c:a', 'libvorbis', '-y', longAudio]);
}, 60_000);
afterAll(() => models?.remove());

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.stop();
  stack = null;
});

const finalRows = (s: Stack) =>
  s.db.query(`SELECT episode_key, feed_id, title, state::text AS state, state_reason, last_error FROM episodes ORDER BY title`) as Promise<
    { episode_key: string; feed_id: string; title: string; state: string; state_reason: string | null; last_error: string | null }[]
  >;

async function allFinal(s: Stack, n: number, timeoutMs: number) {
  return waitFor(`${n} episodes final`, async () => {
    const r = await finalRows(s);
    return r.length === n && r.every((e) => ['done', 'failed', 'skipped'].includes(e.state)) ? r : null;
  }, timeoutMs, 500);
}

async function expectOutcome(s: Stack, rows: Awaited<ReturnType<typeof finalRows>>) {
  const expected = await expectedOutcome({ ...s.env });
  for (const r of rows) {
    if (expected.state === 'done') expect(r, r.last_error ?? '').toMatchObject({ state: 'done' });
    else expect(r).toMatchObject({ state: 'skipped', state_reason: `not configured: ${expected.stage}: ${expected.reason}` });
  }
}

describe('platform faults', () => {
  it('kill -9 of worker-gpu in mid-transcription: the episode still completes with exactly one transcript artifact set', async () => {
    const podcast = await startPodcastServer({ count: 1, audioFile: () => longAudio });
    try {
      stack = await startStack({ name: 'e1gpu', env: { ...WHISPER, MODELS_DIR: models.dir } });
      await Promise.all([stack.start('scheduler'), stack.start('worker', { name: 'io-ml', args: ['--queues', 'ingest,enrich,index,project'] }), stack.start('worker-gpu')]);
      await addFeed(stack.db, podcast.feedUrl, { pollIntervalS: 3600 });
      const s = stack;
      const [ep] = await waitFor('transcription running', async () => {
        const r = (await s.db.query(`SELECT episode_key, feed_id FROM stage_runs JOIN episodes USING (episode_key) WHERE stage = 'transcribe' AND status = 'running'`)) as { episode_key: string; feed_id: string }[];
        return r.length ? r : null;
      }, 150_000, 100).catch(async (e) => {
        console.log('[platform-faults] episodes:', JSON.stringify(await s.db.query(`SELECT state, state_reason, last_error FROM episodes`)), 'runs:', JSON.stringify(await s.db.query(`SELECT stage, status FROM stage_runs`)));
        throw e;
      });
      await new Promise((r) => setTimeout(r, 700));
      const transcripts = () => {
        const dir = path.join(s.dataDir, 'corpus', ep.feed_id, ep.episode_key);
        return existsSync(dir) ? readdirSync(dir).filter((d) => d.startsWith('transcribe@')) : [];
      };
      expect(transcripts(), 'transcription already finished before the kill').toEqual([]);
      const killed = await s.kill('worker-gpu', 'SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      await s.start('worker-gpu');
      const rows = await allFinal(s, 1, 120_000);
      await expectOutcome(s, rows);
      expect(transcripts()).toHaveLength(1);
      const dir = path.join(s.dataDir, 'corpus', ep.feed_id, ep.episode_key, transcripts()[0]);
      expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['meta.json', 'transcript.json']));
      const [run] = (await s.db.query(`SELECT status, attempts FROM stage_runs WHERE stage = 'transcribe'`)) as { status: string; attempts: number }[];
      expect(run).toEqual({ status: 'done', attempts: 2 });
    } finally {
      await podcast.server.close();
    }
  }, 360_000);

  it('kill -9 of the active scheduler: the standby takes over within 30 s and does its work', async () => {
    stack = await startStack({ name: 'e1sch', env: { SCHEDULER_LEASE_MS: '6000' } });
    const a = await stack.start('scheduler', { name: 'sched-a' });
    const redis = new IORedis(stack.redisUrl);
    try {
      const key = `${stack.prefix}:scheduler:leader`;
      await waitFor('sched-a leads', async () => (await redis.get(key))?.startsWith(`${a.child.pid}-`), 10_000);
      const b = await stack.start('scheduler', { name: 'sched-b' });
      await new Promise((r) => setTimeout(r, 1000));
      expect((await redis.get(key))?.startsWith(`${a.child.pid}-`)).toBe(true);
      const t0 = Date.now();
      await stack.kill('sched-a', 'SIGKILL');
      await waitFor('sched-b leads', async () => (await redis.get(key))?.startsWith(`${b.child.pid}-`), 30_000, 100);
      const takeoverMs = Date.now() - t0;
      console.log(`[platform-faults] scheduler takeover after kill -9: ${takeoverMs} ms (lease 6000 ms)`);
      expect(takeoverMs).toBeLessThanOrEqual(30_000);
      expect(stack.logs('sched-b')).toContain('became the active scheduler');
      // the new leader polls feeds: a feed added now gets its poll job
      const { feed } = await addFeed(stack.db, 'http://127.0.0.1:9/new-feed.xml', { pollIntervalS: 3600 });
      const { Queue } = await import('bullmq');
      const q = new Queue('ingest', { connection: redis, prefix: stack.prefix });
      await waitFor('poll job enqueued by the standby', async () => (await q.getJobState(`poll.${feed.id}`)) !== 'unknown', 10_000);
      await q.close();
    } finally {
      redis.disconnect();
    }
  }, 90_000);

  it.skipIf(!REDIS_SERVER)('Redis restarted under load (every job lost): no episode is lost', async () => {
    const port = await freePort();
    const startRedis = () => {
      const p = spawn(REDIS_SERVER!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      return p;
    };
    let redisProc: ChildProcess = startRedis();
    const redisUrl = `redis://127.0.0.1:${port}`;
    await waitFor('private redis up', async () => new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    }), 10_000, 100);
    const podcast = await startPodcastServer({ count: 3, clip: (i) => ['fleurs-en-003.ogg', 'fleurs-en-004.ogg', 'fleurs-en-003.ogg'][i] });
    try {
      stack = await startStack({ name: 'e1redis', redisUrl, env: { ...WHISPER, MODELS_DIR: models.dir } });
      await Promise.all([stack.start('scheduler'), stack.start('worker', { args: ['--queues', 'all'] })]);
      await addFeed(stack.db, podcast.feedUrl, { pollIntervalS: 3600 });
      const s = stack;
      await waitFor('work under way', async () => {
        const r = await finalRows(s);
        return r.length === 3 && r.some((e) => e.state !== 'pending') && r.some((e) => !['done', 'skipped', 'failed'].includes(e.state));
      }, 60_000, 100);
      redisProc.kill('SIGKILL');
      await new Promise((r) => redisProc.once('exit', r));
      await new Promise((r) => setTimeout(r, 1500));
      redisProc = startRedis();
      const rows = await allFinal(s, 3, 150_000);
      await expectOutcome(s, rows);
      const reconciled = s.logs('scheduler').includes('reconciler re-enqueued episode');
      console.log(`[platform-faults] after the Redis restart the reconciler re-enqueued episodes: ${reconciled}`);
      expect(s.roles.get('worker')!.child.exitCode).toBeNull();
    } finally {
      await stack?.stop();
      stack = null;
      redisProc.kill('SIGKILL');
      await podcast.server.close();
    }
  }, 240_000);

  it('SIGTERM during a job: the worker takes no new job, finishes the running one and exits 0', async () => {
    const server = await startFixtureServer();
    const audio = readFileSync(fixture('audio', 'fleurs-en-004.ogg'));
    // a slow enclosure: 2.5 s to download
    server.route('/slow.ogg', (_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/ogg', 'content-length': String(audio.length) });
      const parts = 10;
      let i = 0;
      const tick = () => {
        const from = Math.floor((i * audio.length) / parts);
        const to = Math.floor(((i + 1) * audio.length) / parts);
        res.write(audio.subarray(from, to));
        if (++i < parts) setTimeout(tick, 250);
        else res.end();
      };
      tick();
    });
    server.route('/fast.ogg', serveBody(audio, { contentType: 'audio/ogg' }));
    server.route('/feed.xml', serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title><link>https://example.com</link><description>d</description>
<item><guid>slow</guid><title>Slow download</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><enclosure url="${server.url('/slow.ogg')}" type="audio/ogg" length="${audio.length}"/></item>
</channel></rss>`, { contentType: 'application/rss+xml' }));
    try {
      const tStart = Date.now();
      stack = await startStack({ name: 'e1term', env: { ALLOW_PRIVATE_NETWORK: 'true', SHUTDOWN_GRACE_MS: '20000' } });
      await Promise.all([stack.start('scheduler'), stack.start('worker-io')]);
      console.log(`[platform-faults] SIGTERM test: stack up after ${Date.now() - tStart} ms`);
      await addFeed(stack.db, server.url('/feed.xml'), { pollIntervalS: 3600 });
      const s = stack;
      await waitFor('download running', async () => ((await s.db.query(`SELECT 1 FROM stage_runs WHERE stage = 'ingest' AND status = 'running'`)) as unknown[]).length > 0, 30_000, 50);
      const t0 = Date.now();
      const exit = await Promise.race([s.kill('worker-io', 'SIGTERM'), new Promise((r) => setTimeout(r, 40_000)).then(() => ({ code: 'no exit after 40 s', log: s.logs('worker-io').slice(-4000) }))]);
      expect(exit).toEqual({ code: 0, signal: null });
      const [run] = (await s.db.query(`SELECT status, attempts FROM stage_runs WHERE stage = 'ingest'`)) as { status: string; attempts: number }[];
      expect(run).toEqual({ status: 'done', attempts: 1 });
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(s.logs('worker-io')).toContain('"msg":"stopped"');
      // the next stage was enqueued before exit: nothing was left half-done
      const [ep] = (await s.db.query(`SELECT state::text AS state, job_id FROM episodes`)) as { state: string; job_id: string | null }[];
      expect(['transcribing', 'projecting', 'skipped']).toContain(ep.state);
    } finally {
      await server.close();
    }
  }, 180_000);

  it.skipIf(!API_BUILT)('Postgres unreachable: the api answers 503 on reads and recovers by itself (needs the api role built)', async () => {
    stack = await startStack({ name: 'e1pg' });
    const proxy = await startTcpProxy(5432);
    try {
      const url = stack.dbUrl.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`);
      const api = await stack.start('api', { env: { DATABASE_URL: url } });
      const base = `http://127.0.0.1:${api.healthPort}`;
      expect((await fetch(`${base}/api/episodes?limit=5`)).status).toBe(200);
      proxy.cut();
      await waitFor('503 while Postgres is unreachable', async () => (await fetch(`${base}/api/episodes?limit=5`, { signal: AbortSignal.timeout(8000) })).status === 503, 30_000, 500);
      const body = (await (await fetch(`${base}/api/episodes?limit=5`, { signal: AbortSignal.timeout(8000) })).json()) as { error?: { code?: string } };
      expect(body.error).toBeDefined();
      proxy.restore();
      await waitFor('recovered', async () => (await fetch(`${base}/api/episodes?limit=5`, { signal: AbortSignal.timeout(8000) })).status === 200, 30_000, 500);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});

/** A TCP proxy to 127.0.0.1:target that the test can cut (drop every connection and refuse new ones) and restore. */
async function startTcpProxy(target: number): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  let open = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!open) return client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const done = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close: () => new Promise<void>((r) => (server.close(() => r()), sockets.forEach((s) => s.destroy()))),
  };
}
