/* eslint-disable @typescript-eslint/no-explicit-any -- API replies are JSON of many shapes */
/**
 * Transcript first (issue 15): with a publisher transcript and ASR_ENGINES starting with `feed`,
 * an episode reaches `done` without its audio ever being requested (AUDIO_DOWNLOAD=when-needed);
 * the player is sent to the enclosure. AUDIO_DOWNLOAD=always downloads it; a transcript that
 * turns out unusable (404) makes transcribe download the audio and run ASR (the fake OpenAI
 * server). The feed is the real Podcasting 2.0 fixture pc20rss.xml (its first items), its
 * transcript and audio URLs pointed at a local server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playableEnclosureUrl } from '../src/api/episodes/episode-media.service';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { parseFeed } from '../src/feeds/parse';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { planStage } from '../src/pipeline/execute';
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

const KEY = 'transcript-first-key';
const ITEMS = 3;
const ORIGIN = 'https://mp3s.nashownotes.com/';
const CHAPTERS_ORIGIN = 'http://34.117.70.159/';
const AUDIO_EXT = /\.(mp3|m4a|ogg|opus|wav|flac|aac|webm)$/i;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let api: Awaited<ReturnType<typeof startApi>>;
let server: FixtureServer;
let asr: FakeOpenAiAsr;
let tmp: ReturnType<typeof tempDir>;

/** The fixture feed cut to its first ITEMS items, every nashownotes URL served by `server` under /<variant>/. */
function pc20Feed(variant: string): string {
  const xml = fs.readFileSync(fixture('feeds', 'real', 'pc20rss.xml'), 'utf8');
  const first = xml.indexOf('<item>');
  const items = [...xml.matchAll(/<item>[\s\S]*?<\/item>/g)].slice(0, ITEMS).map((m) => m[0]);
  const cut = xml.slice(0, first) + items.join('\n') + xml.slice(xml.lastIndexOf('</item>') + '</item>'.length);
  // The items' podcast:chapters (a public IP) are served here too: 404, so enrich generates its own without going out.
  return cut.split(ORIGIN).join(server.url(`/${variant}/`)).split(CHAPTERS_ORIGIN).join(server.url(`/${variant}/chapters/`));
}

/** SRT cues from a fixture reference text. */
function srtOf(textFile: string): string {
  const words = fs.readFileSync(fixture('audio', textFile), 'utf8').trim().split(/\s+/);
  const t = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace('.', ',');
  const cues: string[] = [];
  for (let i = 0; i < words.length; i += 6) cues.push(`${cues.length + 1}\n${t(i * 400)} --> ${t((i + 6) * 400)}\n${words.slice(i, i + 6).join(' ')}\n`);
  return cues.join('\n');
}

/** Serves the feed, its transcripts (or 404 for them) and its audio under /<variant>/. */
function serveVariant(variant: string, opts: { transcripts: boolean }): { feedUrl: string; audioPaths: string[]; transcriptPaths: string[] } {
  const xml = pc20Feed(variant);
  const feed = parseFeed(xml);
  const audioPaths: string[] = [];
  const transcriptPaths: string[] = [];
  for (const [i, ep] of feed.episodes.entries()) {
    const audio = new URL(ep.enclosure!.url).pathname;
    audioPaths.push(audio);
    server.route(audio, serveFile(fixture('audio', 'jfk.mp3'), { contentType: 'audio/mpeg', ranges: true }));
    for (const t of ep.transcripts) {
      const p = new URL(t.url).pathname;
      transcriptPaths.push(p);
      if (opts.transcripts) server.route(p, serveBody(srtOf(`fleurs-en-00${i % 7}.txt`), { contentType: 'application/x-subrip' }));
    }
  }
  server.route(`/${variant}/feed.xml`, serveBody(xml, { contentType: 'application/rss+xml', etag: true }));
  return { feedUrl: server.url(`/${variant}/feed.xml`), audioPaths, transcriptPaths };
}

