import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { migrateUp, openMigrationDataSource } from '../src/db/migrate';
import { identifyEpisodes } from '../src/feeds/load';
import { parseFeed } from '../src/feeds/parse';
import type { FeedEpisode } from '../src/feeds/types';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { StageJobs } from '../src/jobs/stage.jobs';
import { planPoll, pollFeedJob } from '../src/jobs/poll.jobs';
import { bigFeedXml } from './support/big-feed';
import { serveBody, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir } from './support/stack';
import { addFeed, sqlRows } from './support/db';

/**
 * Feed polls against hostile or merely careless publishers (issue 12 points 4 and 6): a NUL
 * in one item, a 50,000-item feed, a feed whose guids change on every poll. The real poll job
 * (pollFeedJob) on a real Postgres and BullMQ queue.
 */

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let tmp: ReturnType<typeof tempDir>;
let config: Config;
let ctx: RoleContext;
let pipeline: StageJobs;
let srv: FixtureServer;
let ingest: Queue;

beforeAll(async () => {
  db = await createTestDatabase();
  tmp = tempDir('feed-poll');
  // Feeds here process their whole back catalogue (backfill all), so the per-poll bound on what is queued shows; feed-policy.test.ts tests the policy.
  config = loadConfig({
    env: { DATABASE_URL: db.url, DATA_DIR: path.join(tmp.dir, 'data'), QUEUE_PREFIX: `pbtest_fph_${process.pid}`, ALLOW_PRIVATE_NETWORK: 'true', PODBRAIN_CONFIG: '', FEED_BACKFILL_DEFAULT: 'all' },
  });
  const ds = await openMigrationDataSource(config, { poolSize: 1 });
  await migrateUp(ds);
  await ds.destroy();
  ctx = await createRoleContext(config, { log: silentLogger, poolSize: 4 });
  pipeline = new StageJobs(ctx);
  srv = await startFixtureServer();
  ingest = new Queue('ingest', { connection: ctx.redis, prefix: config.queue.prefix });
}, 60_000);

afterAll(async () => {
  await ingest?.close();
  await ctx?.close();
  await srv?.close();
  await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
  await db?.drop();
  tmp?.remove();
});

const poll = async (feedUrl: string) => {
  const { feed } = await addFeed(ctx.database, feedUrl, { pollIntervalS: 3600 });
  return { id: feed.id, outcome: await pollFeedJob(ctx, pipeline, feed.id, new AbortController().signal) };
};
const episodesOf = async (feedId: string) =>
  (await sqlRows(ctx.database, `SELECT title, guid, duration_s FROM episodes WHERE feed_id = $1 ORDER BY published_at DESC NULLS LAST, title`, [feedId])) as { title: string; guid: string; duration_s: number | null }[];
const stageJobs = async (feedId: string) => (await ingest.getJobs(['waiting', 'delayed', 'prioritized', 'active'], 0, -1)).filter((j) => j.name === 'stage' && j.data.feedId === feedId).length;

