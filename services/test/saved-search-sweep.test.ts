import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { startRole, type RunningRole } from '../src/roles/roles';
import { apiConfig, freshDatabase } from './api-support';
import { webhookReceiver } from './support/saved-search-platform';
import { clearRedisPrefix } from './support/stack';

/**
 * A saved-search match held back by the search's interval is sent once the interval has passed,
 * with no new episode: the scheduler role (in this process) sweeps while it holds the leader lock.
 */
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let config: Config;
let scheduler: RunningRole | undefined;
const hook = webhookReceiver();

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_saved_search_sweep');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  const url = await hook.listen();
  config = {
    ...apiConfig(db.url, { SCHEDULER_TICK_MS: '200', SCHEDULER_LEASE_MS: '2000', NOTIFY_WEBHOOK_URL: url, NOTIFY_REPEAT_WINDOW_S: '0', SMTP_HOST: '', NOTIFY_NTFY_URL: '', PUBLIC_URL: 'https://podbrain.example', AGENT_MODE: 'off' }),
    healthPort: 0,
  };
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ('feed-home', 'https://example.com/home.xml', 'Home Hour', 3600, now() + interval '1 day')`);
  await pg.query(`INSERT INTO episodes (episode_key, feed_id, title, transcripts, source, state) VALUES ('ep-1', 'feed-home', 'Kitchen pests', '[]', '{}', 'done'), ('ep-2', 'feed-home', 'More pests', '[]', '{}', 'done')`);
}, 60_000);

afterAll(async () => {
  await scheduler?.stop().catch(() => undefined);
  await hook.close();
  await pg?.end();
  if (config) await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await db?.drop();
});

describe('saved searches: the scheduler sends what an interval held back', () => {
  it('two hits found within the interval go out together once it has passed', async () => {
    // Notified a moment ago; two more matches came in since (what matching leaves when the interval holds them back).
    const { rows } = await pg.query(`INSERT INTO saved_searches (tenant_id, name, query, min_interval_s, last_notified_at) VALUES ('default', 'Flies', 'fruit flies', 2, now()) RETURNING id`);
    const id = rows[0].id as string;
    await pg.query(
      `INSERT INTO saved_search_hits (saved_search_id, episode_key, score, text, start_ms) VALUES ($1, 'ep-1', 0.9, 'a trap for fruit flies', 61000), ($1, 'ep-2', 1, 'fruit flies love bananas', 5000)`,
      [id],
    );
    const started = Date.now();
    scheduler = await startRole('scheduler', config);
    const call = await hook.next((c) => c.body.kind === 'saved_search_hit', 0, 15_000);
    // Not before the interval: last_notified_at + 2 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(call.body).toMatchObject({ key: id, title: '"Flies": 2 new matches', link: 'https://podbrain.example/episodes/ep-2?t=5' });
    // The best quote first, then the other.
    expect(call.body.body.indexOf('fruit flies love bananas')).toBeLessThan(call.body.body.indexOf('a trap for fruit flies'));
    expect(call.body.body).toContain('https://podbrain.example/episodes/ep-1?t=61');
    // Marked told once the channel answered (just after the webhook has it).
    const told = async () => (await pg.query(`SELECT count(*)::int AS n FROM saved_search_hits WHERE saved_search_id = $1 AND notified_at IS NOT NULL`, [id])).rows[0].n as number;
    for (let i = 0; i < 50 && (await told()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await told()).toBe(2);
    // Nothing pending: no second notification on the next ticks.
    await new Promise((r) => setTimeout(r, 1000));
    expect(hook.calls.filter((c) => c.body.key === id)).toHaveLength(1);
  }, 30_000);
});