/** A worker role with its own DATA_DIR and queues, running the real stage chain under `env`. */
async function startBox(name: string, env: Record<string, string>) {
  const config = loadConfig({
    env: {
      DATABASE_URL: db.url,
      DATA_DIR: path.join(tmp.dir, name),
      MODELS_DIR: path.join(tmp.dir, 'models'),
      QUEUE_PREFIX: `pbtest_tf_${name}_${process.pid}`,
      ALLOW_PRIVATE_NETWORK: 'true',
      ASR_ENGINES: 'feed,openai',
      OPENAI_BASE_URL: asr.baseUrl,
      OPENAI_ASR_RETRY_BASE_MS: '5',
      EMBEDDINGS_PROVIDER: 'hash',
      EMBEDDINGS_DIM: '64',
      QUEUE_BACKOFF_MS: '50',
      QUEUE_LOCK_MS: '5000',
      FEED_BACKFILL_DEFAULT: 'all',
      LOG_LEVEL: 'silent',
      ...env,
    },
  });
  const ctx: RoleContext = await createRoleContext({ ...config, role: 'worker' }, { log: silentLogger, poolSize: 4 });
  const pipeline = new StageJobs(ctx);
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: [...QUEUE_NAMES], connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: 5000, shutdownGraceMs: 3000 });
  host.start();
  return {
    config,
    ctx,
    async runFeed(feedUrl: string): Promise<{ feedId: string; episodes: { episode_key: string; state: string }[] }> {
      const { feed } = await addFeed(ctx.database, feedUrl, { pollIntervalS: 3600 });
      await ctx.queues.addPollJob(feed.id);
      const episodes = await waitFor(
        `${name}: ${ITEMS} episodes finished`,
        async () => {
          const rows = await sqlRows(ctx.database, `SELECT episode_key, state::text AS state, last_error FROM episodes WHERE feed_id = $1`, [feed.id]);
          return rows.length === ITEMS && rows.every((r: any) => r.state === 'done' || r.state === 'failed') ? rows : null;
        },
        90_000,
        100,
      );
      return { feedId: feed.id, episodes };
    },
    async close() {
      await host.close();
      await ctx.close();
      await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
    },
  };
}

/** Every audio file under a directory (DATA_DIR), staging included. */
function audioFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => AUDIO_EXT.test(f));
}

const stageMeta = (dataDir: string, feedId: string, key: string, stage: string) => {
  const dir = path.join(dataDir, 'corpus', feedId, key);
  const sub = fs.readdirSync(dir).find((d) => d.startsWith(`${stage}@`))!;
  return { dir: path.join(dir, sub), meta: JSON.parse(fs.readFileSync(path.join(dir, sub, 'meta.json'), 'utf8')) };
};

beforeAll(async () => {
  db = await freshDatabase('podbrain_test_transcript_first');
  tmp = tempDir('transcript-first');
  server = await startFixtureServer();
  asr = await startFakeOpenAiAsr();
  api = await startApi(apiConfig(db.url, { AUTH_API_KEY: KEY }));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await asr?.close();
  await server?.close();
  await db?.drop();
  tmp?.remove();
});

