/**
 * The socket proxy (control/socket-proxy.ts), the scheduler's only door to the Docker engine: in
 * front of a fake engine on a unix socket it forwards container list (narrowed to this project)
 * and restart of this project's containers, and refuses everything else before the engine sees it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveProject, startSocketProxy, type SocketProxy } from '../src/control/socket-proxy';
import { ensureBuilt, SERVICES_DIR, tempDir } from './support/stack';

const PROJECT = 'podbrain';
const OURS = 'a'.repeat(64);
const THEIRS = 'b'.repeat(64);
const CONTAINERS: Record<string, { Id: string; Name: string; Config: { Labels: Record<string, string> } }> = {
  [OURS]: { Id: OURS, Name: '/podbrain-worker-gpu-1', Config: { Labels: { 'com.docker.compose.project': PROJECT, 'com.docker.compose.service': 'worker-gpu' } } },
  [THEIRS]: { Id: THEIRS, Name: '/other-db-1', Config: { Labels: { 'com.docker.compose.project': 'other', 'com.docker.compose.service': 'db' } } },
};

const tmp = tempDir('socket-proxy');
const enginePath = path.join(tmp.dir, 'docker.sock');
let seen: { method: string; url: string }[] = [];
let engine: http.Server;
let proxy: SocketProxy;
let base: string;

/** Answers like the engine for inspect / list / restart / _ping; records every request it gets. */
function fakeEngine(): http.Server {
  return http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url! });
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const u = new URL(req.url!, 'http://engine');
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(u.pathname);
    const restart = /^\/containers\/([^/]+)\/restart$/.exec(u.pathname);
    if (req.method === 'GET' && u.pathname === '/_ping') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    if (req.method === 'GET' && u.pathname === '/containers/json') return json(200, Object.values(CONTAINERS).map((c) => ({ Id: c.Id, Names: [c.Name], Labels: c.Config.Labels })));
    if (req.method === 'GET' && inspect) {
      const c = CONTAINERS[inspect[1]] ?? Object.values(CONTAINERS).find((x) => x.Name === `/${inspect[1]}` || x.Id.startsWith(inspect[1]));
      return c ? json(200, c) : json(404, { message: `No such container: ${inspect[1]}` });
    }
    if (req.method === 'POST' && restart) return void res.writeHead(204).end();
    json(200, { message: 'the fake engine would have done this' });
  });
}

async function call(method: string, url: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; body: { message?: string } & Record<string, unknown> }> {
  const res = await fetch(`${base}${url}`, { method, body: opts.body, headers: opts.headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, body: body as { message?: string } & Record<string, unknown> };
}

/** A raw request line, for paths fetch would normalise (`..`) before sending. */
function rawRequest(requestText: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxy.port, '127.0.0.1', () => s.write(requestText));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('no answer')));
  });
}

beforeAll(async () => {
  engine = fakeEngine();
  await new Promise<void>((r) => engine.listen(enginePath, r));
  proxy = await startSocketProxy({ enginePath, project: PROJECT, host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${proxy.port}`;
});

afterAll(async () => {
  await proxy?.close();
  await new Promise<void>((r) => engine.close(() => r()));
  tmp.remove();
});

beforeEach(() => {
  seen = [];
});

describe('socket proxy: what it forwards', () => {
  it('restarts a container of this project (with and without an API version), by its full id after inspecting it', async () => {
    expect((await call('POST', `/v1.43/containers/${OURS.slice(0, 12)}/restart?t=10`)).status).toBe(204);
    expect((await call('POST', '/containers/podbrain-worker-gpu-1/restart')).status).toBe(204);
    expect(seen).toEqual([
      { method: 'GET', url: `/containers/${OURS.slice(0, 12)}/json` },
      { method: 'POST', url: `/containers/${OURS}/restart?t=10` },
      { method: 'GET', url: '/containers/podbrain-worker-gpu-1/json' },
      { method: 'POST', url: `/containers/${OURS}/restart?t=10` },
    ]);
  });

  it('lists containers with the project label always added to the filters; _ping answers', async () => {
    const listed = await call('GET', `/v1.43/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.service=worker-gpu', 'com.docker.compose.project=other'] }))}`);
    expect(listed.status).toBe(200);
    expect((await call('GET', '/containers/json')).status).toBe(200);
    expect((await call('GET', '/_ping')).body).toBe('OK');
    const [first, second] = seen.map((s) => new URL(s.url, 'http://x'));
    expect(first.pathname).toBe('/containers/json');
    expect(first.searchParams.get('all')).toBe('1');
    // a caller cannot widen the list to another project: its project label is replaced by ours
    expect(JSON.parse(first.searchParams.get('filters')!)).toEqual({ label: ['com.docker.compose.service=worker-gpu', `com.docker.compose.project=${PROJECT}`] });
    expect(JSON.parse(second.searchParams.get('filters')!)).toEqual({ label: [`com.docker.compose.project=${PROJECT}`] });
    expect(seen[2]).toEqual({ method: 'GET', url: '/_ping' });
  });
});

