/* eslint-disable @typescript-eslint/no-explicit-any -- test replies are JSON of many shapes */
/**
 * Private by default when exposed (issue 15): with DOMAIN set, reads (library, search,
 * transcripts, audio, SSE, graph, feeds) need the API key or a session cookie; on a LAN install
 * (DOMAIN unset) and with AUTH_READS=false they stay open; the cookie never authorizes a write.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapApi } from '../src/api/bootstrap';
import { readsArePrivate } from '../src/api/private-reads';
import { SESSION_COOKIE, signSession } from '../src/api/session';
import { loadConfig, type Config } from '../src/config/config';
import { EpisodeEventPublisher, eventsChannel } from '../src/repositories/episode-events.repository';
import { apiConfig, call, freshDatabase, startApi, waitFor } from './api-support';

const DB = 'podbrain_test_private';
const KEY = 'private-reads-key';
const EP = 'feedp-00001';
const AUDIO = 'ID3fakeaudio0123456789';

/** Every kind of read the viewer makes, each a route that answers 200 with data here. */
const READS = [
  '/api/episodes?limit=5',
  `/api/episodes/${EP}`,
  '/api/search?q=quantum',
  `/api/episodes/${EP}/transcript`,
  `/api/episodes/${EP}/audio`,
  `/api/episodes/${EP}/graph`,
  '/api/graph',
  '/api/feeds',
  '/api/subscriptions',
  '/api/feeds/export',
  '/api/health',
];

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let config: Config;
let redis: IORedis;
type Api = Awaited<ReturnType<typeof startApi>>;
let exposed: Api; // DOMAIN set, AUTH_READS=auto
let lan: Api; // DOMAIN unset (key set: writes closed, reads open as today)
let publicByChoice: Api; // DOMAIN set, AUTH_READS=false

async function get(base: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: any; headers: Headers }> {
  if (p === '/api/events') {
    const s = await sse(`${base}${p}`, headers);
    s.close();
    return { status: s.status, type: 'text/event-stream', body: null, headers: new Headers() };
  }
  const res = await fetch(`${base}${p}`, { headers });
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text();
  return { status: res.status, type, body: type.includes('json') && text ? JSON.parse(text) : text, headers: res.headers };
}

/** An SSE connection: its status, and (when 200) the events it receives. */
function sse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; events: { event: string; data: any }[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: any }[] = [];
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      });
      res.on('error', () => undefined);
      resolve({ status: res.statusCode ?? 0, events, close: () => req.destroy() });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

/** POST /api/session with this key: the answer and the cookie pair to send back (`name=value`). */
async function signIn(base: string, key: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/api/session`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers } });
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { status: res.status, body: (await res.json()) as any, setCookie, cookie: setCookie.split(';')[0] };
}

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('feedp', 'https://example.com/p.xml', 'Feed P', 3600, now() + interval '1 hour')`);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feedp')`);
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, title, published_at, duration_s, enclosure, transcripts, source, state)
     VALUES ($1, 'feedp', 'Quantum hour', now(), 60, '{"url":"https://example.com/1.mp3","type":"audio/mpeg","length":1}', '[]', '{"description":"about qubits","image":null}', 'done')`,
    [EP],
  );
  await pg.query(`INSERT INTO transcript_segments (episode_key, fingerprint, idx, start_ms, end_ms, speaker, text) VALUES ($1,'fp',0,0,1500,NULL,'Hello qubits')`, [EP]);
  await pg.query(`INSERT INTO chunks (episode_key, fingerprint, idx, text, start_ms, end_ms) VALUES ($1,'fp',0,'The quantum computer uses qubits',0,30000)`, [EP]);
  await pg.query(`INSERT INTO kg_nodes (id, kind, label, props) VALUES ('topic:quantum','Topic','Quantum','{}'),('person:ada','Person','Ada','{}')`);
  await pg.query(`INSERT INTO kg_edges (episode_key, fingerprint, source_id, target_id, kind, props) VALUES ($1,'fp','person:ada','topic:quantum','MENTIONS','{}')`, [EP]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'private-ingest-'));
  writeFileSync(path.join(dir, 'audio.mp3'), AUDIO);
  writeFileSync(path.join(dir, 'ingest.json'), JSON.stringify({ schema_version: 1, episode_key: EP, audio_file: 'audio.mp3', content_type: 'audio/mpeg' }));
  await pg.query(`INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, finished_at, artifact_path) VALUES ($1, 'ingest', 'fp', 'done', 1, now(), $2)`, [EP, dir]);
  // A second tenant with its own key (and feed), for tenant sessions.
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('feedt', 'https://example.com/t.xml', 'Tenant feed', 3600, now() + interval '1 hour')`);
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second')`);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('t2', 'feedt')`);
  await pg.query(`INSERT INTO api_keys (tenant_id, name, key_hash) VALUES ('t2', 'live', $1)`, [createHash('sha256').update('t2-key').digest('hex')]);

  config = apiConfig(db.url, { AUTH_API_KEY: KEY });
  redis = new IORedis(config.redisUrl);
  exposed = await startApi({ ...config, domain: 'podcasts.example.org' });
  lan = await startApi(config);
  publicByChoice = await startApi({ ...config, domain: 'podcasts.example.org', authReads: 'false' });
}, 120_000);

