import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigFeedXml } from './support/big-feed';
import { serveBody, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { startStack, type Stack } from './support/stack';

/**
 * POST /api/feeds on the api role process with a 50,000-item feed: the api checks the URL and
 * answers at once; the feed is read and parsed by the poll job in worker-io, not in the request.
 */
const COUNT = 50_000;

/** kB of the process' resident set now and at its peak (Linux /proc). */
function rss(pid: number): { nowMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { nowMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

let stack: Stack;
let srv: FixtureServer;
let feedBytes = 0;
beforeAll(async () => {
  srv = await startFixtureServer();
  const xml = bigFeedXml({ count: COUNT, enclosureBase: 'http://127.0.0.1:9/audio' });
  feedBytes = Buffer.byteLength(xml);
  srv.route('/endless.xml', serveBody(xml, { contentType: 'application/rss+xml' }));
  srv.route('/small.xml', serveBody(bigFeedXml({ count: 3, enclosureBase: 'http://127.0.0.1:9/audio', title: 'Small Show' }), { contentType: 'application/rss+xml' }));
  stack = await startStack({ name: 'feedadd', env: { ALLOW_PRIVATE_NETWORK: 'true', AUTH_API_KEY: '' } });
  await stack.start('api');
}, 300_000);
afterAll(async () => {
  await stack?.stop();
  await srv?.close();
});

const post = async (url: string) => {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${stack.roles.get('api')!.healthPort}/api/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, ms: performance.now() - t0 };
};

describe('POST /api/feeds with a 50,000-item feed', () => {
  it('answers fast without parsing the feed in the api process (RSS measured before and after)', async () => {
    const pid = stack.roles.get('api')!.child.pid!;
    await post(srv.url('/small.xml')); // warm the route (Nest, pg pool, Redis)
    const before = rss(pid);
    const r = await post(srv.url('/endless.xml'));
    const after = rss(pid);
    console.log(
      `[api-feed-add] ${COUNT} items (${(feedBytes / 1e6).toFixed(1)} MB): HTTP ${r.status} in ${r.ms.toFixed(0)} ms; api RSS ${before.nowMb.toFixed(0)} → ${after.nowMb.toFixed(0)} MB, peak ${before.peakMb.toFixed(0)} → ${after.peakMb.toFixed(0)} MB`,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ url: srv.url('/endless.xml'), title: 'Endless Show', episode_count: 0 });
    expect(r.ms).toBeLessThan(1500);
    expect(after.peakMb - before.peakMb).toBeLessThan(40);
    // nothing parsed into rows by the api; the poll job is queued for worker-io
    expect(await stack.db.query(`SELECT count(*)::int AS n FROM episodes`)).toEqual([{ n: 0 }]);
    const { Queue } = await import('bullmq');
    const q = new Queue('ingest', { connection: { url: stack.redisUrl }, prefix: stack.prefix });
    try {
      expect(await q.getJobState(`poll.${r.body.id as string}`)).toBe('waiting');
    } finally {
      await q.close();
    }
    // the same URL again: the existing feed, at once
    const again = await post(srv.url('/endless.xml'));
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(r.body.id);
    expect(again.ms).toBeLessThan(1000);
  }, 120_000);
});
