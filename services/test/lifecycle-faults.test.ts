import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FeedRepository } from '../src/episodes/feeds.repository';
import { fixture } from './support/fixtures';
import { serveBody, startFixtureServer } from './support/http-fixture-server';
import { PG_BIN, REDIS_SERVER, startPrivatePostgres, startPrivateRedis, type PrivateService } from './support/private-services';
import { SERVICES_DIR, startStack, waitFor, type Stack } from './support/stack';

/**
 * Hostile probes on the lifecycle of the platform (issue 12, "every failure says why"):
 * what the roles and their bookkeeping do when Redis or Postgres go away under them.
 * Outages are made on a private Redis / Postgres (support/private-services.ts), never on the
 * machine's shared ones.
 */
const API_BUILT = existsSync(path.join(SERVICES_DIR, 'dist/api/bootstrap.js'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A feed of one episode whose enclosure takes `ms` to download (a job that is still running when the outage starts). */
async function startSlowFeed(ms: number) {
  const server = await startFixtureServer();
  const audio = readFileSync(fixture('audio', 'fleurs-en-004.ogg'));
  server.route('/slow.ogg', (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/ogg', 'content-length': String(audio.length) });
    const parts = 20;
    let i = 0;
    const tick = () => {
      if (res.destroyed) return;
      res.write(audio.subarray(Math.floor((i * audio.length) / parts), Math.floor(((i + 1) * audio.length) / parts)));
      if (++i < parts) setTimeout(tick, ms / parts);
      else res.end();
    };
    tick();
  });
  server.route('/feed.xml', serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title><link>https://example.com</link><description>d</description>
<item><guid>slow</guid><title>Slow download</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><enclosure url="${server.url('/slow.ogg')}" type="audio/ogg" length="${audio.length}"/></item>
</channel></rss>`, { contentType: 'application/rss+xml' }));
  return { feedUrl: server.url('/feed.xml'), close: () => server.close() };
}

let stack: Stack | null = null;
let privateRedis: (PrivateService & { url: string }) | null = null;
let privatePg: (PrivateService & { adminUrl: string }) | null = null;
afterEach(async () => {
  await stack?.stop();
  stack = null;
  await privateRedis?.remove();
  privateRedis = null;
  await privatePg?.remove();
  privatePg = null;
});

const alive = (s: Stack, name: string) => {
  const c = s.roles.get(name)!.child;
  return c.exitCode === null && c.signalCode === null;
};

describe.skipIf(!REDIS_SERVER || !PG_BIN || !API_BUILT)('SIGTERM while Redis or Postgres is down (point 12)', () => {
  const ROLES = ['api', 'scheduler', 'worker-io', 'worker-gpu', 'worker-ml'] as const;
  const GRACE_MS = 2000;
  /** SHUTDOWN_GRACE_MS plus the margin a role may take to close its connections. */
  const BOUND_MS = GRACE_MS + 5000;

  for (const down of ['redis', 'postgres'] as const) {
    it(`${down} stopped with a download running: each of the five roles exits on SIGTERM within SHUTDOWN_GRACE_MS + 5 s`, async () => {
      const t = Date.now();
      const feed = await startSlowFeed(15_000);
      try {
        [privateRedis, privatePg] = await Promise.all([startPrivateRedis(), startPrivatePostgres()]);
        stack = await startStack({ name: `lf${down}`, redisUrl: privateRedis.url, pgAdminUrl: privatePg.adminUrl, env: { SHUTDOWN_GRACE_MS: String(GRACE_MS), ALLOW_PRIVATE_NETWORK: 'true' } });
        const s = stack;
        await Promise.all(ROLES.map((r) => s.start(r)));
        console.log(`[lifecycle-faults] ${down}: 5 roles up after ${Date.now() - t} ms`);
        await new FeedRepository(s.db).addAndSubscribe(feed.feedUrl, { pollIntervalS: 3600 });
        await waitFor('download running', async () => ((await s.db.query(`SELECT 1 FROM stage_runs WHERE stage = 'ingest' AND status = 'running'`)) as unknown[]).length > 0, 30_000, 50);
        await (down === 'redis' ? privateRedis.stop() : privatePg.stop());
        await sleep(1500); // the roles notice: reconnect loops, failed health checks
        for (const r of ROLES) expect(alive(s, r), `${r} died when ${down} went away:\n${s.logs(r).slice(-2000)}`).toBe(true);

        const t0 = Date.now();
        const exits = await Promise.all(
          ROLES.map(async (r) => {
            const exit = await Promise.race([s.kill(r, 'SIGTERM'), sleep(BOUND_MS + 10_000).then(() => null)]);
            return { role: r, ms: Date.now() - t0, exit, tail: exit ? '' : s.logs(r).slice(-1500) };
          }),
        );
        console.log(`[lifecycle-faults] ${down} down, SIGTERM → exit: ${exits.map((e) => `${e.role} ${e.exit ? `${e.ms} ms (code ${e.exit.code})` : 'still alive'}`).join(', ')}`);
        for (const e of exits) {
          expect(e.exit, `${e.role} still alive ${BOUND_MS + 10_000} ms after SIGTERM with ${down} down:\n${e.tail}`).not.toBeNull();
          expect(e.ms, `${e.role} took ${e.ms} ms to exit`).toBeLessThanOrEqual(BOUND_MS);
          expect(e.exit, s.logs(e.role).slice(-1500)).toEqual({ code: 0, signal: null });
          expect(s.logs(e.role)).toContain('"msg":"stopped"');
        }
        // the download outlived the grace period: it was aborted, not waited for
        expect(s.logs('worker-io')).toContain('grace period over: aborting running jobs');
      } finally {
        await feed.close();
      }
    }, 150_000);
  }
});
