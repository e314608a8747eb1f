/* eslint-disable @typescript-eslint/no-explicit-any -- SQL rows and API replies are JSON of many shapes */
/**
 * Per-feed audio retention and download (issue 15) against real Postgres, Redis and BullMQ, the
 * real stage chain and the tenant API: a feed's own `audio_retention` / `audio_download`
 * (PATCH /api/feeds/:id, POST /api/feeds, the CLI flags and YAML fields) overrides the
 * appliance's AUDIO_RETENTION / AUDIO_DOWNLOAD for that feed only; null goes back to the
 * appliance's. The retention job deletes per feed; ingest downloads (or streams) per feed and its
 * fingerprint follows the feed's effective choice; bad values are a 400 and change nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAudioRetention } from '../src/audio/retention-policy';
import { addFeedsThroughApi, policyFromFlags } from '../src/cli/commands/feeds-add';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { AudioRetention } from '../src/control/retention';
import { parseYamlFeedList } from '../src/feeds/opml';
import { parseFeed } from '../src/feeds/parse';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { currentRecipes, planStage } from '../src/pipeline/execute';
import { QUEUE_NAMES } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { createIngestStage } from '../src/stages/ingest.stage';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { addFeed, sqlRows } from './support/db';
import { startFakeOpenAiAsr, type FakeOpenAiAsr } from './support/fake-openai-asr';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

const KEY = 'feed-retention-key';
const AUDIO_EXT = /\.(mp3|m4a|ogg|opus|wav|flac|aac|webm)$/i;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let api: Awaited<ReturnType<typeof startApi>>;
let server: FixtureServer;
let asr: FakeOpenAiAsr;
let tmp: ReturnType<typeof tempDir>;
let apiCfg: Config;

const tenant = (method: string, p: string, json?: unknown) => call(api.base, method, `/api${p}`, { key: KEY, json });
const feedView = async (id: string) => ((await tenant('GET', '/feeds')).body.items as any[]).find((f) => f.id === id);

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_feed_retention');
  tmp = tempDir('feed-retention');
  server = await startFixtureServer();
  asr = await startFakeOpenAiAsr();
  // the api runs on the appliance's defaults: AUDIO_RETENTION=keep-all, AUDIO_DOWNLOAD=when-needed
  apiCfg = apiConfig(db.url, { AUTH_API_KEY: KEY });
  api = await startApi(apiCfg);
}, 60_000);

afterAll(async () => {
  await api?.close();
  if (apiCfg) await clearRedisPrefix(apiCfg.redisUrl, apiCfg.queue.prefix).catch(() => undefined);
  await asr?.close();
  await server?.close();
  await db?.drop();
  tmp?.remove();
});

/** A worker role with its own DATA_DIR and queues, running the real stage chain under `env`. */
async function startBox(name: string, env: Record<string, string>) {
  const config = loadConfig({
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: path.join(tmp.dir, name),
      MODELS_DIR: path.join(tmp.dir, 'models'),
      QUEUE_PREFIX: `pbtest_fr_${name}_${process.pid}`,
      ALLOW_PRIVATE_NETWORK: 'true',
      OPENAI_BASE_URL: asr.baseUrl,
      OPENAI_ASR_RETRY_BASE_MS: '5',
      EMBEDDINGS_PROVIDER: 'hash',
      EMBEDDINGS_DIM: '64',
      QUEUE_BACKOFF_MS: '50',
      QUEUE_LOCK_MS: '5000',
      RECONCILE_GRACE_MS: '600000',
      FEED_BACKFILL_DEFAULT: 'all',
      LOG_LEVEL: 'silent',
      ...env,
    },
  });
  const ctx: RoleContext = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, poolSize: 4 });
  const host = new WorkerHost(ctx, jobHandlers(ctx, new StageJobs(ctx)), { queues: [...QUEUE_NAMES], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 5000, shutdownGraceMs: 3000 });
  host.start();
  return {
    config,
    ctx,
    /** Polls the (already added) feed and waits until its `count` episodes are done. */
    async process(feedId: string, count: number): Promise<{ episode_key: string; title: string }[]> {
      await ctx.queues.addPollJob(feedId);
      return waitFor(
        `${name}: ${feedId} done`,
        async () => {
          const rows = await sqlRows(ctx.database, `SELECT episode_key, title, state::text AS state FROM episodes WHERE feed_id = $1`, [feedId]);
          if (rows.some((r: any) => r.state === 'failed')) throw new Error(`an episode of ${feedId} failed`);
          return rows.length === count && rows.every((r: any) => r.state === 'done') ? rows : null;
        },
        90_000,
        100,
      );
    },
    async close() {
      await host.close();
      await ctx.close();
      await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
    },
  };
}

