/**
 * The real appliance for the end-to-end run: api + scheduler + one `worker --queues all`,
 * each its own `node services/dist/main.js <role>` process, on Postgres database
 * `podbrain_test_f` (recreated per run), Redis under a `pbtest_f_*` prefix, a temp DATA_DIR,
 * and a local HTTP server publishing a fixture feed whose enclosures are fixture audio.
 *
 * Feed items: "Ask not" (jfk.mp3 with a Podcasting 2.0 WebVTT transcript, so its text is
 * known) and "Infection control" (a FLEURS clip with no publisher transcript, so it goes
 * through whisper.cpp with whatever model MODELS_DIR holds, or fails with a reason).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { REPO_DIR, fixture } from './paths';

const SERVICES_DIR = path.join(REPO_DIR, 'services');
const MAIN_JS = path.join(SERVICES_DIR, 'dist/main.js');
const CLI_JS = path.join(SERVICES_DIR, 'dist/cli/main.js');
const API_JS = path.join(SERVICES_DIR, 'dist/api/bootstrap.js');
const WHISPER_CLI = path.join(SERVICES_DIR, 'native/whisper/build/bin/whisper-cli');
const ADMIN_URL = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = 'podbrain_test_f';
const REDIS_URL = process.env.PODBRAIN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const JFK_CUES = [
  { start_ms: 0, end_ms: 3000, text: 'And so, my fellow Americans,' },
  { start_ms: 3000, end_ms: 5500, text: 'ask not' },
  { start_ms: 5500, end_ms: 8000, text: 'what your country can do for you,' },
  { start_ms: 8000, end_ms: 11000, text: 'ask what you can do for your country.' },
];
export const FEED_TITLE = 'Fixture Speeches';
export const EPISODE_TITLE = 'Ask not what your country can do for you';

/** Why the real platform cannot run here, or null when it can. */
export function platformMissing(): string | null {
  if (!existsSync(MAIN_JS)) return 'services/dist/main.js is not built';
  if (!existsSync(API_JS)) return 'the api role (services/dist/api/bootstrap.js) is not built';
  return null;
}