describe('socket proxy: what it refuses (403, nothing reaches the engine)', () => {
  it('restart of a container of another project: inspected, never restarted', async () => {
    const r = await call('POST', `/containers/${THEIRS}/restart`);
    expect(r.status).toBe(403);
    expect(r.body.message).toContain('not part of the compose project podbrain');
    expect(seen).toEqual([{ method: 'GET', url: `/containers/${THEIRS}/json` }]);
    expect((await call('POST', '/containers/nope/restart')).status).toBe(404);
    expect(seen.filter((s) => s.method === 'POST')).toEqual([]);
  });

  it('every other endpoint and method', async () => {
    const refused: [string, string][] = [
      ['POST', '/containers/create'],
      ['POST', '/v1.43/containers/create?name=evil'],
      ['POST', `/containers/${OURS}/exec`],
      ['POST', `/containers/${OURS}/kill`],
      ['POST', `/containers/${OURS}/stop`],
      ['POST', `/containers/${OURS}/start`],
      ['POST', `/containers/${OURS}/update`],
      ['DELETE', `/containers/${OURS}`],
      ['DELETE', `/containers/${OURS}/restart`],
      ['GET', `/containers/${OURS}/json`],
      ['GET', `/containers/${OURS}/logs`],
      ['GET', `/containers/${OURS}/restart`],
      ['PUT', `/containers/${OURS}/restart`],
      ['PATCH', '/containers/json'],
      ['POST', '/containers/json'],
      ['GET', '/images/json'],
      ['POST', '/images/create?fromImage=alpine'],
      ['GET', '/volumes'],
      ['POST', '/volumes/create'],
      ['GET', '/networks'],
      ['POST', '/exec/abc/start'],
      ['GET', '/info'],
      ['GET', '/version'],
      ['GET', '/events'],
      ['POST', '/build'],
      ['GET', '/secrets'],
      ['POST', '/swarm/init'],
      ['GET', '/'],
      ['GET', '/v1.43/containers/json/../../images/json'],
      ['POST', `/containers/${OURS}%2F..%2Fkill/restart`],
      ['POST', `/containers/${OURS}/restart%00`],
      ['POST', `/containers/${OURS}/restart?t=10&signal=SIGKILL`],
      ['POST', `/containers/${OURS}/restart?t=99999`],
      ['GET', '/containers/json?size=1'],
      ['GET', `/containers/json?filters=${encodeURIComponent('{"id":["x"]}')}`],
      ['GET', `/containers/json?filters=${encodeURIComponent('not json')}`],
      ['GET', `/_ping?x=1`],
    ];
    for (const [method, url] of refused) {
      const r = await call(method, url);
      expect(r.status, `${method} ${url}`).toBe(403);
      expect(typeof r.body.message, `${method} ${url}`).toBe('string');
    }
    expect(seen).toEqual([]);
  });

  it('path traversal and odd request lines fetch would not send', async () => {
    for (const line of ['GET /containers/../images/json', `POST /containers/../containers/${OURS}/restart`, 'GET //containers/json', 'GET /containers/json#x', `POST /containers/${OURS}/./restart`, 'GET http://evil/containers/json']) {
      const answer = await rawRequest(`${line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer.split('\r\n')[0], line).toBe('HTTP/1.1 403 Forbidden');
      expect(answer, line).toContain('"message"');
    }
    // a method Node's parser does not know is a 400 from the server itself: still nothing forwarded
    const bogus = await rawRequest('FROB /containers/json HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(bogus.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(seen).toEqual([]);
  });

  it('requests with a body (small, huge, chunked) and over-long request lines', async () => {
    expect((await call('POST', `/containers/${OURS}/restart`, { body: '{"Cmd":["sh"]}', headers: { 'content-type': 'application/json' } })).status).toBe(403);
    expect((await call('POST', `/containers/${OURS}/restart`, { body: Buffer.alloc(8 * 1024 * 1024, 120) })).status).toBe(403);
    const chunked = await rawRequest(`POST /containers/${OURS}/restart HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expect(chunked.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect((await call('GET', `/containers/json?all=1&${'x'.repeat(3000)}=1`)).status).toBe(403);
    expect(seen).toEqual([]);
  });
});

describe('socket proxy: its project and its entrypoint', () => {
  it('takes COMPOSE_PROJECT_NAME, else the project label of its own container, else refuses to start', async () => {
    expect(await resolveProject(enginePath, { COMPOSE_PROJECT_NAME: 'mine' }, 'whatever')).toBe('mine');
    expect(await resolveProject(enginePath, {}, OURS.slice(0, 12))).toBe(PROJECT);
    await expect(resolveProject(enginePath, {}, 'not-a-container')).rejects.toThrow(/set COMPOSE_PROJECT_NAME/);
  });

  it('runs from the built image entrypoint (dist/control/socket-proxy-main.js) and serves the same rules', async () => {
    await ensureBuilt();
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [path.join(SERVICES_DIR, 'dist/control/socket-proxy-main.js')], {
      env: { PATH: process.env.PATH, DOCKER_SOCKET: enginePath, PROXY_PORT: String(port), PROXY_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      // its hostname is not a container here: without COMPOSE_PROJECT_NAME it cannot tell its project and exits
      const [code] = (await once(child, 'exit')) as [number];
      expect(code).toBe(1);
      expect(out).toContain('set COMPOSE_PROJECT_NAME');
    } finally {
      child.kill('SIGKILL');
    }
    const second = spawn(process.execPath, [path.join(SERVICES_DIR, 'dist/control/socket-proxy-main.js')], {
      env: { PATH: process.env.PATH, DOCKER_SOCKET: enginePath, PROXY_PORT: String(port), PROXY_HOST: '127.0.0.1', COMPOSE_PROJECT_NAME: PROJECT },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    out = '';
    second.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const deadline = Date.now() + 15_000;
      while (!out.includes('socket proxy listening')) {
        if (Date.now() > deadline || second.exitCode !== null) throw new Error(`proxy did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const other = `http://127.0.0.1:${port}`;
      expect((await fetch(`${other}/v1.43/containers/${OURS}/restart?t=10`, { method: 'POST' })).status).toBe(204);
      expect((await fetch(`${other}/containers/${THEIRS}/restart`, { method: 'POST' })).status).toBe(403);
      expect((await fetch(`${other}/containers/create`, { method: 'POST' })).status).toBe(403);
      expect(seen.filter((s) => s.method === 'POST')).toEqual([{ method: 'POST', url: `/containers/${OURS}/restart?t=10` }]);
      second.kill('SIGTERM');
      const [code] = (await once(second, 'exit')) as [number];
      expect(code).toBe(0);
      expect(out).toContain('"msg":"refused"');
    } finally {
      second.kill('SIGKILL');
    }
  }, 120_000);
});
