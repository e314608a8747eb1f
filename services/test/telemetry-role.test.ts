import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startStack, waitFor, type Stack } from './support/stack';

/**
 * The image's ENTRYPOINT, run as is from the repository root (the image's WORKDIR layout):
 *   node --require ./services/dist/telemetry/register.js services/dist/main.js scheduler
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, the preload instruments the real role and its
 * Postgres/Redis calls arrive at an OTLP/HTTP receiver; its container HEALTHCHECK passes.
 */
const ROOT = path.resolve(__dirname, '../..');

describe('a real role started by the image entrypoint', () => {
  let stack: Stack;
  let role: ChildProcess | undefined;
  let output = '';
  const bodies: string[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  let healthPort = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    stack = await startStack({ name: 'd_entry' });
    console.log(`telemetry-role: stack ready in ${Date.now() - t0} ms`);
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    healthPort = await freePort();
    role = spawn(process.execPath, ['--require', './services/dist/telemetry/register.js', 'services/dist/main.js', 'scheduler'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...stack.env,
        HEALTH_PORT: String(healthPort),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    role.stdout!.on('data', (c) => (output += c));
    role.stderr!.on('data', (c) => (output += c));
    await waitFor('scheduler healthy', async () => {
      if (role!.exitCode !== null) throw new Error(`scheduler exited ${role!.exitCode}:\n${output.slice(-2000)}`);
      const r = await fetch(`http://127.0.0.1:${healthPort}/healthz`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    }, 90_000);
  }, 240_000);

  afterAll(async () => {
    if (role && role.exitCode === null) {
      role.kill('SIGTERM');
      await new Promise((r) => role!.once('exit', r));
    }
    receiver.close();
    await stack?.stop();
  });

  it('exports the role\'s Postgres and Redis spans over OTLP under service podbrain-scheduler', async () => {
    await waitFor('spans from the scheduler', async () => (bodies.some((b) => b.includes('podbrain-scheduler') && /"name":"(pg\.|SELECT|INSERT|UPDATE|evalsha|EVALSHA|get|set)/i.test(b)) ? true : undefined), 30_000);
    const all = bodies.join('\n');
    expect(all).toContain('"podbrain.role"');
    expect(all).toMatch(/"db\.system(\.name)?","value":\{"stringValue":"(postgresql|redis)"/);
  });

  it('passes the container HEALTHCHECK and still stops cleanly on SIGTERM', async () => {
    const check = spawn(process.execPath, ['services/dist/telemetry/healthcheck.js'], { cwd: ROOT, env: { PATH: process.env.PATH, HEALTH_PORT: String(healthPort), PODBRAIN_ROLE: 'scheduler' } });
    let out = '';
    check.stdout.on('data', (c) => (out += c));
    expect(await new Promise((r) => check.once('exit', r))).toBe(0);
    expect(out).toMatch(/200 (healthy|degraded)/);
    role!.kill('SIGTERM');
    const code = await new Promise((r) => role!.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  });
});