export interface Platform {
  apiOrigin: string;
  feedUrl: string;
  /** A feed of one item whose enclosure answers 404 (not added unless a test adds it). */
  brokenFeedUrl: string;
  env: Record<string, string>;
  logs(): string;
  stop(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

const ms = (n: number) => {
  const t = new Date(n);
  return `${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')}:${String(t.getUTCSeconds()).padStart(2, '0')}.${String(t.getUTCMilliseconds()).padStart(3, '0')}`;
};

function feedXml(origin: string): string {
  const item = (guid: string, title: string, file: string, type: string, transcript?: string) => `
    <item>
      <title>${title}</title>
      <guid isPermaLink="false">${guid}</guid>
      <pubDate>${guid === 'fixture-jfk' ? 'Fri, 20 Nov 2026 10:00:00 GMT' : 'Thu, 19 Nov 2026 10:00:00 GMT'}</pubDate>
      <description>A fixture episode.</description>
      <enclosure url="${origin}/audio/${file}" length="${statSync(fixture('audio', file)).size}" type="${type}"/>
      <itunes:duration>11</itunes:duration>${transcript ? `\n      <podcast:transcript url="${origin}/transcripts/${transcript}" type="text/vtt" language="en"/>` : ''}
    </item>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0">
  <channel>
    <title>${FEED_TITLE}</title>
    <link>${origin}/</link>
    <description>Short public-domain speeches for the end-to-end test.</description>
    <language>en</language>${item('fixture-jfk', EPISODE_TITLE, 'jfk.mp3', 'audio/mpeg', 'jfk.vtt')}${item('fixture-fleurs-005', 'Infection control', 'fleurs-en-005.ogg', 'audio/ogg')}
  </channel>
</rss>
`;
}

/** A second feed whose one item's enclosure is gone (the server answers 404): its download fails. */
function brokenFeedXml(origin: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
  <channel>
    <title>${BROKEN_FEED_TITLE}</title>
    <link>${origin}/</link>
    <description>A feed whose audio file is gone.</description>
    <item>
      <title>${BROKEN_EPISODE_TITLE}</title>
      <guid isPermaLink="false">fixture-broken-1</guid>
      <pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate>
      <enclosure url="${origin}/audio/gone.mp3" length="123456" type="audio/mpeg"/>
      <itunes:duration>11</itunes:duration>
    </item>
  </channel>
</rss>
`;
}
export const BROKEN_FEED_TITLE = 'Broken Links Weekly';
export const BROKEN_EPISODE_TITLE = 'The episode whose audio is gone';

const jfkVtt = () => `WEBVTT\n\n${JFK_CUES.map((c, i) => `${i + 1}\n${ms(c.start_ms)} --> ${ms(c.end_ms)}\n${c.text}\n`).join('\n')}`;

async function startFeedServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const p = (req.url ?? '/').split('?')[0];
    const origin = `http://${req.headers.host}`;
    if (p === '/feed.xml') return void res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' }).end(feedXml(origin));
    if (p === '/broken.xml') return void res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8' }).end(brokenFeedXml(origin));
    if (p === '/transcripts/jfk.vtt') return void res.writeHead(200, { 'content-type': 'text/vtt' }).end(jfkVtt());
    const m = /^\/audio\/([\w.-]+)$/.exec(p);
    if (m && existsSync(fixture('audio', m[1]))) {
      // The player streams the enclosure from here too: answer ranges, so it can seek.
      const file = fixture('audio', m[1]);
      const size = statSync(file).size;
      const type = m[1].endsWith('.ogg') ? 'audio/ogg' : 'audio/mpeg';
      const r = /bytes=(\d*)-(\d*)/.exec(req.headers.range ?? '');
      if (!r) {
        res.writeHead(200, { 'content-type': type, 'content-length': size, 'accept-ranges': 'bytes' });
        createReadStream(file).pipe(res);
        return;
      }
      const start = r[1] ? Number(r[1]) : size - Number(r[2]);
      const end = r[1] && r[2] ? Math.min(Number(r[2]), size - 1) : size - 1;
      res.writeHead(206, { 'content-type': type, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

async function recreateDatabase(name = DB_NAME): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
}

async function clearRedisPrefix(prefix: string): Promise<void> {
  const { default: IORedis } = await import('ioredis');
  const r = new IORedis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

async function waitHealthy(name: string, port: number, child: ChildProcess, output: string[]): Promise<void> {
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} while starting:\n${output.join('').slice(-3000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      // 503 = up but degraded/unhealthy (e.g. no GPU): it is listening, which is what we wait for.
      if (res.status === 200 || res.status === 503) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${name} not answering /healthz after 45 s:\n${output.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * `env`: settings on top of the defaults below, for every role (e.g. the agent's). `dbName`: a
 * database of the spec's own (default podbrain_test_f), so specs run side by side do not drop each other's.
 */
export async function startPlatform(opts: { env?: Record<string, string>; dbName?: string } = {}): Promise<Platform> {
  const missing = platformMissing();
  if (missing) throw new Error(missing);
  const dbUrl = await recreateDatabase(opts.dbName);
  const prefix = `pbtest_f_${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-f-e2e-'));
  const modelsDir = path.join(dataDir, 'models');
  const apiPort = await freePort();
  const env: Record<string, string> = {
    DATABASE_URL: dbUrl,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    DATA_DIR: path.join(dataDir, 'data'),
    MODELS_DIR: modelsDir,
    API_PORT: String(apiPort),
    ALLOW_PRIVATE_NETWORK: 'true',
    ASR_ENGINES: 'feed,whisper-cpp',
    WHISPER_MODEL: 'tiny',
    WHISPER_THREADS: '1',
    EMBEDDINGS_PROVIDER: 'hash',
    PODBRAIN_CONFIG: '',
    LOG_LEVEL: 'info',
    SCHEDULER_TICK_MS: '300',
    SCHEDULER_LEASE_MS: '3000',
    RECONCILE_GRACE_MS: '3000',
    QUEUE_LOCK_MS: '10000',
    SHUTDOWN_GRACE_MS: '5000',
    ...opts.env,
  };
  if (existsSync(WHISPER_CLI)) env.WHISPER_CLI = WHISPER_CLI;
  const baseEnv = { ...process.env, ...env } as Record<string, string>;

  const migrate = spawnSync(process.execPath, [CLI_JS, 'db', 'migrate'], { cwd: SERVICES_DIR, env: baseEnv, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(`db migrate failed: ${migrate.stderr || migrate.stdout}`);
  // The fake tiny whisper model (random weights, right shape) when this build can make one.
  const fake = spawnSync(process.execPath, [CLI_JS, 'models', 'fake', '--shape', 'tiny', '--out', modelsDir], { cwd: SERVICES_DIR, env: baseEnv, encoding: 'utf8' });
  const fakeModel = fake.status === 0;

  const feed = await startFeedServer();
  const children: { name: string; child: ChildProcess; output: string[] }[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }),
    );
    await feed.close();
    await clearRedisPrefix(prefix).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const healthTargets: string[] = [];
    for (const [name, args] of [['scheduler', []], ['worker', ['--queues', 'all']], ['api', []]] as const) {
      const port = name === 'api' ? apiPort : await freePort();
      const roleEnv = { ...baseEnv, HEALTH_PORT: String(port), ...(name === 'api' ? { API_HEALTH_TARGETS: healthTargets.join(',') } : {}) };
      if (name !== 'api') healthTargets.push(`${name}=http://127.0.0.1:${port}/healthz`);
      const child = spawn(process.execPath, [MAIN_JS, name, ...args], { cwd: SERVICES_DIR, env: roleEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      const keep = (b: Buffer) => {
        output.push(b.toString());
        if (output.length > 4000) output.splice(0, 1000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      children.push({ name, child, output });
      await waitHealthy(name, port, child, output);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    apiOrigin: `http://127.0.0.1:${apiPort}`,
    feedUrl: `${feed.origin}/feed.xml`,
    brokenFeedUrl: `${feed.origin}/broken.xml`,
    env: { ...env, FAKE_WHISPER_MODEL: fakeModel ? 'yes' : `no (${(fake.stderr || fake.stdout).trim().split('\n')[0]})` },
    logs: () => children.map((c) => `----- ${c.name}\n${c.output.join('').slice(-6000)}`).join('\n'),
    stop,
  };
}