describe('transcript first (AUDIO_DOWNLOAD=when-needed, the default)', () => {
  it('reaches done without requesting the audio; the player is sent to the enclosure', async () => {
    const variant = serveVariant('stream', { transcripts: true });
    const box = await startBox('stream', {});
    try {
      expect(box.config.audio.download).toBe('when-needed');
      const { feedId, episodes } = await box.runFeed(variant.feedUrl);
      expect(episodes.map((e) => e.state)).toEqual(['done', 'done', 'done']);
      // the audio was never asked for; every transcript was read once
      for (const p of variant.audioPaths) expect(server.hits(p), p).toBe(0);
      expect(variant.transcriptPaths.reduce((n, p) => n + server.hits(p), 0)).toBe(ITEMS);
      expect(asr.requests).toHaveLength(0);
      expect(audioFilesUnder(box.config.dataDir)).toEqual([]);

      for (const e of episodes) {
        const ingest = stageMeta(box.config.dataDir, feedId, e.episode_key, 'ingest');
        const meta = JSON.parse(fs.readFileSync(path.join(ingest.dir, 'ingest.json'), 'utf8'));
        expect(meta).toMatchObject({ audio: 'stream', audio_file: null, source_url: expect.stringContaining(server.url('/stream/')) });
        expect(stageMeta(box.config.dataDir, feedId, e.episode_key, 'transcribe').meta.info).toMatchObject({ engine: 'feed', audio_source: 'none' });

        const detail = await call(api.base, 'GET', `/api/episodes/${e.episode_key}`, { key: KEY });
        expect(detail.body.audio_url).toBe(meta.source_url);
        const res = await fetch(`${api.base}/api/episodes/${e.episode_key}/audio`, { redirect: 'manual', headers: { authorization: `Bearer ${KEY}` } });
        expect(res.status).toBe(302);
        expect(res.headers.get('location')).toBe(meta.source_url);
        expect(res.headers.get('cache-control')).toBe('no-store');
        // following it reaches the publisher's file (here the fixture server)
        const followed = await fetch(`${api.base}/api/episodes/${e.episode_key}/audio`, { headers: { authorization: `Bearer ${KEY}` } });
        expect(followed.status).toBe(200);
        expect(Buffer.from(await followed.arrayBuffer()).equals(fs.readFileSync(fixture('audio', 'jfk.mp3')))).toBe(true);
      }
      expect(variant.audioPaths.reduce((n, p) => n + server.hits(p), 0)).toBe(ITEMS); // only the player's requests

      // an enclosure that is not http(s) is never handed to the player
      const [one] = episodes;
      await sqlRows(box.ctx.database, `UPDATE episodes SET enclosure = jsonb_set(enclosure, '{url}', '"javascript:alert(1)"') WHERE episode_key = $1`, [one.episode_key]);
      expect((await call(api.base, 'GET', `/api/episodes/${one.episode_key}/audio`, { key: KEY })).status).toBe(404);
      expect((await call(api.base, 'GET', `/api/episodes/${one.episode_key}`, { key: KEY })).body.audio_url).toBeNull();
    } finally {
      await box.close();
    }
  }, 120_000);
});

describe('AUDIO_DOWNLOAD=always', () => {
  it('downloads the audio although the publisher transcript is used; its ingest fingerprint differs', async () => {
    const variant = serveVariant('always', { transcripts: true });
    const box = await startBox('always', { AUDIO_DOWNLOAD: 'always' });
    try {
      const { feedId, episodes } = await box.runFeed(variant.feedUrl);
      expect(episodes.map((e) => e.state)).toEqual(['done', 'done', 'done']);
      for (const p of variant.audioPaths) expect(server.hits(p), p).toBeGreaterThanOrEqual(1);
      expect(audioFilesUnder(path.join(box.config.dataDir, 'corpus'))).toHaveLength(ITEMS);
      expect(asr.requests).toHaveLength(0);
      const e = episodes[0];
      expect(stageMeta(box.config.dataDir, feedId, e.episode_key, 'transcribe').meta.info).toMatchObject({ engine: 'feed' });
      const res = await call(api.base, 'GET', `/api/episodes/${e.episode_key}/audio`, { key: KEY });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('audio/mpeg');
      expect((await call(api.base, 'GET', `/api/episodes/${e.episode_key}`, { key: KEY })).body.audio_url).toBe(`/api/episodes/${e.episode_key}/audio`);

      // the choice is part of the ingest fingerprint: switching it runs ingest again
      const [row] = await sqlRows(box.ctx.database, `SELECT episode_key FROM episodes WHERE feed_id = $1 LIMIT 1`, [feedId]);
      const loaded = (await box.ctx.episodes.feedEpisode(row.episode_key))!;
      const fp = async (config: Config) => {
        const planned = await planStage(config, createIngestStage(), loaded.episode, {});
        return planned.kind === 'planned' ? planned.fingerprint : planned.kind;
      };
      const always = await fp(box.config);
      const streamed = await fp({ ...box.config, audio: { ...box.config.audio, download: 'when-needed' } });
      expect(always).toMatch(/^[0-9a-f]{64}$/);
      expect(streamed).toMatch(/^[0-9a-f]{64}$/);
      expect(always).not.toBe(streamed);
      expect(always).toBe(stageMeta(box.config.dataDir, feedId, row.episode_key, 'ingest').meta.fingerprint);
      // without `feed` first, or without a transcript, nothing changes: the audio is downloaded either way
      const noFeed = { ...box.config, asr: { ...box.config.asr, engines: ['openai' as const, 'feed' as const] } };
      expect(await fp({ ...noFeed, audio: { ...noFeed.audio, download: 'when-needed' } })).toEqual(always);
    } finally {
      await box.close();
    }
  }, 120_000);
});

