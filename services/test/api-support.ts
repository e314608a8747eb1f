/* eslint-disable @typescript-eslint/no-explicit-any -- test replies are JSON of many shapes */
/**
 * Shared set-up of the api-*.test.ts files: the own test database (podbrain_test_e2*), a TCP
 * proxy in front of Postgres that a test can cut (Postgres unreachable without touching the
 * shared server), an api config with its own Redis prefix, and small HTTP helpers.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { bootstrapApi, listeningPort } from '../src/api/bootstrap';
import { loadConfig, type Config } from '../src/config/config';
import { createMigrationDataSource, migrateUp } from '../src/db/migrate';

const ADMIN_URL = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** (Re)creates this helper's own database and migrates it. */
export async function freshDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const ds = await createMigrationDataSource(url).initialize();
  await migrateUp(ds);
  await ds.destroy();
  return {
    url,
    async drop() {
      const c = new Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A TCP proxy to Postgres; `cut()` refuses and drops every connection, `restore()` accepts again. */
export async function startPgProxy(target = { host: '127.0.0.1', port: 5432 }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;
  const listen = async () => {
    server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server!.address() as net.AddressInfo).port;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    async cut() {
      const s = server;
      server = null;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
    },
    restore: listen,
    close() {
      return this.cut();
    },
  };
}

export function apiConfig(databaseUrl: string, env: Record<string, string> = {}): Config {
  const config = loadConfig({
    env: {
      DATABASE_URL: databaseUrl,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `e2t-${randomBytes(4).toString('hex')}`,
      ALLOW_PRIVATE_NETWORK: 'true',
      DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'podbrain-e2-')),
      LOG_LEVEL: process.env.E2_LOG_LEVEL ?? 'silent',
      ...env,
    },
  });
  return { ...config, apiPort: 0, role: 'api' };
}

export async function startApi(config: Config): Promise<{ app: INestApplication; base: string; close(): Promise<void> }> {
  const app = await bootstrapApi(config);
  const port = listeningPort(app);
  return { app, base: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function call<T = any>(base: string, method: string, p: string, opts: { json?: unknown; body?: string; type?: string; key?: string } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  } else if (opts.body !== undefined) {
    body = opts.body;
    headers['content-type'] = opts.type ?? 'text/xml';
  }
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(`${base}${p}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  if (res.headers.get('content-type')?.includes('json') && text) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** Reads an SSE stream; `next(pred)` resolves with the first matching event. */
export function openEvents(url: string): Promise<{ events: { event: string; data: any }[]; next(pred: (e: { event: string; data: any }) => boolean, timeoutMs?: number): Promise<{ event: string; data: any }>; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: any }[] = [];
    const waiters: { pred: (e: { event: string; data: any }) => boolean; done: (e: { event: string; data: any }) => void }[] = [];
    const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE status ${res.statusCode}`));
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trim());
          }
          if (!data.length) continue;
          const e = { event, data: JSON.parse(data.join('\n')) };
          events.push(e);
          for (const w of [...waiters]) {
            if (!w.pred(e)) continue;
            waiters.splice(waiters.indexOf(w), 1);
            w.done(e);
          }
        }
      });
      resolve({
        events,
        next(pred, timeoutMs = 5000) {
          const hit = events.find(pred);
          if (hit) return Promise.resolve(hit);
          return new Promise((ok, fail) => {
            const t = setTimeout(() => fail(new Error('no matching SSE event in time')), timeoutMs);
            waiters.push({ pred, done: (e) => (clearTimeout(t), ok(e)) });
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
