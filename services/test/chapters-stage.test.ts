import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore, type ArtifactRef } from '../src/artifacts/store';
import type { ChaptersArtifact } from '../src/chapters/types';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { loadFeed } from '../src/feeds/load';
import type { FeedEpisode } from '../src/feeds/types';
import { PipelineRunner } from '../src/pipeline/runner';
import { projectEpisode } from '../src/projection/project';
import { ChapterRepository } from '../src/repositories/chapters.repository';
import { createEnrichStage, enrichRecipe } from '../src/stages/enrich.stage';
import { createIngestStage } from '../src/stages/ingest.stage';
import { createTranscribeStage } from '../src/stages/transcribe.stage';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { topicTranscript } from './chapters-fixtures';
import { raw, startFakeOpenAi, type ChatRequestBody, type FakeOpenAi } from './support/fake-openai';
import { fixture } from './support/fixtures';
import { serveBody, startFixtureServer, type FixtureServer } from './support/http-fixture-server';

/**
 * Chapters end to end: the enrich stage writes chapters.json (publisher, generated with
 * extractive or LLM titles, refused publisher URL), the projection fills the chapters table (and
 * empties it for an episode enriched before chapters), GET /api/episodes/:key/chapters answers.
 */

const DB = 'podbrain_test_chapters';
const srtTime = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace('.', ',');
const { segments, shifts } = topicTranscript([
  { topic: 'bees', minutes: 6 },
  { topic: 'backups', minutes: 7 },
  { topic: 'bread', minutes: 5 },
]);
const PUBLISHER = { version: '1.2.0', chapters: [{ startTime: 0, title: 'Welcome' }, { startTime: 300, title: 'Mites', url: 'https://example.com/mites' }, { startTime: 600, title: 'Hidden', toc: false }] };

let root: string;
let srv: FixtureServer;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let database: Database;

/** A local feed of one episode (the SRT as its podcast:transcript), with a podcast:chapters URL when given. */
async function feedEpisode(name: string, chaptersUrl?: string): Promise<{ dir: string; episode: FeedEpisode }> {
  const dir = path.join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(fixture('audio', 'jfk.mp3'), path.join(dir, 'episode.mp3'));
  writeFileSync(path.join(dir, 'episode.srt'), segments.map((s, i) => `${i + 1}\n${srtTime(s.start_ms)} --> ${srtTime(s.end_ms)}\n${s.text}\n`).join('\n'));
  writeFileSync(path.join(dir, 'chapters.json'), JSON.stringify(PUBLISHER));
  writeFileSync(
    path.join(dir, 'feed.xml'),
    `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Three Hobbies</title>
     <item><guid>${name}</guid><title>Bees, backups and bread</title>
       <enclosure url="episode.mp3" type="audio/mpeg" length="1"/>
       <podcast:transcript url="episode.srt" type="application/srt"/>
       ${chaptersUrl ? `<podcast:chapters url="${chaptersUrl}" type="application/json+chapters"/>` : ''}
     </item></channel></rss>`,
  );
  const loaded = await loadFeed(path.join(dir, 'feed.xml'), loadConfig({ env: { DATA_DIR: dir } }));
  return { dir, episode: loaded!.episodes![0] };
}

function configFor(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ env: { DATA_DIR: path.join(dir, 'data'), ASR_ENGINES: 'feed', LLM_RETRY_BASE_MS: '0', LLM_MAX_RETRIES: '0', ...env } });
}

async function enrich(episode: FeedEpisode, config: Config): Promise<{ enrich: ArtifactRef; chapters: ChaptersArtifact; inputs: Partial<Record<string, ArtifactRef>>; info: Record<string, unknown> }> {
  const runner = new PipelineRunner({ config, store: new ArtifactStore(config.dataDir), log: silentLogger, stages: [createIngestStage(), createTranscribeStage(), createEnrichStage()] });
  const report = await runner.runEpisode(episode);
  const by = Object.fromEntries(report.stages.map((s) => [s.stage, s]));
  expect(by.enrich.status).toBe('done');
  const ref = by.enrich.ref!;
  return {
    enrich: ref,
    chapters: JSON.parse(readFileSync(path.join(ref.dir, 'chapters.json'), 'utf8')) as ChaptersArtifact,
    inputs: { transcribe: by.transcribe.ref!, enrich: ref },
    info: ref.meta.info as Record<string, unknown>,
  };
}