describe('a NUL or another forbidden character in one feed item', () => {
  const feedXml = `<?xml version="1.0"?><rss version="2.0"><channel><title>Bad\u0000 Bytes &#1;Show</title>
    <item><guid>a</guid><title>Fine one</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><enclosure url="http://127.0.0.1:9/a.mp3" type="audio/mpeg"/></item>
    <item><guid>b</guid><title>Null\u0000 in the title</title><description>and \u0001 here, &#0; &#x1F; there</description><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate><enclosure url="http://127.0.0.1:9/b.mp3" type="audio/mpeg"/></item>
    <item><guid>c</guid><title>Absurd duration</title><itunes:duration xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">99999999999</itunes:duration><pubDate>Wed, 03 Jan 2024 10:00:00 GMT</pubDate><enclosure url="http://127.0.0.1:9/c.mp3" type="audio/mpeg"/></item>
    </channel></rss>`;

  it('parses with the characters removed and a warning on the feed', () => {
    const feed = parseFeed(feedXml);
    expect(feed.title).toBe('Bad Bytes Show');
    expect(feed.episodes.map((e) => e.title)).toEqual(['Fine one', 'Null in the title', 'Absurd duration']);
    expect(JSON.stringify(feed)).not.toMatch(/\\u000[01]|\\u001f/);
    expect(feed.episodes[2].durationS).toBeNull();
    expect(feed.warnings.join('\n')).toMatch(/removed 3 character\(s\) XML does not allow/);
  });

  it('every item is stored and the feed polls cleanly, every time', async () => {
    srv.route('/nul.xml', serveBody(feedXml, { contentType: 'application/rss+xml' }));
    const first = await poll(srv.url('/nul.xml'));
    expect(first.outcome.error).toBeUndefined();
    expect(first.outcome).toMatchObject({ created: 3, rejected: 0 });
    expect((await episodesOf(first.id)).map((e) => e.title)).toEqual(['Absurd duration', 'Null in the title', 'Fine one']);
    const again = await pollFeedJob(ctx, pipeline, first.id, new AbortController().signal);
    expect(again.error).toBeUndefined();
    const [row] = (await sqlRows(ctx.database, `SELECT title, last_error, error_count FROM feeds WHERE id = $1`, [first.id])) as { title: string; last_error: string | null; error_count: number }[];
    expect(row).toEqual({ title: 'Bad Bytes Show', last_error: null, error_count: 0 });
  });

  it('an item Postgres still refuses is left out alone; the rest of the feed is stored', async () => {
    const { feed } = await addFeed(ctx.database, 'http://127.0.0.1:9/direct.xml', { pollIntervalS: 3600 });
    const ep = (key: string, title: string): FeedEpisode => ({
      guid: key, title, description: null, link: null, image: null, published: null, durationS: null, enclosure: null, transcripts: [], chaptersUrl: null,
      persons: [], season: null, episode: null, episodeType: null, explicit: null, author: null, feedId: feed.id, feedUrl: feed.url, episodeKey: `direct-${key}`,
    });
    // past the parser's cleaning (another producer, a future field): the database is the last line
    const r = await ctx.episodes.upsertFromFeed([ep('1', 'one'), ep('2', 'two\u0000'), ep('3', 'three')]);
    expect(r.created.sort()).toEqual(['direct-1', 'direct-3']);
    expect(r.rejected).toEqual([{ episodeKey: 'direct-2', title: 'two\u0000', error: expect.stringMatching(/0x00|\\u0000|unsupported Unicode/) }]);
  });
});

