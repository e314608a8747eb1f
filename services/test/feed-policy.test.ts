/* eslint-disable @typescript-eslint/no-explicit-any -- API replies are JSON of many shapes */
/**
 * Per-feed policy (issue 15) against real Postgres, Redis and BullMQ, through the tenant API:
 * a real feed with 138 items (fixtures/feeds/real/sentimental-garbage.xml) served over HTTP,
 * polled by the real poll job. Backfill newest N (the default), since DATE, all; title and
 * duration filters (a hostile regex cannot hang a poll; unusable ones are refused with a 400);
 * later polls queue new episodes as `new`; process one skipped (interactive), process all
 * skipped (backfill); pause/resume through PATCH /api/feeds/:id.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Job } from 'bullmq';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { compileTitleFilter } from '../src/feeds/policy';
import { pollFeedJob } from '../src/jobs/poll.jobs';
import { StageJobs } from '../src/jobs/stage.jobs';
import { PRIORITY } from '../src/queue/priority';
import { pollJobId } from '../src/queue/queues';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { registerFeedCommands } from '../src/cli/commands/feed';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { sqlRows } from './support/db';
import { fakeStages } from './support/fake-stages';
import { fixture } from './support/fixtures';
import { serveBody, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { clearRedisPrefix, tempDir } from './support/stack';

const KEY = 'feed-policy-key';
const XML = readFileSync(fixture('feeds', 'real', 'sentimental-garbage.xml'), 'utf8');
/** Each item's publication time, from the XML itself (not through the parser under test). */
const ITEM_DATES = [...XML.matchAll(/<item[\s>][\s\S]*?<\/item>/g)].map((m) => Date.parse(/<pubDate>([^<]+)<\/pubDate>/.exec(m[0])![1]!));
const ITEMS = ITEM_DATES.length;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;
let ctx: RoleContext;
let pipeline: StageJobs;
let srv: FixtureServer;
const fake = fakeStages();

const tenant = (method: string, p: string, json?: unknown) => call(api.base, method, `/api${p}`, { key: KEY, json });
const poll = (feedId: string) => pollFeedJob(ctx, pipeline, feedId, new AbortController().signal);
const rows = async (feedId: string): Promise<{ episode_key: string; title: string; state: string; state_reason: string | null; priority_class: string | null; duration_s: number | null; published_at: Date | null; job_id: string | null }[]> =>
  sqlRows(ctx.database, `SELECT episode_key, title, state::text AS state, state_reason, priority_class, duration_s, published_at, job_id FROM episodes WHERE feed_id = $1 ORDER BY published_at DESC NULLS LAST`, [feedId]);
/** The feed's stage jobs waiting on the ingest queue. */
async function ingestJobs(feedId: string): Promise<Job[]> {
  const jobs = await ctx.queues.get('ingest').getJobs(['waiting', 'prioritized'], 0, -1);
  return jobs.filter((j) => j?.name === 'stage' && j.data.feedId === feedId);
}

/** Adds the fixture under its own path (its own feed) with the given policy fields; answers the feed. */
async function addFixtureFeed(name: string, policy: Record<string, unknown> = {}, body = XML): Promise<any> {
  srv.route(`/${name}.xml`, serveBody(body, { contentType: 'application/rss+xml' }));
  const r = await tenant('POST', '/feeds', { url: srv.url(`/${name}.xml`), ...policy });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body;
}

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_feed_policy');
  srv = await startFixtureServer();
  // every item a poll queues is stored at once (the per-poll cap is tested with `all` on its own)
  config = apiConfig(db.url, { AUTH_API_KEY: KEY, FEED_MAX_NEW_EPISODES_PER_POLL: '1000', RECONCILE_GRACE_MS: '600000' });
  api = await startApi(config);
  ctx = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, stages: fake.stages, poolSize: 4 });
  pipeline = new StageJobs(ctx);
}, 60_000);

afterAll(async () => {
  await api?.close();
  await ctx?.close();
  await srv?.close();
  if (config) await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await db?.drop();
});

