/* eslint-disable @typescript-eslint/no-explicit-any -- the OpenAPI document and replies are JSON of many shapes */
/**
 * Hostile probes (issue 12): the roles run as their own OS processes (api with AUTH_API_KEY,
 * scheduler, a worker on every queue) and the api is walked route by route from its own
 * OpenAPI document:
 *  - case and spelling variants of every route never answer more than the canonical path
 *    (a protected route is 401 without the key whatever its spelling);
 *  - a NUL byte in every path parameter, query parameter and body field is a 4xx with a JSON
 *    message, never a 500 (Postgres rejects 0x00 in text);
 * and every role process is still alive and healthy afterwards.
 * Add probes for new hostile inputs here; each names the route and input it sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Reflector } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminController } from '../src/api/admin/admin.controller';
import { ApiKeyGuard } from '../src/api/auth.guard';
import { EpisodesController } from '../src/api/episodes/episodes.controller';
import { loadConfig } from '../src/config/config';
import { startStack, type Stack } from './support/stack';

const KEY = 'hostile-test-key';

interface Operation {
  method: string;
  template: string;
  pathParams: string[];
  queryParams: { name: string; required: boolean }[];
  jsonProps: string[];
  textBody: boolean;
  stream: boolean;
  access: string | undefined;
}

interface Answer {
  status: number;
  type: string;
  body: any;
}

let stack: Stack;
let base: string;
let feedServer: http.Server;
let feedBase: string;
let ops: Operation[];

const RSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title><link>https://example.com</link>
<item><title>One</title><guid>one</guid><enclosure url="https://example.com/1.mp3" type="audio/mpeg" length="1"/></item></channel></rss>`;

/** A sample value for a path parameter: names a real queue where the route wants one. */
const sample = (param: string) => (/^(name|queue)$/.test(param) ? 'ingest' : 'x1');

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(values[p] ?? sample(p)));
}

function operations(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [template, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const params: any[] = op.parameters ?? [];
      const content = op.requestBody?.content ?? {};
      const json = content['application/json']?.schema;
      out.push({
        method: method.toUpperCase(),
        template,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, required: Boolean(p.required) })),
        jsonProps: json?.properties ? Object.keys(json.properties) : [],
        textBody: Object.keys(content).some((t) => t.includes('xml')),
        stream: Object.keys(op.responses ?? {}).some((s) => Object.keys(op.responses[s]?.content ?? {}).includes('text/event-stream')) || template === '/api/events',
        access: op['x-podbrain-access'],
      });
    }
  }
  return out;
}

/** One request; an event stream is cut once its status is known. */
async function send(method: string, p: string, opts: { key?: string; json?: unknown; text?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  } else if (opts.text !== undefined) {
    body = opts.text;
    headers['content-type'] = 'text/xml';
  }
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 20_000);
  try {
    const res = await fetch(`${base}${p}`, { method, headers, body, signal: ac.signal });
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('event-stream')) {
      ac.abort();
      return { status: res.status, type, body: null };
    }
    const text = await res.text();
    return { status: res.status, type, body: type.includes('json') && text ? JSON.parse(text) : text };
  } finally {
    clearTimeout(timer);
  }
}

/** Spellings of a path that differ only in case, a trailing slash or an encoded letter (params keep their value). */
function variants(template: string): string[] {
  const parts = template.split('/');
  const literal = parts.map((s) => s !== '' && !s.startsWith('{'));
  const map = (f: (s: string, i: number) => string) => parts.map((s, i) => (literal[i] ? f(s, i) : s)).join('/');
  const firstLiteral = literal.indexOf(true);
  const secondLiteral = literal.indexOf(true, firstLiteral + 1);
  const out = new Set<string>([
    map((s) => s.toUpperCase()),
    map((s) => s[0].toUpperCase() + s.slice(1)),
    map((s, i) => (i === firstLiteral ? s.toUpperCase() : s)),
    map((s, i) => (i === secondLiteral ? s.toUpperCase() : s)),
    map((s, i) => (i === parts.length - 1 ? s.toUpperCase() : s)),
    map((s, i) => (i === secondLiteral ? `%${s.charCodeAt(0).toString(16)}${s.slice(1)}` : s)),
    `${template}/`,
  ]);
  out.delete(template);
  return [...out];
}