const stageDir = (dataDir: string, feedId: string, key: string, stage: string) => {
  const dir = path.join(dataDir, 'corpus', feedId, key);
  return path.join(dir, fs.readdirSync(dir).find((d) => d.startsWith(`${stage}@`))!);
};
const ingestJson = (dataDir: string, feedId: string, key: string) => JSON.parse(fs.readFileSync(path.join(stageDir(dataDir, feedId, key, 'ingest'), 'ingest.json'), 'utf8'));
function audioFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => AUDIO_EXT.test(f));
}

describe('per-feed audio retention', () => {
  /** An RSS feed of `count` daily episodes (from 2024-01-<firstDay>), each with its own ogg enclosure. */
  function serveFeed(name: string, count: number, firstDay: number): string {
    const items: string[] = [];
    for (let i = 0; i < count; i++) {
      const day = firstDay + i;
      const route = `/ret/${name}/${i}.ogg`;
      server.route(route, serveFile(fixture('audio', `fleurs-en-00${day % 7}.ogg`), { contentType: 'audio/ogg', ranges: true }));
      items.push(`<item><guid>${name}-${i}</guid><title>${name} ${day}</title><pubDate>${new Date(Date.UTC(2024, 0, day, 10)).toUTCString()}</pubDate><enclosure url="${server.url(route)}" type="audio/ogg" length="1000"/></item>`);
    }
    server.route(`/ret/${name}.xml`, serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://example.com/</link><description>d</description>${items.join('')}</channel></rss>`, { contentType: 'application/rss+xml' }));
    return server.url(`/ret/${name}.xml`);
  }

  it("a feed with last:1 keeps only its newest done episode's audio; a feed on the appliance's keep-all keeps all; null goes back to the appliance's", async () => {
    // ASR through the fake OpenAI server: every episode's audio is downloaded at ingest
    const box = await startBox('retention', { ASR_ENGINES: 'openai' });
    try {
      const own = (await addFeed(box.ctx.database, serveFeed('own', 3, 1), { pollIntervalS: 3600 })).feed;
      const global = (await addFeed(box.ctx.database, serveFeed('global', 2, 4), { pollIntervalS: 3600 })).feed;
      const patched = await tenant('PATCH', `/feeds/${own.id}`, { audio_retention: 'last:1' });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body.policy).toMatchObject({ audio_retention: 'last:1', audio_download: null });
      expect(patched.body.audio).toEqual({ retention: 'last:1', retention_overridden: true, download: 'when-needed', download_overridden: false });
      expect((await feedView(global.id)).audio).toEqual({ retention: 'keep-all', retention_overridden: false, download: 'when-needed', download_overridden: false });

      const eps = [...(await box.process(own.id, 3)).map((r) => ({ ...r, feedId: own.id })), ...(await box.process(global.id, 2)).map((r) => ({ ...r, feedId: global.id }))];
      const audioOf = (e: (typeof eps)[number]) => path.join(stageDir(box.config.dataDir, e.feedId, e.episode_key, 'ingest'), ingestJson(box.config.dataDir, e.feedId, e.episode_key).audio_file);
      const withAudio = () => eps.filter((e) => fs.existsSync(audioOf(e))).map((e) => e.title).sort();
      expect(withAudio()).toEqual(['global 4', 'global 5', 'own 1', 'own 2', 'own 3']);

      const retention = (spec: string) => new AudioRetention({ config: { ...box.config, retention: { audio: parseAudioRetention(spec)!, dataMaxGb: 0 } }, store: box.ctx.store, database: box.ctx.database, log: silentLogger });
      const pass = await retention('keep-all').applyPolicy();
      expect(pass).toMatchObject({ files: 2, episodes: 2 });
      expect(withAudio()).toEqual(['global 4', 'global 5', 'own 3']);
      // transcripts stay, the episodes stay done
      for (const e of eps) expect(fs.existsSync(path.join(stageDir(box.config.dataDir, e.feedId, e.episode_key, 'transcribe'), 'meta.json'))).toBe(true);
      expect((await sqlRows(box.ctx.database, `SELECT DISTINCT state::text AS state FROM episodes WHERE feed_id IN ($1, $2)`, [own.id, global.id])).map((r: any) => r.state)).toEqual(['done']);
      // with every feed on keep-all nothing is due at all
      await tenant('PATCH', `/feeds/${own.id}`, { audio_retention: null });
      expect((await feedView(own.id)).audio.retention_overridden).toBe(false);
      expect(await retention('keep-all').applyPolicy()).toBeNull();

      // the other way round: the appliance deletes after transcription, a feed of its own keeps all
      await tenant('PATCH', `/feeds/${global.id}`, { audio_retention: 'keep-all' });
      expect(await retention('delete-after-transcribe').applyPolicy()).toMatchObject({ files: 1, episodes: 1 });
      expect(withAudio()).toEqual(['global 4', 'global 5']);
    } finally {
      await box.close();
    }
  }, 180_000);
});

