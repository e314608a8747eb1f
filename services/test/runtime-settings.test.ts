/**
 * Runtime settings (issue 14, control/runtime-settings-watcher.ts): a setting changed through the
 * admin API reaches running role processes without a restart — a WorkerHost's concurrency and
 * the scheduler's poll interval — and a restarted role starts with the stored value.
 */
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { createLogger, silentLogger } from '../src/core/logger';
import { initialSettings } from '../src/control/runtime-settings';
import { RuntimeSettingsWatcher } from '../src/control/runtime-settings-watcher';
import { Database } from '../src/db/database';
import { pollJobId } from '../src/queue/queues';
import { startRole, type RunningRole } from '../src/roles/roles';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { addFeed, sqlRows } from './support/db';
import { clearRedisPrefix, waitFor } from './support/stack';

const KEY = 'runtime-settings-admin-key';
let db: Awaited<ReturnType<typeof freshDatabase>>;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;
let database: Database;
const running: RunningRole[] = [];

/** A role's log lines, parsed. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ service: 'test', level: 'info', destination }) };
}

async function start(role: 'worker' | 'scheduler', log: ReturnType<typeof capture>['log']): Promise<RunningRole> {
  const r = await startRole(role, config, { log, queues: 'digest' });
  running.push(r);
  return r;
}

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_e2_runtime_settings');
  // the periodic refresh is an hour: only the settings-changed message can explain a change within seconds
  config = { ...apiConfig(db.url, { AUTH_API_KEY: KEY, SCHEDULER_TICK_MS: '200', SCHEDULER_LEASE_MS: '2000', RUNTIME_SETTINGS_REFRESH_S: '3600' }), healthPort: 0 };
  api = await startApi(config);
  database = new Database(config, silentLogger, { poolSize: 1, applicationName: 'test' });
}, 60_000);

afterAll(async () => {
  for (const r of running.splice(0)) await r.stop().catch(() => undefined);
  await api?.close();
  await database?.close();
  if (config) await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await db?.drop();
});

describe('runtime settings reach running roles', () => {
  it("a setting changed through the API reaches a running WorkerHost's concurrency and a running scheduler's poll interval; a restarted worker keeps it", async () => {
    const worker = capture();
    const scheduler = capture();
    const w = await start('worker', worker.log);
    await start('scheduler', scheduler.log);
    // nothing stored: the worker keeps its own concurrency
    expect(worker.lines.some((l) => l.msg === 'concurrency changed')).toBe(false);

    const put = await call(api.base, 'PUT', '/api/admin/settings/queue.digest.concurrency', { key: KEY, json: { value: 3 } });
    expect(put.status).toBe(200);
    await waitFor('worker took concurrency 3', async () => worker.lines.some((l) => l.msg === 'concurrency changed' && l.queue === 'digest' && l.concurrency === 3), 5000, 50);

    // a feed polled a minute ago whose next poll is an hour out: a 60 s interval makes it due now
    const { feed } = await addFeed(database, 'https://example.com/settings-feed.xml', { pollIntervalS: 3600 });
    await sqlRows(database, `UPDATE feeds SET last_polled_at = now() - interval '5 minutes', next_poll_at = now() + interval '1 hour' WHERE id = $1`, [feed.id]);
    const queue = new Queue('ingest', { connection: { url: config.redisUrl }, prefix: config.queue.prefix });
    try {
      await new Promise((r) => setTimeout(r, 600)); // a few ticks: not due yet
      expect(await queue.getJob(pollJobId(feed.id))).toBeUndefined();
      expect((await call(api.base, 'PUT', '/api/admin/settings/feeds.poll_interval_s', { key: KEY, json: { value: 60 } })).status).toBe(200);
      await waitFor('the feed was polled', async () => (await queue.getJob(pollJobId(feed.id))) ?? null, 5000, 50);
      const [row] = await sqlRows(database, `SELECT poll_interval_s FROM feeds WHERE id = $1`, [feed.id]);
      expect(row.poll_interval_s).toBe(60);
      expect(scheduler.lines.some((l) => l.msg === 'poll interval changed' && l.poll_interval_s === 60)).toBe(true);
    } finally {
      await queue.close();
    }

    // restart: the new process applies the stored value at start
    await w.stop();
    running.splice(running.indexOf(w), 1);
    const again = capture();
    await start('worker', again.log);
    expect(again.lines.some((l) => l.msg === 'concurrency changed' && l.queue === 'digest' && l.concurrency === 3)).toBe(true);

    // back to the default, live
    expect((await call(api.base, 'DELETE', '/api/admin/settings/queue.digest.concurrency', { key: KEY })).status).toBe(200);
    await waitFor('back to 1', async () => again.lines.some((l) => l.msg === 'concurrency changed' && l.queue === 'digest' && l.concurrency === 1), 5000, 50);
  }, 60_000);

  it('the watcher tells listeners only about keys that changed, and keeps the last values while Postgres cannot be read', async () => {
    let stored: Record<string, unknown> = {};
    let fail = false;
    const settings = {
      effective: async (c: Config) => {
        if (fail) throw new Error('postgres down');
        return { ...initialSettings(c), ...stored } as never;
      },
    };
    const watcher = new RuntimeSettingsWatcher({ config, settings, log: silentLogger });
    const heard: string[][] = [];
    watcher.onChange((_v, changed) => void heard.push([...changed]));
    await watcher.start();
    expect(heard).toEqual([]);
    stored = { 'feeds.poll_interval_s': 120 };
    await watcher.refresh();
    expect(heard).toEqual([['feeds.poll_interval_s']]);
    await watcher.refresh();
    expect(heard).toHaveLength(1);
    fail = true;
    await watcher.refresh();
    expect(watcher.values['feeds.poll_interval_s']).toBe(120);
    watcher.stop();
  });
});
