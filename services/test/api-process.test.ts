import { spawn, type ChildProcess } from 'node:child_process';
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EpisodeEventPublisher } from '../src/repositories/episode-events.repository';
import { call, freshDatabase, openEvents, waitFor } from './api-support';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureBuilt, freePort, MAIN_JS, SERVICES_DIR } from './support/stack';

/** Newest mtime under a directory (ms). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds only when the api's own code changed since the last build (other helpers' edits do not matter here). */
async function ensureApiBuilt(): Promise<void> {
  const built = path.join(SERVICES_DIR, 'dist/api');
  if (existsSync(MAIN_JS) && existsSync(built) && newest(built) >= newest(path.join(SERVICES_DIR, 'src/api'))) return;
  await ensureBuilt();
}

/** The api role as its own OS process (`node dist/main.js api`), as the appliance runs it. */
let db: Awaited<ReturnType<typeof freshDatabase>>;
let child: ChildProcess;
let base: string;
let output = '';
const prefix = `e2p-${process.pid}`;

beforeAll(async () => {
  await ensureApiBuilt();
  db = await freshDatabase('podbrain_test_e2_process');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [MAIN_JS, 'api'], {
    env: { ...process.env, DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379', QUEUE_PREFIX: prefix, API_PORT: String(port), AUTH_API_KEY: 'k', LOG_LEVEL: 'info', DATA_DIR: '/tmp/podbrain-e2-process' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 60_000, 200);
}, 300_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await db?.drop();
});

describe('api role process', () => {
  it('serves the API, docs, /healthz and /metrics on API_PORT', async () => {
    expect((await call(base, 'GET', '/healthz')).body.role).toBe('api');
    expect((await call(base, 'GET', '/api/episodes')).body).toEqual({ items: [], next_cursor: null });
    expect((await call(base, 'GET', '/api/docs/json')).body.info.title).toBe('podbrain API');
    expect((await call(base, 'GET', '/metrics')).text).toContain('podbrain_api_request_duration_seconds');
    expect((await call(base, 'POST', '/api/feeds', { json: { url: 'https://example.com/f.xml' } })).status).toBe(401);
  });

  it('relays an event published by another process to its SSE clients, and exits 0 on SIGTERM with a client connected', async () => {
    const sse = await openEvents(`${base}/api/events`);
    const conn = new IORedis('redis://127.0.0.1:6379');
    const publisher = new EpisodeEventPublisher(conn, `${prefix}:events`);
    await waitFor(async () => Number((await conn.pubsub('NUMSUB', `${prefix}:events`))[1]) >= 1, 15_000);
    const got = sse.next((e) => e.event === 'episode' && e.data.episode_key === 'ep-proc', 8000);
    const timer = setInterval(() => void publisher.publish({ episode_key: 'ep-proc', feed_id: 'f', state: 'transcribing', stage: 'transcribe' }), 200);
    const e = await got.finally(() => clearInterval(timer));
    conn.disconnect();
    expect(e.data).toMatchObject({ episode_key: 'ep-proc', feed_id: 'f', state: 'transcribing', stage: 'transcribe', reason: null });

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000))]);
    sse.close();
    expect(code, output.slice(-2000)).toBe(0);
  });
});