describe('the publisher transcript proves unusable', () => {
  it('transcribe downloads the audio and runs ASR; nothing of it stays in DATA_DIR', async () => {
    const variant = serveVariant('gone', { transcripts: false }); // transcript URLs answer 404
    const box = await startBox('gone', {});
    const asrBefore = asr.requests.length;
    try {
      const { feedId, episodes } = await box.runFeed(variant.feedUrl);
      expect(episodes.map((e) => e.state)).toEqual(['done', 'done', 'done']);
      for (const p of variant.transcriptPaths) expect(server.hits(p), p).toBeGreaterThanOrEqual(1);
      for (const p of variant.audioPaths) expect(server.hits(p), p).toBe(1);
      expect(asr.requests.length - asrBefore).toBe(ITEMS);
      for (const e of episodes) {
        const ingest = JSON.parse(fs.readFileSync(path.join(stageMeta(box.config.dataDir, feedId, e.episode_key, 'ingest').dir, 'ingest.json'), 'utf8'));
        expect(ingest.audio).toBe('stream');
        expect(stageMeta(box.config.dataDir, feedId, e.episode_key, 'transcribe').meta.info).toMatchObject({
          engine: 'openai',
          audio_source: 'downloaded',
          skipped_engines: [{ engine: 'feed', reason: expect.stringContaining('404') }],
        });
      }
      // downloaded for ASR only: no copy left, in the corpus or in staging
      expect(audioFilesUnder(box.config.dataDir)).toEqual([]);
      expect(fs.readdirSync(path.join(box.config.dataDir, 'tmp'))).toEqual([]);
    } finally {
      await box.close();
    }
  }, 120_000);
});

describe('playableEnclosureUrl', () => {
  it('passes http(s) only, normalised, without credentials', () => {
    expect(playableEnclosureUrl('https://cdn.example.com/a b.mp3')).toBe('https://cdn.example.com/a%20b.mp3');
    expect(playableEnclosureUrl('http://cdn.example.com/x.mp3?t=1')).toBe('http://cdn.example.com/x.mp3?t=1');
    for (const bad of ['javascript:alert(1)', 'file:///etc/passwd', 'data:audio/mp3;base64,AAAA', '/local/audio.mp3', 'ftp://x/y.mp3', 'https://user:pw@cdn.example.com/x.mp3', '', null, `https://x.example/${'a'.repeat(5000)}`]) {
      expect(playableEnclosureUrl(bad), String(bad)).toBeNull();
    }
    expect(playableEnclosureUrl('https://cdn.example.com/x.mp3\r\nSet-Cookie: a=b')).not.toMatch(/[\r\n]/);
  });
});