beforeAll(async () => {
  feedServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(RSS));
  await new Promise<void>((resolve) => feedServer.listen(0, '127.0.0.1', resolve));
  feedBase = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}`;
  stack = await startStack({ name: 'hostile', env: { ALLOW_PRIVATE_NETWORK: 'true', LOG_LEVEL: 'warn' } });
  const [api] = await Promise.all([stack.start('api', { env: { AUTH_API_KEY: KEY } }), stack.start('scheduler'), stack.start('worker', { args: ['--queues', 'all'] })]);
  base = `http://127.0.0.1:${api.healthPort}`;
  // Something to find, so reads reach Postgres with what they were sent (the probes use other ids).
  await stack.db.query(`INSERT INTO feeds (id, url, title) VALUES ('hostile', 'https://example.com/hostile.xml', 'Hostile')`);
  await stack.db.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'hostile')`);
  await stack.db.query(
    `INSERT INTO episodes (episode_key, feed_id, title, published_at, source, state) VALUES ('hostile-ep', 'hostile', 'A hostile episode', now(), '{}', 'done')`,
  );
  await stack.db.query(`INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms) VALUES ('hostile-ep', 'fp', 0, 'a b hostile words', 0, 1000)`);
  const doc = await send('GET', '/api/docs/json');
  expect(doc.status).toBe(200);
  ops = operations(doc.body);
  expect(ops.length).toBeGreaterThan(20);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => feedServer?.close(resolve));
});

describe('hostile: route spelling never changes who may call it', () => {
  it('every route of the OpenAPI document: case variants answer like the canonical path (or 404), without and with the key', async () => {
    const problems: string[] = [];
    for (const op of ops) {
      const canonical = fill(op.template, {});
      const anon = await send(op.method, canonical);
      const keyed = await send(op.method, canonical, { key: KEY });
      if (op.access === 'write' || op.access === 'admin') {
        if (anon.status !== 401) problems.push(`${op.method} ${canonical} (${op.access}) without key: ${anon.status}, want 401`);
      }
      for (const v of variants(op.template)) {
        const p = fill(v, {});
        const a = await send(op.method, p);
        if (a.status !== anon.status && a.status !== 404) problems.push(`${op.method} ${p} without key: ${a.status}, canonical ${anon.status}`);
        if (anon.status === 401 && a.status !== 401 && a.status !== 404) problems.push(`${op.method} ${p} without key: ${a.status} although ${canonical} needs the key`);
        if (a.status >= 400 && !a.body?.error?.message) problems.push(`${op.method} ${p} without key: ${a.status} without a JSON message`);
        const k = await send(op.method, p, { key: KEY });
        if (k.status !== keyed.status && k.status !== 404) problems.push(`${op.method} ${p} with key: ${k.status}, canonical ${keyed.status}`);
      }
    }
    expect(problems).toEqual([]);
  }, 180_000);

  it('the admin reads of issue 12 in particular', async () => {
    for (const p of ['/api/admin/config', '/API/ADMIN/config', '/api/Admin/queues', '/api/ADMIN/jobs', '/Api/admin/deploy', '/api/admin/workers/']) {
      const r = await send('GET', p);
      expect([401, 404], `GET ${p}`).toContain(r.status);
      expect(r.body.error.message, p).toEqual(expect.any(String));
    }
    expect((await send('GET', '/api/admin/config', { key: KEY })).status).toBe(200);
  });

  it('every route declares who may call it (x-podbrain-access in the document)', () => {
    const undeclared = ops.filter((o) => !['public', 'read', 'write', 'admin'].includes(o.access ?? '')).map((o) => `${o.method} ${o.template}`);
    expect(undeclared).toEqual([]);
    const admin = ops.filter((o) => o.template.startsWith('/api/admin/'));
    expect(admin.length).toBeGreaterThan(5);
    expect(admin.filter((o) => o.access !== 'admin').map((o) => `${o.method} ${o.template}`)).toEqual([]);
    expect(ops.filter((o) => o.method !== 'GET' && o.access !== 'write' && o.access !== 'admin').map((o) => `${o.method} ${o.template}`)).toEqual([]);
  });
});

describe('hostile: the guard reads the route declaration, not the path', () => {
  function contextFor(controller: any, method: string, req: Record<string, unknown>): any {
    return { getHandler: () => controller.prototype[method], getClass: () => controller, switchToHttp: () => ({ getRequest: () => req }) };
  }
  // A whole config (the guard reads more than the key: the alert webhook token, private reads).
  const guard = (key: string) => new ApiKeyGuard({ config: loadConfig({ env: { AUTH_API_KEY: key } }), tenantForKey: async () => null } as any, new Reflector());

  it('an admin route needs the key in any spelling of its path; a read route needs none', async () => {
    for (const p of ['/api/admin/config', '/API/ADMIN/config', '/api/Admin/config', '/somewhere/else']) {
      await expect(guard(KEY).canActivate(contextFor(AdminController, 'config', { method: 'GET', path: p, headers: {} })), p).rejects.toMatchObject({ status: 401 });
      await expect(guard(KEY).canActivate(contextFor(AdminController, 'config', { method: 'GET', path: p, headers: { authorization: `Bearer ${KEY}` } })), p).resolves.toBe(true);
    }
    await expect(guard(KEY).canActivate(contextFor(EpisodesController, 'list', { method: 'GET', path: '/api/admin/jobs', headers: {} }))).resolves.toBe(true);
  });

  it('a write is never open, whatever its controller declares; an undeclared route is admin', async () => {
    await expect(guard(KEY).canActivate(contextFor(EpisodesController, 'list', { method: 'POST', path: '/api/episodes', headers: {} }))).rejects.toMatchObject({ status: 401 });
    class Undeclared {
      handler() {}
    }
    await expect(guard(KEY).canActivate(contextFor(Undeclared, 'handler', { method: 'GET', path: '/api/anything', headers: {} }))).rejects.toMatchObject({ status: 401 });
  });
});

describe('hostile: a NUL byte anywhere is a 4xx with a message, never a 500', () => {
  const NUL = 'a\u0000b';

  async function expectRefused(what: string, r: Answer, problems: string[]) {
    if (r.status < 400 || r.status >= 500 || !r.type.includes('json') || typeof r.body?.error?.message !== 'string' || !r.body.error.message) {
      problems.push(`${what}: ${r.status} ${typeof r.body === 'string' ? r.body.slice(0, 120) : JSON.stringify(r.body)?.slice(0, 200)}`);
    }
  }

  it('in every path parameter, query parameter and body field of every route', async () => {
    const problems: string[] = [];
    for (const op of ops) {
      for (const p of op.pathParams) {
        await expectRefused(`${op.method} ${op.template} path ${p}`, await send(op.method, fill(op.template, { [p]: NUL }), { key: KEY }), problems);
      }
      const canonical = fill(op.template, {});
      for (const q of op.queryParams) {
        const others = op.queryParams.filter((o) => o.required && o.name !== q.name).map((o) => `&${o.name}=x`).join('');
        await expectRefused(`${op.method} ${op.template} query ${q.name}`, await send(op.method, `${canonical}?${q.name}=a%00b${others}`, { key: KEY }), problems);
      }
      for (const prop of op.jsonProps) {
        await expectRefused(`${op.method} ${op.template} body ${prop}`, await send(op.method, canonical, { key: KEY, json: { [prop]: NUL } }), problems);
      }
      if (op.textBody) {
        const opml = `<?xml version="1.0"?><opml version="2.0"><body><outline type="rss" text="x" xmlUrl="${feedBase}/a\u0000b.xml"/></body></opml>`;
        await expectRefused(`${op.method} ${op.template} text body`, await send(op.method, canonical, { key: KEY, text: opml }), problems);
      }
      if (op.method === 'GET' && !op.stream) {
        // A parameter the route does not take is ignored or refused, never a 500.
        const r = await send(op.method, `${canonical}?unexpected=a%00b`, { key: KEY });
        if (r.status >= 500) problems.push(`${op.method} ${op.template} ?unexpected=NUL: ${r.status}`);
      }
    }
    expect(problems).toEqual([]);
  }, 180_000);

  it('the cases of issue 12: q=a%00b, a cursor holding \\u0000, a feed URL with \\u0000', async () => {
    const problems: string[] = [];
    await expectRefused('search q', await send('GET', '/api/search?q=a%00b'), problems);
    const cursor = Buffer.from(JSON.stringify(['2024-01-01 00:00:00+00', NUL])).toString('base64url');
    await expectRefused('episodes cursor', await send('GET', `/api/episodes?cursor=${cursor}`), problems);
    await expectRefused('episodes feed_id', await send('GET', '/api/episodes?feed_id=a%00b'), problems);
    for (const url of [`${feedBase}/feed\u0000.xml`, `${feedBase}/feed.xml?x=\u0000`, `${feedBase}/feed.xml#\u0000`]) {
      await expectRefused(`add feed ${JSON.stringify(url)}`, await send('POST', '/api/feeds', { key: KEY, json: { url } }), problems);
    }
    expect(problems).toEqual([]);
    const r = await send('GET', '/api/search?q=a%00b');
    expect(r.body.error.message).toMatch(/q:/);
  });
});

describe('hostile: every role survives the probes', () => {
  it('api, scheduler and worker are still running and healthy', async () => {
    for (const [name, role] of stack.roles) {
      expect(role.child.exitCode, `${name} exited:\n${stack.logs(name).slice(-2000)}`).toBeNull();
      expect(role.child.signalCode, name).toBeNull();
      expect((await stack.health(name)).status, name).toBe(200);
    }
    expect(stack.logs('api')).not.toMatch(/"level":"?(error|50)/);
  });
});