describe('unbounded feeds', () => {
  it('a 50,000-item feed: one poll adds and enqueues the newest FEED_MAX_NEW_EPISODES_PER_POLL, the next poll the next ones', async () => {
    const max = config.feeds.maxNewEpisodesPerPoll;
    expect(max).toBe(50);
    srv.route('/endless.xml', serveBody(bigFeedXml({ count: 50_000, enclosureBase: 'http://127.0.0.1:9/audio' }), { contentType: 'application/rss+xml', etag: true }));
    const t0 = performance.now();
    const first = await poll(srv.url('/endless.xml'));
    const firstMs = performance.now() - t0;
    expect(first.outcome).toMatchObject({ episodes: 50_000, created: max, deferred: 50_000 - max });
    const rows = await episodesOf(first.id);
    expect(rows).toHaveLength(max);
    expect(rows[0].title).toBe('Episode 50000');
    expect(rows.at(-1)!.title).toBe(`Episode ${50_000 - max + 1}`);
    expect(await stageJobs(first.id)).toBe(max);
    // the backlog is read again (no 304 while items wait) and the next newest are taken
    const t1 = performance.now();
    const second = await pollFeedJob(ctx, pipeline, first.id, new AbortController().signal);
    const secondMs = performance.now() - t1;
    expect(second).toMatchObject({ notModified: false, created: max, deferred: 50_000 - 2 * max });
    expect((await episodesOf(first.id)).at(-1)!.title).toBe(`Episode ${50_000 - 2 * max + 1}`);
    expect(await stageJobs(first.id)).toBe(2 * max);
    console.log(`[feed-poll] 50,000-item feed: first poll ${firstMs.toFixed(0)} ms (${max} created), second ${secondMs.toFixed(0)} ms (${max} more)`);
  }, 120_000);

  it('a feed whose guids change on every poll does not grow: same enclosure and pubDate is the same episode', async () => {
    let salt = 'v1';
    srv.route('/rotating.xml', (req, res) => serveBody(bigFeedXml({ count: 20, enclosureBase: 'http://127.0.0.1:9/rot', guidSalt: salt }), { contentType: 'application/rss+xml' })(req, res));
    const first = await poll(srv.url('/rotating.xml'));
    expect(first.outcome).toMatchObject({ created: 20 });
    for (const next of ['v2', 'v3']) {
      salt = next;
      const again = await pollFeedJob(ctx, pipeline, first.id, new AbortController().signal);
      expect(again).toMatchObject({ episodes: 20, created: 0, republished: 20 });
    }
    const rows = await episodesOf(first.id);
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.guid.split('-')[0]))).toEqual(new Set(['v3'])); // metadata follows the feed
    expect(await stageJobs(first.id)).toBe(20);
  }, 60_000);

  it('within one document, a second item with the same enclosure and pubDate under another guid is dropped', () => {
    const xml = `<rss version="2.0"><channel><title>t</title>
      <item><guid>x1</guid><title>One</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><enclosure url="https://e.test/1.mp3" type="audio/mpeg"/></item>
      <item><guid>x2</guid><title>One again</title><pubDate>Mon, 01 Jan 2024 10:00:00 +0000</pubDate><enclosure url="https://e.test/1.mp3" type="audio/mpeg"/></item>
      <item><guid>x3</guid><title>Same file, other day</title><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate><enclosure url="https://e.test/1.mp3" type="audio/mpeg"/></item>
      </channel></rss>`;
    const { episodes, warnings } = identifyEpisodes(parseFeed(xml), 'f', 'https://e.test/feed.xml');
    expect(episodes.map((e) => e.title)).toEqual(['One', 'Same file, other day']);
    expect(warnings.join('\n')).toMatch(/"One again" has the enclosure and date of an earlier item under another guid/);
  });

  it('planPoll: newest first, undated after dated, known and re-published items never count against the bound', () => {
    const ep = (key: string, published: string | null, url = `https://e.test/${key}.mp3`): FeedEpisode => ({
      guid: key, title: key, description: null, link: null, image: null, published, durationS: null, enclosure: { url, type: 'audio/mpeg', length: null },
      transcripts: [], chaptersUrl: null, persons: [], season: null, episode: null, episodeType: null, explicit: null, author: null, feedId: 'f', feedUrl: 'u', episodeKey: key,
    });
    const parsed = [ep('undated', null), ep('old', '2020-01-01T00:00:00.000Z'), ep('known', '2024-01-01T00:00:00.000Z'), ep('new', '2024-02-01T00:00:00.000Z'), ep('renamed', '2023-01-01T00:00:00.000Z', 'https://e.test/orig.mp3')];
    const stored = [
      { episodeKey: 'known', enclosureUrl: 'https://e.test/known.mp3', published: '2024-01-01T00:00:00.000Z' },
      { episodeKey: 'orig', enclosureUrl: 'https://e.test/orig.mp3', published: '2023-01-01T00:00:00.000Z' },
    ];
    const plan = planPoll(parsed, stored, 2);
    expect(plan.create.map((e) => e.episodeKey)).toEqual(['new', 'old']);
    expect(plan.deferred).toBe(1);
    expect(plan.republished).toBe(1);
    expect(plan.known.map((e) => [e.episodeKey, e.guid])).toEqual([
      ['known', 'known'],
      ['orig', 'renamed'],
    ]);
  });
});