describe('backfill on the first poll', () => {
  it('default (FEED_BACKFILL_DEFAULT newest:3): the 3 newest are queued at backfill priority, the rest stored as skipped and listed', async () => {
    expect(ITEMS).toBe(138);
    const feed = await addFixtureFeed('default');
    expect(feed.policy).toEqual({ backfill: { newest: 3 }, include: [], exclude: [], min_duration_s: null, max_duration_s: null, audio_retention: null, audio_download: null });
    const outcome = await poll(feed.id);
    expect(outcome).toMatchObject({ created: ITEMS, skipped: ITEMS - 3, deferred: 0 });

    const eps = await rows(feed.id);
    const newest3 = [...ITEM_DATES].sort((a, b) => b - a).slice(0, 3);
    const queued = eps.filter((e) => e.state === 'pending');
    expect(queued.map((e) => new Date(e.published_at!).getTime())).toEqual(newest3);
    expect(queued.every((e) => e.priority_class === 'backfill' && e.job_id)).toBe(true);
    const skipped = eps.filter((e) => e.state === 'skipped');
    expect(skipped).toHaveLength(ITEMS - 3);
    expect(skipped.every((e) => e.state_reason?.startsWith('backfill policy') && !e.job_id)).toBe(true);

    const jobs = await ingestJobs(feed.id);
    expect(jobs.map((j) => j.data.episodeKey).sort()).toEqual(queued.map((e) => e.episode_key).sort());
    expect(jobs.every((j) => j.priority === PRIORITY.backfill && j.data.priorityClass === 'backfill')).toBe(true);

    // listed with title and date; the feed counts them
    const listed = await tenant('GET', `/episodes?state=skipped&feed_id=${feed.id}&limit=200`);
    expect(listed.body.items).toHaveLength(ITEMS - 3);
    expect(listed.body.items[0]).toMatchObject({ state: 'skipped', title: skipped[0]!.title, published_at: new Date(skipped[0]!.published_at!).toISOString() });
    const feeds = (await tenant('GET', '/feeds')).body.items as any[];
    expect(feeds.find((f) => f.id === feed.id)).toMatchObject({ episode_count: ITEMS, skipped_count: ITEMS - 3 });

    // opening a skipped episode queues nothing
    expect((await tenant('GET', `/episodes/${skipped[0]!.episode_key}`)).body.state).toBe('skipped');
    expect(await ingestJobs(feed.id)).toHaveLength(3);
  });

  it('since DATE: the episodes published on or after the date are queued, the older ones skipped', async () => {
    const feed = await addFixtureFeed('since', { backfill: { since: '2023-01-01' } });
    expect(feed.policy.backfill).toEqual({ since: '2023-01-01' });
    await poll(feed.id);
    const cut = Date.parse('2023-01-01T00:00:00Z');
    const expected = ITEM_DATES.filter((t) => t >= cut).length;
    expect(expected).toBeGreaterThan(3);
    expect(expected).toBeLessThan(ITEMS);
    const eps = await rows(feed.id);
    const queued = eps.filter((e) => e.state === 'pending');
    expect(queued).toHaveLength(expected);
    expect(queued.every((e) => new Date(e.published_at!).getTime() >= cut)).toBe(true);
    expect(eps.filter((e) => e.state === 'skipped').every((e) => new Date(e.published_at!).getTime() < cut)).toBe(true);
    expect(await ingestJobs(feed.id)).toHaveLength(expected);
  });

  it('all: every episode is queued at backfill priority; "newest:N" strings work too', async () => {
    const feed = await addFixtureFeed('all', { backfill: 'all' });
    await poll(feed.id);
    const eps = await rows(feed.id);
    expect(eps.filter((e) => e.state === 'pending')).toHaveLength(ITEMS);
    expect((await ingestJobs(feed.id)).every((j) => j.priority === PRIORITY.backfill)).toBe(true);
    const five = await addFixtureFeed('newest-5', { backfill: 'newest:5' });
    expect(five.policy.backfill).toEqual({ newest: 5 });
    await poll(five.id);
    expect((await rows(five.id)).filter((e) => e.state === 'pending')).toHaveLength(5);
  });
});