describe('per-feed audio download (transcript first)', () => {
  const ITEMS = 2;
  const ORIGIN = 'https://mp3s.nashownotes.com/';
  const CHAPTERS_ORIGIN = 'http://34.117.70.159/';

  /** The real Podcasting 2.0 fixture cut to its first ITEMS items, its transcripts and audio served under /<variant>/. */
  function serveVariant(variant: string): { feedUrl: string; audioPaths: string[] } {
    const xml = fs.readFileSync(fixture('feeds', 'real', 'pc20rss.xml'), 'utf8');
    const first = xml.indexOf('<item>');
    const items = [...xml.matchAll(/<item>[\s\S]*?<\/item>/g)].slice(0, ITEMS).map((m) => m[0]);
    const cut = (xml.slice(0, first) + items.join('\n') + xml.slice(xml.lastIndexOf('</item>') + '</item>'.length)).split(ORIGIN).join(server.url(`/${variant}/`)).split(CHAPTERS_ORIGIN).join(server.url(`/${variant}/chapters/`)); // podcast:chapters: 404 here, never the internet
    const audioPaths: string[] = [];
    for (const ep of parseFeed(cut).episodes) {
      const audio = new URL(ep.enclosure!.url).pathname;
      audioPaths.push(audio);
      server.route(audio, serveFile(fixture('audio', 'jfk.mp3'), { contentType: 'audio/mpeg', ranges: true }));
      for (const t of ep.transcripts) server.route(new URL(t.url).pathname, serveBody('1\n00:00:00,000 --> 00:00:02,000\nask not what your country can do\n', { contentType: 'application/x-subrip' }));
    }
    server.route(`/${variant}/feed.xml`, serveBody(cut, { contentType: 'application/rss+xml', etag: true }));
    return { feedUrl: server.url(`/${variant}/feed.xml`), audioPaths };
  }

  it('a feed with audio_download=always downloads although a publisher transcript exists, another does not; the ingest fingerprint follows the effective choice', async () => {
    const box = await startBox('download', { ASR_ENGINES: 'feed,openai' });
    const asrBefore = asr.requests.length;
    try {
      expect(box.config.audio.download).toBe('when-needed');
      const ownVariant = serveVariant('dl-own');
      const globalVariant = serveVariant('dl-global');
      const own = (await addFeed(box.ctx.database, ownVariant.feedUrl, { pollIntervalS: 3600 })).feed;
      const global = (await addFeed(box.ctx.database, globalVariant.feedUrl, { pollIntervalS: 3600 })).feed;
      const patched = await tenant('PATCH', `/feeds/${own.id}`, { audio_download: 'always' });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body.audio).toMatchObject({ download: 'always', download_overridden: true });

      const ownEps = await box.process(own.id, ITEMS);
      const globalEps = await box.process(global.id, ITEMS);
      for (const p of ownVariant.audioPaths) expect(server.hits(p), p).toBeGreaterThanOrEqual(1);
      for (const p of globalVariant.audioPaths) expect(server.hits(p), p).toBe(0);
      expect(audioFilesUnder(path.join(box.config.dataDir, 'corpus', own.id))).toHaveLength(ITEMS);
      expect(audioFilesUnder(path.join(box.config.dataDir, 'corpus', global.id))).toEqual([]);
      expect(asr.requests.length - asrBefore).toBe(0); // both used the publisher transcript
      for (const e of ownEps) expect(ingestJson(box.config.dataDir, own.id, e.episode_key)).toMatchObject({ audio: 'local' });
      for (const e of globalEps) expect(ingestJson(box.config.dataDir, global.id, e.episode_key)).toMatchObject({ audio: 'stream', audio_file: null });

      // the committed fingerprint is the one the feed's effective choice plans, whatever the appliance's
      const ingest = createIngestStage();
      const plannedFp = async (key: string, config: Config) => {
        const loaded = (await box.ctx.episodes.feedEpisode(key))!;
        const planned = await planStage(config, ingest, loaded.episode, {});
        return planned.kind === 'planned' ? planned.fingerprint : planned.kind;
      };
      const committedFp = (feedId: string, key: string) => JSON.parse(fs.readFileSync(path.join(stageDir(box.config.dataDir, feedId, key, 'ingest'), 'meta.json'), 'utf8')).fingerprint;
      const always: Config = { ...box.config, audio: { ...box.config.audio, download: 'always' } };
      const ownKey = ownEps[0]!.episode_key;
      const globalKey = globalEps[0]!.episode_key;
      expect(await plannedFp(ownKey, box.config)).toBe(committedFp(own.id, ownKey));
      expect(await plannedFp(globalKey, box.config)).toBe(committedFp(global.id, globalKey));
      expect(await plannedFp(globalKey, always)).not.toBe(committedFp(global.id, globalKey)); // the appliance's switch reaches feeds without their own
      // a feed of its own when-needed streams under an appliance that always downloads
      await tenant('PATCH', `/feeds/${global.id}`, { audio_download: 'when-needed' });
      expect(await plannedFp(globalKey, always)).toBe(committedFp(global.id, globalKey));
      // back to the appliance's (when-needed): the downloaded feed's ingest is no longer current
      await tenant('PATCH', `/feeds/${own.id}`, { audio_download: null });
      expect((await feedView(own.id)).audio).toMatchObject({ download: 'when-needed', download_overridden: false });
      expect(await plannedFp(ownKey, box.config)).not.toBe(committedFp(own.id, ownKey));

      // both kinds of ingest run are current recipes (a feed's choice does not count its episodes stale), under either appliance setting
      const recorded = (await sqlRows(box.ctx.database, `SELECT DISTINCT r.recipe FROM stage_runs r JOIN episodes e ON e.episode_key = r.episode_key WHERE r.stage = 'ingest' AND e.feed_id IN ($1, $2)`, [own.id, global.id])).map((r: any) => r.recipe);
      expect(recorded).toHaveLength(2);
      for (const config of [box.config, always]) expect(currentRecipes(config, [ingest]).ingest!.slice().sort()).toEqual(recorded.slice().sort());
    } finally {
      await box.close();
    }
  }, 180_000);
});