async function insertEpisode(episode: FeedEpisode, feedId: string, subscribe: boolean): Promise<void> {
  await pg.query(`INSERT INTO feeds (id, url, title, poll_interval_s, next_poll_at) VALUES ($1, $2, 'Three Hobbies', 3600, now()) ON CONFLICT DO NOTHING`, [feedId, `https://example.com/${feedId}.xml`]);
  if (subscribe) await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', $1) ON CONFLICT DO NOTHING`, [feedId]);
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, title, enclosure, transcripts, source, state) VALUES ($1, $2, $3, '{}'::jsonb, '[]'::jsonb, '{}'::jsonb, 'done') ON CONFLICT DO NOTHING`,
    [episode.episodeKey, feedId, episode.title],
  );
}

async function project(episode: FeedEpisode, config: Config, inputs: Partial<Record<string, ArtifactRef>>) {
  return database.db.transaction().execute((trx) => projectEpisode(trx, new ArtifactStore(config.dataDir), episode, inputs));
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'pb-chapters-'));
  srv = await startFixtureServer();
  srv.route('/chapters.json', serveBody(JSON.stringify(PUBLISHER), { contentType: 'application/json+chapters' }));
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  database = new Database({ databaseUrl: db.url }, silentLogger, { poolSize: 2, failFast: true });
}, 120_000);

afterAll(async () => {
  await srv?.close();
  await database?.close();
  await pg?.end();
  await db?.drop();
  rmSync(root, { recursive: true, force: true });
});

describe('chapters in the enrich stage', () => {
  it('no publisher chapters: generated from the topic shifts, extractive titles, projected into the chapters table', async () => {
    const { dir, episode } = await feedEpisode('generated');
    const config = configFor(dir);
    const r = await enrich(episode, config);
    expect(r.chapters).toMatchObject({ schema_version: 1, source: 'generated', titles: 'extractive' });
    expect(r.chapters.chapters).toHaveLength(3);
    for (const [k, shift] of shifts.entries()) expect(Math.abs(r.chapters.chapters[k + 1].start_ms - shift)).toBeLessThanOrEqual(30_000);
    expect(r.chapters.chapters[1].title.toLowerCase()).toMatch(/backup|database|restore/);
    expect(r.info.chapters).toEqual({ source: 'generated', count: 3, titles: 'extractive' });

    await insertEpisode(episode, 'f-gen', true);
    const counts = await project(episode, config, r.inputs);
    expect(counts.chapters).toBe(3);
    const rows = await new ChapterRepository(database).forEpisode(episode.episodeKey);
    expect(rows.map((c) => ({ ...c, source: c.source }))).toEqual(r.chapters.chapters.map((c) => ({ ...c, source: 'generated' })));

    // Enriched before chapters (no chapters.json): the projection leaves none, and says nothing.
    unlinkSync(path.join(r.enrich.dir, 'chapters.json'));
    expect((await project(episode, config, r.inputs)).chapters).toBe(0);
    expect(await new ChapterRepository(database).forEpisode(episode.episodeKey)).toEqual([]);
    // Projected again with it: replaced whole (no duplicates).
    writeFileSync(path.join(r.enrich.dir, 'chapters.json'), JSON.stringify(r.chapters));
    await project(episode, config, r.inputs);
    await project(episode, config, r.inputs);
    expect(await new ChapterRepository(database).forEpisode(episode.episodeKey)).toHaveLength(3);
  });

  it("the publisher's podcast:chapters win (a local feed's file; over http through the guard)", async () => {
    const local = await feedEpisode('publisher-local', 'chapters.json');
    const r = await enrich(local.episode, configFor(local.dir));
    expect(r.chapters.source).toBe('publisher');
    expect(r.chapters.chapters).toEqual([
      { start_ms: 0, end_ms: 300_000, title: 'Welcome', url: null, image: null },
      { start_ms: 300_000, end_ms: null, title: 'Mites', url: 'https://example.com/mites', image: null },
    ]);
    const remote = await feedEpisode('publisher-http', srv.url('/chapters.json'));
    const r2 = await enrich(remote.episode, configFor(remote.dir, { ALLOW_PRIVATE_NETWORK: 'true' }));
    expect(r2.chapters.source).toBe('publisher');
    expect(r2.chapters.chapters.map((c) => c.title)).toEqual(['Welcome', 'Mites']);
  });

  it('a publisher URL on a private address is refused by the guard: generated chapters instead, with why; the episode is done', async () => {
    const { dir, episode } = await feedEpisode('refused', srv.url('/chapters.json'));
    const before = srv.hits('/chapters.json');
    const r = await enrich(episode, configFor(dir, { ALLOW_PRIVATE_NETWORK: 'false' }));
    expect(srv.hits('/chapters.json')).toBe(before);
    expect(r.chapters.source).toBe('generated');
    expect(r.chapters.note).toMatch(/publisher chapters not used: cannot fetch the publisher chapters: refusing .*127\.0\.0\.1/);
  });

  it('CHAPTERS_GENERATE=false: none, and the recipe changes (stale episodes get reprocessed)', async () => {
    const { dir, episode } = await feedEpisode('off');
    const config = configFor(dir, { CHAPTERS_GENERATE: 'false' });
    const r = await enrich(episode, config);
    expect(r.chapters).toEqual({ schema_version: 1, source: null, chapters: [], note: 'no chapters generated (CHAPTERS_GENERATE=false)' });
    expect(enrichRecipe(config)).toMatchObject({ chapters: expect.stringMatching(/^chapters-v/), chapters_generate: false });
    expect(enrichRecipe(configFor(dir))).toMatchObject({ chapters_generate: true });
  });

  describe('LLM titles', () => {
    let ai: FakeOpenAi;
    let titles: (b: ChatRequestBody) => unknown;
    beforeAll(async () => {
      ai = await startFakeOpenAi({
        chat: (b: ChatRequestBody) => {
          const task = b.response_format?.json_schema?.name;
          if (task === 'summary') return { title: 'Three hobbies', bullets: ['Bees, backups and bread.'], key_quotes: [] };
          if (task === 'gi') return { insights: [] };
          if (task === 'kg') return { people: [], organizations: [], topics: [], relations: [] };
          if (task === 'summary_reduce') return { title: 'Three hobbies', bullets: ['Bees, backups and bread.'] };
          return titles(b) as never;
        },
      });
    });
    afterAll(async () => {
      await ai?.close();
    });
    const llmEnv = () => ({ OPENAI_BASE_URL: ai.url, LLM_MODEL: 'fake-model' });

    it('titles the generated chapters when its answer is valid', async () => {
      titles = () => ({ titles: ['Keeping bees through winter', 'Restoring database backups', '  Baking sourdough bread '] });
      const { dir, episode } = await feedEpisode('llm');
      const r = await enrich(episode, configFor(dir, llmEnv()));
      expect(r.chapters.titles).toBe('llm');
      expect(r.chapters.chapters.map((c) => c.title)).toEqual(['Keeping bees through winter', 'Restoring database backups', 'Baking sourdough bread']);
      const asked = ai.chatRequests().find((b) => b.response_format?.json_schema?.name === 'chapter_titles')!;
      expect(asked.messages[1].content).toMatch(/<chapter index="2" key_terms="[^"]*backup/);
      expect(asked.messages[0].content).toContain('(3)');
    });

    it.each([
      ['not JSON', () => raw('Sure! Here are some titles: 1. Bees')],
      ['the wrong number of titles', () => ({ titles: ['Only one'] })],
      ['an empty title', () => ({ titles: ['A', '   ', 'C'] })],
      ['a title too long', () => ({ titles: ['A', 'B', 'x'.repeat(500)] })],
    ])('a broken answer (%s): extractive titles, labelled', async (_what, answer) => {
      titles = answer;
      const { dir, episode } = await feedEpisode(`llm-broken-${_what.replace(/\W+/g, '-')}`);
      const r = await enrich(episode, configFor(dir, llmEnv()));
      expect(r.chapters.source).toBe('generated');
      expect(r.chapters.titles).toBe('extractive');
      expect(r.chapters.note).toMatch(/extractive chapter titles: the LLM's were unusable/);
      expect(r.chapters.chapters[1].title.toLowerCase()).toMatch(/backup|database|restore/);
    });
  });
});

describe('GET /api/episodes/:key/chapters', () => {
  it('answers {source, items} for a subscribed episode, [] when none, 404 unknown or not subscribed, 400 for a hostile key', async () => {
    const { dir, episode } = await feedEpisode('api');
    const config = configFor(dir);
    const r = await enrich(episode, config);
    await insertEpisode(episode, 'f-api', true);
    await project(episode, config, r.inputs);
    const none = (await feedEpisode('api-none')).episode;
    await insertEpisode(none, 'f-api', true);
    const hidden = (await feedEpisode('api-hidden')).episode;
    await insertEpisode(hidden, 'f-hidden', false);
    await pg.query(`INSERT INTO chapters (episode_key, fingerprint, idx, start_ms, end_ms, title, source) VALUES ($1, 'x', 0, 0, NULL, 'Secret', 'generated')`, [hidden.episodeKey]);

    const api = await startApi(apiConfig(db.url));
    try {
      const ok = await call(api.base, 'GET', `/api/episodes/${episode.episodeKey}/chapters`);
      expect(ok.status).toBe(200);
      expect(ok.body.source).toBe('generated');
      expect(ok.body.items).toHaveLength(3);
      expect(ok.body.items[0]).toEqual({ start_ms: 0, end_ms: r.chapters.chapters[1].start_ms, title: r.chapters.chapters[0].title, source: 'generated', url: null, image: null });
      expect(await call(api.base, 'GET', `/api/episodes/${none.episodeKey}/chapters`)).toMatchObject({ status: 200, body: { source: null, items: [] } });
      expect((await call(api.base, 'GET', `/api/episodes/${hidden.episodeKey}/chapters`)).status).toBe(404);
      expect((await call(api.base, 'GET', `/api/episodes/${'0'.repeat(40)}/chapters`)).status).toBe(404);
      const hostile = await call(api.base, 'GET', `/api/episodes/${encodeURIComponent("x' OR 1=1 --")}/chapters`);
      expect(hostile.status).toBeGreaterThanOrEqual(400);
      expect(hostile.status).toBeLessThan(500);
    } finally {
      await api.close();
    }
  });
});
