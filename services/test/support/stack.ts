/**
 * A whole platform for tests: each role its own OS process (`node dist/main.js <role>`),
 * sharing one throwaway Postgres database, one Redis (own key prefix) and one DATA_DIR.
 *
 *   const stack = await startStack({ name: 'e1', env: { ALLOW_PRIVATE_NETWORK: 'true' } });
 *   await stack.start('scheduler'); await stack.start('worker', { args: ['--queues', 'all'] });
 *   await stack.kill('worker-gpu', 'SIGKILL');  await stack.start('worker-gpu');
 *   await stack.db.query('SELECT …');  stack.logs('worker')  await stack.stop();
 *
 * Roles wait for their /healthz to answer 200 before `start` resolves. Needs the built
 * services (`npx tsc -p tsconfig.build.json`); `ensureBuilt()` builds when dist is older.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import IORedis from 'ioredis';
import { DataSource } from 'typeorm';
import { createMigrationDataSource, migrateUp } from '../../src/db/migrate';
import { createTestDatabase } from './pg';

export const SERVICES_DIR = path.resolve(__dirname, '../..');
export const MAIN_JS = path.join(SERVICES_DIR, 'dist/main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds services/dist when it is missing or older than src (roles run the built code).
 * Other test files may build at the same time: the build runs under a file lock.
 */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(MAIN_JS) && statSync(MAIN_JS).mtimeMs >= newestMtime(path.join(SERVICES_DIR, 'src'))) return;
  const run = promisify(execFile);
  const args = ['-p', 'tsconfig.build.json'];
  const t0 = Date.now();
  const viaFlock = existsSync('/usr/bin/flock');
  await (viaFlock ? run('/usr/bin/flock', ['/tmp/podbrain-services-build.lock', 'npx', 'tsc', ...args], { cwd: SERVICES_DIR }) : run('npx', ['tsc', ...args], { cwd: SERVICES_DIR })).catch(() => undefined);
  // tsc exits non-zero on type errors but still emits; make main.js newer so the next check is cheap.
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} missing after build`);
  const now = new Date();
  utimesSync(MAIN_JS, now, now);
  console.log(`[stack] services/src changed since the last build: rebuilt dist in ${Date.now() - t0} ms`);
}

export interface RoleProcess {
  name: string;
  role: string;
  child: ChildProcess;
  healthPort: number;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Stack {
  dbUrl: string;
  db: DataSource;
  redisUrl: string;
  prefix: string;
  dataDir: string;
  env: Record<string, string>;
  roles: Map<string, RoleProcess>;
  /** Starts `role` (name defaults to the role; give names to run two of a kind). */
  start(role: string, opts?: { name?: string; args?: string[]; env?: Record<string, string>; waitHealthy?: boolean }): Promise<RoleProcess>;
  kill(name: string, signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logs(name: string): string;
  health(name: string): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Used in the Redis prefix and temp dir names. */
  name: string;
  env?: Record<string, string>;
  redisUrl?: string;
  /** Keep the database after stop (debugging). */
  keepDb?: boolean;
  /** Maintenance URL of another Postgres (a private one a test may stop); default the shared one. */
  pgAdminUrl?: string;
}

/** Fast platform timings for tests; each can be overridden through `env`. */
export const TEST_TIMINGS: Record<string, string> = {
  SCHEDULER_TICK_MS: '300',
  SCHEDULER_LEASE_MS: '3000',
  RECONCILE_GRACE_MS: '3000',
  QUEUE_LOCK_MS: '4000',
  SHUTDOWN_GRACE_MS: '10000',
  LOG_LEVEL: 'info',
};

export async function startStack(opts: StackOptions): Promise<Stack> {
  await ensureBuilt();
  const pg = await createTestDatabase(opts.pgAdminUrl);
  const db = await createMigrationDataSource(pg.url, { poolSize: 4 }).initialize();
  await migrateUp(db);
  const prefix = `pbtest_${opts.name}_${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `podbrain-${opts.name}-`));
  const redisUrl = opts.redisUrl ?? 'redis://127.0.0.1:6379';
  const env: Record<string, string> = {
    DATABASE_URL: pg.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    DATA_DIR: dataDir,
    MODELS_DIR: path.join(dataDir, 'models'),
    PODBRAIN_CONFIG: '',
    ...TEST_TIMINGS,
    ...opts.env,
  };
  const roles = new Map<string, RoleProcess>();

  const health = async (name: string) => {
    const r = roles.get(name);
    if (!r) throw new Error(`no role ${name}`);
    const res = await fetch(`http://127.0.0.1:${r.healthPort}/healthz`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const stack: Stack = {
    dbUrl: pg.url,
    db,
    redisUrl,
    prefix,
    dataDir,
    env,
    roles,
    async start(role, o = {}) {
      const name = o.name ?? role;
      const prev = roles.get(name);
      if (prev && prev.child.exitCode === null && prev.child.signalCode === null) throw new Error(`role ${name} is already running`);
      const healthPort = await freePort();
      const roleEnv: Record<string, string> = { ...process.env, ...env, HEALTH_PORT: String(healthPort), ...o.env } as Record<string, string>;
      if (role === 'api' && !o.env?.API_PORT) roleEnv.API_PORT = String(healthPort);
      const child = spawn(process.execPath, [MAIN_JS, role, ...(o.args ?? [])], { cwd: SERVICES_DIR, env: roleEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      const keep = (b: Buffer) => {
        output.push(b.toString());
        if (output.length > 5000) output.splice(0, 1000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      const rp: RoleProcess = { name, role, child, healthPort: role === 'api' ? Number(roleEnv.API_PORT) : healthPort, output, exited };
      roles.set(name, rp);
      if (o.waitHealthy !== false) {
        const deadline = Date.now() + 90_000;
        for (;;) {
          if (child.exitCode !== null) throw new Error(`role ${name} exited with ${child.exitCode} during start:\n${output.join('').slice(-3000)}`);
          try {
            if ((await health(name)).status === 200) break;
          } catch {
            /* not listening yet */
          }
          if (Date.now() > deadline) throw new Error(`role ${name} not healthy after 90 s:\n${output.join('').slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 150));
        }
      }
      return rp;
    },
    async kill(name, signal = 'SIGTERM') {
      const r = roles.get(name);
      if (!r) throw new Error(`no role ${name}`);
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill(signal);
      return r.exited;
    },
    logs: (name) => roles.get(name)?.output.join('') ?? '',
    health,
    async stop() {
      await Promise.all(
        [...roles.values()].map(async (r) => {
          if (r.child.exitCode !== null || r.child.signalCode !== null) return;
          r.child.kill('SIGTERM');
          const t = setTimeout(() => r.child.kill('SIGKILL'), 15_000);
          await r.exited;
          clearTimeout(t);
        }),
      );
      await db.destroy().catch(() => undefined);
      if (!opts.keepDb) await pg.drop().catch(() => undefined);
      await clearRedisPrefix(redisUrl, prefix).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Deletes every key under `prefix:` (SCAN, never FLUSH: the Redis is shared). */
export async function clearRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const r = new IORedis(redisUrl, { maxRetriesPerRequest: 1 });
  r.on('error', () => undefined); // a private Redis a test stopped: the SCAN below fails, and says so
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

/** Polls `fn` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function tempDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `podbrain-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
