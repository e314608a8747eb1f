/**
 * A private Redis and a private Postgres for outage tests: the machine's shared instances
 * (6379, 5432) are used by every other test and must never be stopped, so a test that takes
 * Redis or Postgres away starts its own on a free port and stops/starts that one.
 *
 *   const redis = await startPrivateRedis();   redis.url  await redis.stop()  await redis.start()
 *   const pg = await startPrivatePostgres();   pg.adminUrl  await pg.stop()  await pg.start()
 *   await redis.freeze() … await redis.thaw()  (a hung server: connections open, no answers)
 *   ... await redis.remove(); await pg.remove();
 *
 * Postgres: a throwaway cluster (initdb) under /tmp, run as the `postgres` OS user when the
 * tests run as root (postgres refuses to run as root). `available()` says whether the
 * binaries are there, so a test can skip where they are not.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from './stack';

const run = promisify(execFile);

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
export const PG_BIN = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'].find((d) => existsSync(path.join(d, 'initdb')));

function portOpen(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => (c.end(), resolve(true)));
    c.on('error', () => resolve(false));
  });
}

export interface PrivateService {
  port: number;
  /** (Re)starts the server on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it hard (SIGKILL for Redis, `pg_ctl -m immediate` for Postgres); resolves once the port is closed. */
  stop(): Promise<void>;
  /** Stops it and deletes its files. */
  remove(): Promise<void>;
  /** SIGSTOP to every process of the server: connections stay open but nothing answers (a hung server); `thaw` resumes it. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

async function signalTree(rootPid: number, signal: NodeJS.Signals): Promise<void> {
  const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(rootPid)]).catch(() => ({ stdout: '' }));
  const pids = [rootPid, ...stdout.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0)];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

export async function startPrivateRedis(): Promise<PrivateService & { url: string }> {
  if (!REDIS_SERVER) throw new Error('redis-server not installed');
  const port = await freePort();
  let proc: ChildProcess | null = null;
  const svc = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawn(REDIS_SERVER!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitFor(`private redis on ${port}`, () => portOpen(port), 10_000, 50);
    },
    async stop() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
    async remove() {
      await svc.thaw();
      await svc.stop();
    },
    async freeze() {
      if (proc?.pid) process.kill(proc.pid, 'SIGSTOP');
    },
    async thaw() {
      if (proc?.pid && proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGCONT');
    },
  };
  await svc.start();
  return svc;
}

export async function startPrivatePostgres(): Promise<PrivateService & { adminUrl: string }> {
  if (!PG_BIN) throw new Error('postgres binaries (initdb, pg_ctl) not found');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const pgRun = (bin: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN!, bin), ...args]) : run(path.join(PG_BIN!, bin), args));
  const data = path.join(dir, 'data');
  await pgRun('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  let frozen = 0;
  const svc = {
    port,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await pgRun('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start']);
    },
    async stop() {
      await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await waitFor(`private postgres on ${port} down`, async () => !(await portOpen(port)), 10_000, 50);
    },
    async remove() {
      await svc.thaw();
      await svc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async freeze() {
      frozen = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      await signalTree(frozen, 'SIGSTOP');
    },
    async thaw() {
      if (frozen) await signalTree(frozen, 'SIGCONT');
      frozen = 0;
    },
  };
  await svc.start();
  return svc;
}