describe('filters', () => {
  it('keyword include, /regex/ exclude and minimum duration decide each episode; the backfill counts only episodes that pass', async () => {
    const feed = await addFixtureFeed('filters', { backfill: 'all', include: ['WITH'], exclude: ['/pt\\.?\\s*(ii|2)\\b/'], min_duration_s: 3600 });
    await poll(feed.id);
    const eps = await rows(feed.id);
    expect(eps).toHaveLength(ITEMS);
    // the same rules, written out independently of feeds/policy.ts
    const passes = (e: (typeof eps)[number]) => e.title.toLowerCase().includes('with') && !/pt\.?\s*(ii|2)\b/i.test(e.title) && (e.duration_s === null || e.duration_s >= 3600);
    const want = eps.filter(passes).map((e) => e.episode_key).sort();
    expect(want.length).toBeGreaterThan(5);
    expect(want.length).toBeLessThan(ITEMS - 5);
    expect(eps.filter((e) => e.state === 'pending').map((e) => e.episode_key).sort()).toEqual(want);
    const reasons = eps.filter((e) => e.state === 'skipped').map((e) => e.state_reason!);
    expect(reasons.every((r) => r.startsWith('filtered: '))).toBe(true);
    expect(reasons.some((r) => r.includes('shorter than 3600 s'))).toBe(true);
    expect(reasons.some((r) => r.includes('matches none of WITH'))).toBe(true);

    // newest N counts only episodes that pass the filters
    const two = await addFixtureFeed('filters-newest', { backfill: { newest: 2 }, include: ['with'] });
    await poll(two.id);
    const queued = (await rows(two.id)).filter((e) => e.state === 'pending');
    expect(queued).toHaveLength(2);
    expect(queued.every((e) => e.title.toLowerCase().includes('with'))).toBe(true);
  });

  it('a hostile regex runs in linear time; patterns that cannot, and other bad input, are refused with a 400 before anything is stored', async () => {
    // (a+)+$ backtracks exponentially on the usual engine; here it runs on V8's linear engine
    const evil = compileTitleFilter('/(a+)+$/');
    const t0 = performance.now();
    expect(evil(`${'a'.repeat(900)}!`)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(200);
    const t1 = performance.now();
    const feed = await addFixtureFeed('evil', { backfill: 'all', exclude: ['/(\\w+\\s?)*$/', '/(a|a)*b/'] }, XML.replace(/<title>Barbie with Jen Cownie <\/title>/, `<title>${'a'.repeat(900)}!</title>`));
    await poll(feed.id);
    expect(performance.now() - t1).toBeLessThan(10_000);

    const refused = async (body: Record<string, unknown>, says: string) => {
      const t = performance.now();
      const r = await tenant('POST', '/feeds', { url: srv.url('/never.xml'), ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.message).toContain(says);
      expect(performance.now() - t).toBeLessThan(1000);
    };
    await refused({ include: ['/(?=a)b/'] }, 'linear time');
    await refused({ include: ['/(a)\\1/'] }, 'linear time');
    await refused({ include: ['/[unclosed/'] }, 'include.0');
    await refused({ exclude: [`/${'a'.repeat(250)}/`] }, 'at most 200');
    await refused({ exclude: Array.from({ length: 21 }, (_, i) => `w${i}`) }, 'at most 20');
    await refused({ min_duration_s: 600, max_duration_s: 60 }, 'above max_duration_s');
    await refused({ backfill: { newest: -1 } }, 'backfill');
    await refused({ backfill: { since: '2023-02-30' } }, 'YYYY-MM-DD');
    await refused({ backfill: 'everything' }, 'newest:N');
    expect(await sqlRows(ctx.database, `SELECT id FROM feeds WHERE url LIKE '%never.xml'`)).toEqual([]);
  });
});

describe('later polls, process, pause', () => {
  it('new episodes of a followed feed are queued at new priority when they pass the filters; older finds follow the backfill', async () => {
    let body = XML;
    srv.route('/growing.xml', (_req, res) => void res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(body));
    const added = await tenant('POST', '/feeds', { url: srv.url('/growing.xml'), exclude: ['bonus'] });
    const feed = added.body;
    await poll(feed.id);
    expect((await rows(feed.id)).filter((e) => e.state === 'pending')).toHaveLength(3);

    const item = (guid: string, title: string, date: string) => `<item><guid>${guid}</guid><title>${title}</title><pubDate>${date}</pubDate><enclosure url="http://127.0.0.1:9/${guid}.mp3" type="audio/mpeg" length="1"/></item>`;
    body = XML.replace(
      /<item[\s>]/,
      (m) => `${item('g-new-1', 'Fresh one', 'Sat, 12 Aug 2023 08:00:00 GMT')}${item('g-new-2', 'Bonus: outtakes', 'Sun, 13 Aug 2023 08:00:00 GMT')}${item('g-old', 'Found in the archive', 'Mon, 01 Jan 2018 08:00:00 GMT')}${m}`,
    );
    const second = await poll(feed.id);
    expect(second).toMatchObject({ created: 3, skipped: 2 });
    const byTitle = new Map((await rows(feed.id)).map((e) => [e.title, e]));
    expect(byTitle.get('Fresh one')).toMatchObject({ state: 'pending', priority_class: 'new' });
    expect(byTitle.get('Bonus: outtakes')).toMatchObject({ state: 'skipped', state_reason: 'filtered: the title matches bonus' });
    expect(byTitle.get('Found in the archive')).toMatchObject({ state: 'skipped' });
    const job = (await ingestJobs(feed.id)).find((j) => j.data.episodeKey === byTitle.get('Fresh one')!.episode_key)!;
    expect(job.priority).toBe(PRIORITY.new);
  });

  it('process one skipped episode: queued interactive, ahead of the backlog; a done one is 409, an unknown one 404', async () => {
    const feed = await addFixtureFeed('process-one');
    await poll(feed.id);
    const skipped = (await rows(feed.id)).filter((e) => e.state === 'skipped');
    const target = skipped[10]!;
    const r = await tenant('POST', `/episodes/${target.episode_key}/process`);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ episode_key: target.episode_key, queued: true, state: 'pending', priority_class: 'interactive' });
    const job = (await ingestJobs(feed.id)).find((j) => j.data.episodeKey === target.episode_key)!;
    expect(job.priority).toBe(PRIORITY.interactive);
    expect(job.data.priorityClass).toBe('interactive');
    // asked again while it waits: nothing new, still interactive
    expect((await tenant('POST', `/episodes/${target.episode_key}/process`)).body).toMatchObject({ queued: false, priority_class: 'interactive' });
    expect(await ingestJobs(feed.id)).toHaveLength(4);

    // one queued at backfill that the user asks for moves up
    const backfilled = (await rows(feed.id)).find((e) => e.state === 'pending' && e.priority_class === 'backfill')!;
    expect((await tenant('POST', `/episodes/${backfilled.episode_key}/process`)).body).toMatchObject({ queued: false, priority_class: 'interactive' });
    const moved = (await ingestJobs(feed.id)).find((j) => j.data.episodeKey === backfilled.episode_key)!;
    expect(moved.priority).toBe(PRIORITY.interactive);

    await sqlRows(ctx.database, `UPDATE episodes SET state = 'done' WHERE episode_key = $1`, [skipped[11]!.episode_key]);
    expect((await tenant('POST', `/episodes/${skipped[11]!.episode_key}/process`)).status).toBe(409);
    expect((await tenant('POST', '/episodes/nope/process')).status).toBe(404);
    expect((await call(api.base, 'POST', `/api/episodes/${skipped[12]!.episode_key}/process`)).status).toBe(401);
  });

  it('process-skipped queues every skipped episode of the feed at backfill priority', async () => {
    const feed = await addFixtureFeed('process-all');
    await poll(feed.id);
    const r = await tenant('POST', `/feeds/${feed.id}/process-skipped`);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toEqual({ feed_id: feed.id, queued: ITEMS - 3, episodes: ITEMS - 3 });
    const eps = await rows(feed.id);
    expect(eps.every((e) => e.state === 'pending')).toBe(true);
    const jobs = await ingestJobs(feed.id);
    expect(jobs).toHaveLength(ITEMS);
    expect(jobs.every((j) => j.priority === PRIORITY.backfill)).toBe(true);
    expect((await tenant('POST', '/feeds/nope/process-skipped')).status).toBe(404);
  });

  it('PATCH /api/feeds/:id pauses (no polls, nothing stored), resumes and edits the policy', async () => {
    const feed = await addFixtureFeed('paused');
    const paused = await tenant('PATCH', `/feeds/${feed.id}`, { paused: true });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.paused).toBe(true);
    // the scheduler does not poll it, a poll job that runs anyway stores nothing
    const scheduler = new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
    await ctx.queues.get('ingest').remove(pollJobId(feed.id));
    await scheduler.lock.tick();
    try {
      await scheduler.tick();
      expect(await ctx.queues.get('ingest').getJob(pollJobId(feed.id))).toBeUndefined();
    } finally {
      await scheduler.stop?.();
    }
    expect(await poll(feed.id)).toMatchObject({ paused: true, created: 0 });
    expect(await rows(feed.id)).toEqual([]);

    const edited = await tenant('PATCH', `/feeds/${feed.id}`, { paused: false, include: ['with'], max_duration_s: 5400, backfill: 'since:2023-06-01' });
    expect(edited.body).toMatchObject({ paused: false, policy: { backfill: { since: '2023-06-01' }, include: ['with'], exclude: [], min_duration_s: null, max_duration_s: 5400 } });
    expect(((await tenant('GET', '/feeds')).body.items as any[]).find((f) => f.id === feed.id).policy.include).toEqual(['with']);
    await poll(feed.id);
    const queued = (await rows(feed.id)).filter((e) => e.state === 'pending');
    expect(queued.length).toBeGreaterThan(0);
    expect(queued.every((e) => e.title.toLowerCase().includes('with') && new Date(e.published_at!).getTime() >= Date.parse('2023-06-01') && (e.duration_s ?? 0) <= 5400)).toBe(true);

    expect((await tenant('PATCH', `/feeds/${feed.id}`, { include: ['/(?!x)/'] })).status).toBe(400);
    expect((await tenant('PATCH', `/feeds/${feed.id}`, {})).status).toBe(400);
    expect((await tenant('PATCH', `/feeds/${feed.id}`, { paused: 'yes' })).status).toBe(400);
    expect((await tenant('PATCH', '/feeds/nope', { paused: true })).status).toBe(404);
    expect((await call(api.base, 'PATCH', `/api/feeds/${feed.id}`, { json: { paused: true } })).status).toBe(401);
  });
});