afterAll(async () => {
  await exposed?.close();
  await lan?.close();
  await publicByChoice?.close();
  const keys = await redis?.keys(`${config.queue.prefix}:*`);
  if (keys?.length) await redis.del(...keys);
  redis?.disconnect();
  await pg?.end();
  await db?.drop();
});

describe('private reads: DOMAIN set, AUTH_READS=auto', () => {
  it('every read (episodes, search, transcript, audio, SSE, graph, feeds, health) is 401 without credentials, with a message saying how to get in', async () => {
    for (const p of [...READS, '/api/events']) {
      const r = await get(exposed.base, p);
      expect(r.status, p).toBe(401);
      if (p !== '/api/events') expect(r.body.error, p).toMatchObject({ code: 'sign_in_required', message: expect.stringMatching(/private.*AUTH_READS.*POST \/api\/session/) });
    }
    // A wrong key is refused too (reads are no longer "open, key ignored").
    const wrong = await get(exposed.base, '/api/episodes', { authorization: 'Bearer not-the-key' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'sign_in_required', message: expect.stringMatching(/wrong/) });
    // Admin routes keep their own refusal (the viewer's Admin page shows its key form for it).
    expect((await get(exposed.base, '/api/admin/queues')).body.error.code).toBe('unauthorized');
  });

  it('every read answers with the deployment key as Bearer', async () => {
    for (const p of [...READS, '/api/events']) expect((await get(exposed.base, p, { authorization: `Bearer ${KEY}` })).status, p).toBe(200);
    const eps = await get(exposed.base, '/api/episodes?limit=5', { authorization: `Bearer ${KEY}` });
    expect(eps.body.items.map((e: any) => e.episode_key)).toEqual([EP]);
  });

  it('/healthz and /metrics (compose healthchecks, Prometheus; never routed through Caddy) stay public', async () => {
    expect((await get(exposed.base, '/healthz')).status).toBe(200);
    expect((await get(exposed.base, '/metrics')).status).toBe(200);
  });

  it('POST /api/session with the key sets an HttpOnly, SameSite=Strict cookie; every read — audio ranges and SSE included — then answers to the cookie alone', async () => {
    expect((await signIn(exposed.base, 'wrong')).status).toBe(401);
    expect((await fetch(`${exposed.base}/api/session`, { method: 'POST' })).status).toBe(401);
    const s = await signIn(exposed.base, KEY);
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ kind: 'admin', tenant: 'default', reads_private: true });
    expect(Date.parse(s.body.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(s.setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=v1\\.`));
    for (const attr of ['HttpOnly', 'SameSite=Strict', 'Path=/api', 'Max-Age=2592000']) expect(s.setCookie).toContain(attr);
    expect(s.setCookie, 'plain http (no Caddy in front): not Secure').not.toContain('Secure');
    // Behind Caddy with DOMAIN the viewer comes over https: Secure.
    expect((await signIn(exposed.base, KEY, { 'x-forwarded-proto': 'https' })).setCookie).toContain('; Secure');

    for (const p of [...READS, '/api/events']) expect((await get(exposed.base, p, { cookie: s.cookie })).status, p).toBe(200);
    const audio = await fetch(`${exposed.base}/api/episodes/${EP}/audio`, { headers: { cookie: s.cookie, range: 'bytes=3-6' } });
    expect(audio.status).toBe(206);
    expect(await audio.text()).toBe('fake');
    expect(await (await fetch(`${exposed.base}/api/episodes/${EP}/audio`, { headers: { cookie: `other=1; ${s.cookie}` } })).text()).toBe(AUDIO);
  });

  it('live events reach an EventSource that has only the cookie', async () => {
    const s = await signIn(exposed.base, KEY);
    const stream = await sse(`${exposed.base}/api/events`, { cookie: s.cookie });
    const publisherConn = new IORedis(config.redisUrl);
    try {
      expect(stream.status).toBe(200);
      const publisher = new EpisodeEventPublisher(publisherConn, eventsChannel(config));
      await waitFor(
        async () => {
          await publisher.publish({ episode_key: EP, feed_id: 'feedp', state: 'done' });
          return stream.events.some((e) => e.event === 'episode' && e.data.episode_key === EP);
        },
        20_000,
        250,
      );
    } finally {
      stream.close();
      publisherConn.disconnect();
    }
  });

  it('a tampered, expired or foreign-key cookie is 401 with "sign in again"', async () => {
    const s = await signIn(exposed.base, KEY);
    const [name, token] = s.cookie.split('=');
    const [v, payload, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const longer = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400 * 365 })).toString('base64url');
    const cases: Record<string, string> = {
      'payload changed (exp extended)': `${v}.${longer}.${sig}`,
      'signature changed': `${v}.${payload}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`,
      'a tenant claim forged': `${v}.${Buffer.from(JSON.stringify({ kind: 'tenant', keyHash: 'a'.repeat(64), exp: claims.exp })).toString('base64url')}.${sig}`,
      expired: signSession(KEY, { kind: 'admin', exp: Math.floor(Date.now() / 1000) - 1 }),
      'signed with an older AUTH_API_KEY (rotated)': signSession('the-previous-key', { kind: 'admin', exp: claims.exp }),
      garbage: 'not-a-token',
      'other version': `v0.${payload}.${sig}`,
    };
    for (const [what, value] of Object.entries(cases)) {
      for (const p of ['/api/episodes', `/api/episodes/${EP}/audio`]) {
        const r = await get(exposed.base, p, { cookie: `${name}=${value}` });
        expect(r.status, `${what} ${p}`).toBe(401);
        expect(r.body.error, what).toMatchObject({ code: 'sign_in_required', message: expect.stringMatching(/session.*sign in again/) });
      }
      expect((await get(exposed.base, '/api/events', { cookie: `${name}=${value}` })).status, what).toBe(401);
    }
  });

  it('the cookie never authorizes a write: a cross-site POST carrying it is refused, and so is a same-site one without the Bearer key', async () => {
    const s = await signIn(exposed.base, KEY);
    const before = (await pg.query(`SELECT count(*)::int AS n FROM feeds`)).rows[0].n;
    for (const origin of ['https://evil.example', undefined]) {
      const headers: Record<string, string> = { cookie: s.cookie, 'content-type': 'application/json', ...(origin ? { origin } : {}) };
      const add = await fetch(`${exposed.base}/api/feeds`, { method: 'POST', headers, body: JSON.stringify({ url: 'https://example.com/evil.xml' }) });
      expect(add.status, origin ?? 'same site').toBe(401);
      expect((await fetch(`${exposed.base}/api/episodes/${EP}/process`, { method: 'POST', headers })).status).toBe(401);
      expect((await fetch(`${exposed.base}/api/admin/queues/ingest/pause`, { method: 'POST', headers })).status).toBe(401);
      expect((await fetch(`${exposed.base}/api/admin/queues`, { headers })).status, 'admin reads need the key').toBe(401);
    }
    expect((await pg.query(`SELECT count(*)::int AS n FROM feeds`)).rows[0].n).toBe(before);
    // Signing in or out from another site's page is refused even with the key.
    expect((await signIn(exposed.base, KEY, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await fetch(`${exposed.base}/api/session`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}`, origin: 'https://evil.example' } })).status).toBe(403);
    // The viewer's own page (Origin = the host it reached, also through a proxy setting X-Forwarded-Host) may.
    const host = new URL(exposed.base).host;
    expect((await signIn(exposed.base, KEY, { origin: `http://${host}` })).status).toBe(200);
    expect((await signIn(exposed.base, KEY, { origin: 'https://podcasts.example.org', 'x-forwarded-host': 'podcasts.example.org' })).status).toBe(200);
  });

  it('DELETE /api/session clears the cookie', async () => {
    const out = await fetch(`${exposed.base}/api/session`, { method: 'DELETE', headers: { authorization: `Bearer ${KEY}` } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=; Path=/api; Max-Age=0; HttpOnly; SameSite=Strict`));
  });

  it("a tenant key's session reads that tenant's library; it ends when the key is revoked", async () => {
    const s = await signIn(exposed.base, 't2-key');
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ kind: 'tenant', tenant: 't2' });
    expect(s.cookie).not.toContain('t2-key');
    const feeds = await get(exposed.base, '/api/feeds', { cookie: s.cookie });
    expect(feeds.body.items.map((f: any) => f.id)).toEqual(['feedt']);
    await pg.query(`UPDATE api_keys SET revoked_at = now() WHERE tenant_id = 't2'`);
    try {
      // The api caches key lookups for 30 s; a second api process (same AUTH_API_KEY: sessions are stateless) sees it at once.
      const other = await startApi({ ...config, authReads: 'true' });
      try {
        expect((await get(other.base, '/api/feeds', { cookie: s.cookie })).status).toBe(401);
        const admin = await signIn(exposed.base, KEY);
        expect((await get(other.base, '/api/feeds', { cookie: admin.cookie })).status, 'an admin session is valid on every api process of the box').toBe(200);
      } finally {
        await other.close();
      }
    } finally {
      await pg.query(`UPDATE api_keys SET revoked_at = NULL WHERE tenant_id = 't2'`);
    }
  });
});

describe('private reads: off on a LAN install, or by explicit choice', () => {
  it('DOMAIN unset: every read is open as today (no key, no cookie); writes still need the key', async () => {
    for (const p of [...READS, '/api/events']) expect((await get(lan.base, p)).status, p).toBe(200);
    expect((await call(lan.base, 'POST', '/api/feeds', { json: { url: 'https://example.com/x.xml' } })).status).toBe(401);
    // Signing in still works there (and says reads are open); the cookie does no harm.
    const s = await signIn(lan.base, KEY);
    expect(s.body.reads_private).toBe(false);
  });

  it('AUTH_READS=false with DOMAIN set: reads are open (the owner chose so)', async () => {
    for (const p of [...READS, '/api/events']) expect((await get(publicByChoice.base, p)).status, p).toBe(200);
  });

  it("DOMAIN as Caddy's bare \":80\" (the compose default) is not a domain", () => {
    expect(readsArePrivate({ authReads: 'auto', domain: ':80' })).toBe(false);
    expect(readsArePrivate({ authReads: 'auto', domain: ' ' })).toBe(false);
    expect(readsArePrivate({ authReads: 'auto', domain: 'podcasts.example.org' })).toBe(true);
    expect(readsArePrivate({ authReads: 'true', domain: '' })).toBe(true);
    expect(readsArePrivate({ authReads: 'false', domain: 'podcasts.example.org' })).toBe(false);
  });
});

describe('private reads: no key to open them with', () => {
  it('the api refuses to start with AUTH_READS=true, or DOMAIN set, and no AUTH_API_KEY — saying what to set', async () => {
    const keyless = { ...config, authApiKey: '' };
    await expect(bootstrapApi({ ...keyless, authReads: 'true' })).rejects.toThrow(/AUTH_READS=true needs AUTH_API_KEY.*or set AUTH_READS=false/);
    await expect(bootstrapApi({ ...keyless, domain: 'podcasts.example.org' })).rejects.toThrow(/DOMAIN=podcasts\.example\.org .*needs AUTH_API_KEY/);
  });

  it('AUTH_READS=false with DOMAIN and no key starts (reads and writes open: the explicit choice), and so does a LAN box', async () => {
    const keyless = { ...config, authApiKey: '' };
    for (const c of [{ ...keyless, domain: 'podcasts.example.org', authReads: 'false' as const }, keyless]) {
      const api = await startApi(c);
      try {
        expect((await get(api.base, '/api/episodes')).status).toBe(200);
        expect((await fetch(`${api.base}/api/session`, { method: 'POST' })).status, 'nothing to sign in to').toBe(409);
      } finally {
        await api.close();
      }
    }
  });

  it('AUTH_READS takes only auto, true or false', () => {
    expect(() => loadConfig({ env: { AUTH_READS: 'yes-please' } })).toThrow(/AUTH_READS \(authReads, from env\): expected/);
    expect(loadConfig({ env: {} }).authReads).toBe('auto');
  });
});