describe('validation, POST, the CLI flags and YAML fields', () => {
  it('PATCH refuses last:0, days:-1 and junk with a 400 and changes nothing; null resets', async () => {
    server.route('/val.xml', serveBody('<?xml version="1.0"?><rss version="2.0"><channel><title>v</title></channel></rss>', { contentType: 'application/rss+xml' }));
    const added = await tenant('POST', '/feeds', { url: server.url('/val.xml') });
    expect(added.status, JSON.stringify(added.body)).toBe(202);
    expect(added.body.audio).toEqual({ retention: 'keep-all', retention_overridden: false, download: 'when-needed', download_overridden: false });
    const feed = added.body;
    const ok = await tenant('PATCH', `/feeds/${feed.id}`, { audio_retention: 'days:30', audio_download: 'always' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.audio).toEqual({ retention: 'days:30', retention_overridden: true, download: 'always', download_overridden: true });
    for (const bad of [{ audio_retention: 'last:0' }, { audio_retention: 'days:-1' }, { audio_retention: 'days:0' }, { audio_retention: 'forever' }, { audio_retention: 'last:' }, { audio_retention: 'last:1 ' + 'x'.repeat(100) }, { audio_retention: 3 }, { audio_download: 'sometimes' }, { audio_download: true }]) {
      const r = await tenant('PATCH', `/feeds/${feed.id}`, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error.message).toMatch(/audio_(retention|download)/);
    }
    expect((await feedView(feed.id)).policy).toMatchObject({ audio_retention: 'days:30', audio_download: 'always' });
    const reset = await tenant('PATCH', `/feeds/${feed.id}`, { audio_retention: null, audio_download: null });
    expect(reset.body.policy).toMatchObject({ audio_retention: null, audio_download: null });
    expect(reset.body.audio).toEqual({ retention: 'keep-all', retention_overridden: false, download: 'when-needed', download_overridden: false });
  });

  it('POST /api/feeds takes them (a bad one is a 400 before anything is stored); the CLI flags and YAML entries send them', async () => {
    server.route('/post-bad.xml', serveBody('<?xml version="1.0"?><rss version="2.0"><channel><title>b</title></channel></rss>', { contentType: 'application/rss+xml' }));
    expect((await tenant('POST', '/feeds', { url: server.url('/post-bad.xml'), audio_retention: 'last:0' })).status).toBe(400);
    expect(((await tenant('GET', '/feeds')).body.items as any[]).some((f) => f.url === server.url('/post-bad.xml'))).toBe(false);

    for (const name of ['cli', 'yaml']) server.route(`/${name}.xml`, serveBody(`<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title></channel></rss>`, { contentType: 'application/rss+xml' }));
    const flags = policyFromFlags({ audioRetention: 'last:5', audioDownload: 'always' });
    expect(flags).toEqual({ audio_retention: 'last:5', audio_download: 'always' });
    expect(() => policyFromFlags({ audioRetention: 'last:0' })).toThrow(/--audio-retention: /);
    expect(() => policyFromFlags({ audioDownload: 'never' })).toThrow(/--audio-download: /);
    const entries = parseYamlFeedList(`feeds:\n  - url: ${server.url('/yaml.xml')}\n    audio_retention: delete-after-transcribe\n  - url: ${server.url('/cli.xml')}\n`);
    expect(entries[0]!.policy).toEqual({ audio_retention: 'delete-after-transcribe' });
    expect(() => parseYamlFeedList(`feeds:\n  - url: ${server.url('/x.xml')}\n    audio_retention: days:-1\n`)).toThrow(/entry 1 .*audio_retention: /);
    expect(() => parseYamlFeedList(`feeds:\n  - url: ${server.url('/x.xml')}\n    audio_download: sometimes\n`)).toThrow(/entry 1 .*audio_download: /);

    const added = await addFeedsThroughApi(api.base, KEY, entries, flags);
    expect(added.map((a) => a.status)).toEqual([202, 202]);
    const byUrl = async (url: string) => ((await tenant('GET', '/feeds')).body.items as any[]).find((f) => f.url === url);
    // a YAML entry's own field wins over the flag; the flags fill the rest
    expect((await byUrl(server.url('/yaml.xml'))).audio).toEqual({ retention: 'delete-after-transcribe', retention_overridden: true, download: 'always', download_overridden: true });
    expect((await byUrl(server.url('/cli.xml'))).audio).toEqual({ retention: 'last:5', retention_overridden: true, download: 'always', download_overridden: true });
  });
});