describe('the CLI: podbrain feeds add (flags, YAML feed list)', () => {
  /** The CLI's commands in this process (their stdout captured); the api here is the test's. */
  async function podbrain(...args: string[]): Promise<{ out: string; exitCode: number }> {
    const program = new Command('podbrain').option('-c, --config <file>').exitOverride();
    registerFeedCommands(program);
    const writes: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stdout.write;
    const before = process.exitCode;
    try {
      await program.parseAsync(['node', 'podbrain', ...args, '--api', api.base, '--key', KEY]);
      return { out: writes.join(''), exitCode: Number(process.exitCode ?? 0) };
    } finally {
      process.stdout.write = write;
      process.exitCode = before;
    }
  }
  const policyOf = async (url: string) => ((await tenant('GET', '/feeds')).body.items as any[]).find((f) => f.url === url)?.policy;

  it('flags become the feed policy; a bad filter is refused before any request', async () => {
    srv.route('/cli.xml', serveBody(XML, { contentType: 'application/rss+xml' }));
    const r = await podbrain('feeds', 'add', srv.url('/cli.xml'), '--backfill', 'since:2023-01-01', '--include', 'with', '--include', '/girls?/', '--exclude', 'bonus', '--min-duration', '600', '--json');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.out).feeds[0]).toMatchObject({ status: 202, feed: { title: 'Sentimental Garbage' } });
    expect(await policyOf(srv.url('/cli.xml'))).toEqual({ backfill: { since: '2023-01-01' }, include: ['with', '/girls?/'], exclude: ['bonus'], min_duration_s: 600, max_duration_s: null, audio_retention: null, audio_download: null });
    await expect(podbrain('feeds', 'add', srv.url('/cli-bad.xml'), '--include', '/(?=x)y/')).rejects.toThrow(/--include: .*linear time/);
    await expect(podbrain('feeds', 'add', srv.url('/cli-bad.xml'), '--backfill', 'newest')).rejects.toThrow(/--backfill: /);
    expect(await policyOf(srv.url('/cli-bad.xml'))).toBeUndefined();
  });

  it('YAML feed list entries carry their own policy', async () => {
    const dir = tempDir('feed-policy-yaml');
    try {
      srv.route('/yaml-a.xml', serveBody(XML, { contentType: 'application/rss+xml' }));
      srv.route('/yaml-b.xml', serveBody(XML, { contentType: 'application/rss+xml' }));
      const list = path.join(dir.dir, 'feeds.yml');
      writeFileSync(list, `feeds:\n  - url: ${srv.url('/yaml-a.xml')}\n    backfill: all\n    exclude: [bonus, "/^trailer/"]\n    max_duration_s: 7200\n  - url: ${srv.url('/yaml-b.xml')}\n    backfill: { newest: 10 }\n`);
      const r = await podbrain('feeds', 'add', '--feeds', list);
      expect(r.exitCode).toBe(0);
      expect(r.out.split('\n').filter((l) => l.startsWith('added '))).toHaveLength(2);
      expect(await policyOf(srv.url('/yaml-a.xml'))).toEqual({ backfill: 'all', include: [], exclude: ['bonus', '/^trailer/'], min_duration_s: null, max_duration_s: 7200, audio_retention: null, audio_download: null });
      expect((await policyOf(srv.url('/yaml-b.xml'))).backfill).toEqual({ newest: 10 });
      writeFileSync(list, `feeds:\n  - url: ${srv.url('/yaml-c.xml')}\n    include: ["/(a)\\\\1/"]\n`);
      await expect(podbrain('feeds', 'add', '--feeds', list)).rejects.toThrow(/entry 1 .*include\.0: .*linear time/);
    } finally {
      dir.remove();
    }
  });
});
