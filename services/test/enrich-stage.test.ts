import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../src/artifacts/store';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { EXTRACTIVE_VERSION } from '../src/enrich/extractive';
import type { SummaryArtifact, GiArtifact, KgArtifact } from '../src/enrich/types';
import { loadFeed } from '../src/feeds/load';
import type { FeedEpisode } from '../src/feeds/types';
import { PipelineRunner } from '../src/pipeline/runner';
import { createEnrichStage, enrichPlanParts } from '../src/stages/enrich.stage';
import { createIngestStage } from '../src/stages/ingest.stage';
import { createTranscribeStage } from '../src/stages/transcribe.stage';
import { httpStatus, startFakeOpenAi, type ChatRequestBody, type FakeOpenAi } from './support/fake-openai';
import { fixture } from './support/fixtures';
import { fixtureTranscript } from './support/fixture-transcript';

/**
 * The enrich stage in the real pipeline: ingest (local enclosure) → transcribe (the feed's
 * own podcast:transcript, SRT built from real fixture text) → enrich.
 */

const srtTime = (ms: number) => {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)},${pad(ms % 1000, 3)}`;
};

let dir: string;
let ai: FakeOpenAi;
let episode: FeedEpisode;
const segments = fixtureTranscript({ minutes: 4, feeds: ['changing-the-tide.xml'] }).segments;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pb-c1-enrich-'));
  copyFileSync(fixture('audio', 'jfk.mp3'), path.join(dir, 'episode.mp3'));
  writeFileSync(path.join(dir, 'episode.srt'), segments.map((s, i) => `${i + 1}\n${srtTime(s.start_ms)} --> ${srtTime(s.end_ms)}\n${s.text}\n`).join('\n'));
  writeFileSync(
    path.join(dir, 'feed.xml'),
    `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Changing the Tide</title>
     <item><guid>ep-1</guid><title>Bitcoin fluid dispensers</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate>
       <enclosure url="episode.mp3" type="audio/mpeg" length="1"/>
       <podcast:transcript url="episode.srt" type="application/srt"/>
       <podcast:person role="host">Jon Crabtree</podcast:person>
       <podcast:person role="guest">Andy Schroder</podcast:person>
     </item></channel></rss>`,
  );
  ai = await startFakeOpenAi({
    chat: (b: ChatRequestBody) => {
      const lines = (/<transcript>\n([\s\S]*?)\n<\/transcript>/.exec(b.messages[1].content)?.[1] ?? '').split('\n');
      const task = b.response_format?.json_schema?.name;
      if (task === 'summary') return { title: 'Dispensing energy for Bitcoin', bullets: ['A vendor can sell energy for Bitcoin.'], key_quotes: [lines[0]] };
      if (task === 'gi') return { insights: [{ text: 'Trustless vending works.', insight_type: 'claim', confidence: 0.8, quotes: [lines[1]], topics: ['Bitcoin'] }] };
      if (task === 'kg') return { people: [{ name: 'Andy Schroder', role: 'guest' }], organizations: [], topics: [{ label: 'Bitcoin' }], relations: [] };
      return httpStatus(400);
    },
  });
  const cfg = loadConfig({ env: { DATA_DIR: dir } });
  const loaded = await loadFeed(path.join(dir, 'feed.xml'), cfg);
  if (!loaded?.episodes?.[0]) throw new Error('the test feed has no episode');
  episode = loaded.episodes[0];
});

afterAll(async () => {
  await ai?.close();
  rmSync(dir, { recursive: true, force: true });
});

function configFor(env: Record<string, string> = {}): Config {
  return loadConfig({ env: { DATA_DIR: path.join(dir, 'data'), ASR_ENGINES: 'feed', LLM_RETRY_BASE_MS: '0', ...env } });
}

async function runPipeline(config: Config) {
  const runner = new PipelineRunner({ config, store: new ArtifactStore(config.dataDir), log: silentLogger, stages: [createIngestStage(), createTranscribeStage(), createEnrichStage()] });
  const report = await runner.runEpisode(episode);
  return { report, runner, byStage: Object.fromEntries(report.stages.map((s) => [s.stage, s])) };
}

const read = <T>(dirPath: string, name: string) => JSON.parse(readFileSync(path.join(dirPath, name), 'utf8')) as T;

describe('enrich stage', () => {
  let extractiveFp = '';
  let transcribeFp = '';

  it('with no LLM configured (the default) writes extractive summary.json, gi.json and kg.json', async () => {
    const { report, byStage } = await runPipeline(configFor());
    expect(report.stages.map((s) => [s.stage, s.status])).toEqual([
      ['ingest', 'done'],
      ['transcribe', 'done'],
      ['enrich', 'done'],
    ]);
    const ref = byStage.enrich.ref!;
    extractiveFp = ref.fingerprint;
    transcribeFp = byStage.transcribe.fingerprint!;
    expect(ref.meta.files).toEqual(['chapters.json', 'gi.json', 'kg.json', 'summary.json']);
    expect(ref.meta.info).toMatchObject({ method: 'extractive', model: null, status: 'valid', quotes_dropped: 0 });
    const summary = read<SummaryArtifact>(ref.dir, 'summary.json');
    expect(summary).toMatchObject({ schema_version: 1, method: 'extractive', status: 'valid', title: 'Bitcoin fluid dispensers', episode_key: episode.episodeKey });
    expect(summary.bullets.length).toBeGreaterThan(0);
    // Times come from the transcript the transcribe stage wrote.
    const q = summary.key_quotes[0];
    expect(segments.some((s) => s.start_ms === q.start_ms)).toBe(true);
    const gi = read<GiArtifact>(ref.dir, 'gi.json');
    expect(gi.stats.insights).toBeGreaterThan(0);
    const kg = read<KgArtifact>(ref.dir, 'kg.json');
    expect(kg.nodes).toContainEqual(expect.objectContaining({ id: 'person:jon-crabtree', role: 'host' }));
    expect(kg.nodes).toContainEqual(expect.objectContaining({ id: 'person:andy-schroder', role: 'guest' }));
  });

  it('configuring an LLM re-runs enrich (new fingerprint) but never transcribe; a second run reuses everything', async () => {
    const config = configFor({ LLM_MODEL: 'fake-model', OPENAI_BASE_URL: ai.url });
    const before = ai.chatRequests().length;
    const { report, runner, byStage } = await runPipeline(config);
    expect(report.stages.map((s) => [s.stage, s.status])).toEqual([
      ['ingest', 'reused'],
      ['transcribe', 'reused'],
      ['enrich', 'done'],
    ]);
    expect(byStage.transcribe.fingerprint).toBe(transcribeFp);
    expect(byStage.enrich.fingerprint).not.toBe(extractiveFp);
    expect(runner.stats).toMatchObject({ executed: 1, reused: 2 });
    expect(ai.chatRequests().length - before).toBe(3);
    const ref = byStage.enrich.ref!;
    expect(ref.meta.info).toMatchObject({ method: 'llm', model: 'fake-model', status: 'valid', llm: { parts: 1, calls: 3 } });
    expect(read<SummaryArtifact>(ref.dir, 'summary.json')).toMatchObject({ method: 'llm', title: 'Dispensing energy for Bitcoin' });
    expect(read<GiArtifact>(ref.dir, 'gi.json').stats).toMatchObject({ insights: 1, quotes_dropped: 0 });

    const again = await runPipeline(config);
    expect(again.report.stages.map((s) => s.status)).toEqual(['reused', 'reused', 'reused']);
    expect(ai.chatRequests().length - before).toBe(3);
    // The extractive set is still there: switching back costs nothing.
    expect(existsSync(path.join(path.dirname(ref.dir), `enrich@${extractiveFp.slice(0, 12)}`, 'meta.json'))).toBe(true);
  });

  it('the fingerprint parts name method, model, prompt file versions and the schema version', () => {
    const llm = enrichPlanParts(configFor({ LLM_MODEL: 'm1', OPENAI_BASE_URL: ai.url }), episode);
    expect(llm).toMatchObject({ method: 'llm', model: 'm1', schema_version: 1, extractive: EXTRACTIVE_VERSION, degraded_transcripts: false });
    expect((llm.prompts as Record<string, string>).summary).toMatch(/^summary\.v1@[0-9a-f]{16}$/);
    expect(enrichPlanParts(configFor({ LLM_MODEL: 'm2', OPENAI_BASE_URL: ai.url }), episode)).not.toEqual(llm);
    expect(enrichPlanParts(configFor(), episode)).toMatchObject({ method: 'extractive' });
    expect(enrichPlanParts(configFor(), episode)).not.toHaveProperty('prompts');
  });

  it('an LLM server that stays down: the extractive result stands in, degraded, with the reason (enrich-llm-fallback.test.ts)', async () => {
    const down = await startFakeOpenAi({ chat: () => httpStatus(503, { error: { message: 'overloaded' } }) });
    try {
      const { report, byStage } = await runPipeline(configFor({ LLM_MODEL: 'other-model', OPENAI_BASE_URL: down.url, LLM_MAX_RETRIES: '1' }));
      expect(report.state).toBe('done');
      expect(byStage.transcribe.status).toBe('reused');
      expect(byStage.enrich.status).toBe('done');
      expect(byStage.enrich.ref!.meta.info).toMatchObject({ method: 'extractive', status: 'degraded', llm_fallback: { reason: 'unreachable', error_type: 'http_5xx' } });
      expect(read<SummaryArtifact>(byStage.enrich.ref!.dir, 'summary.json')).toMatchObject({
        method: 'extractive',
        status: 'degraded',
        problem: expect.stringMatching(/LLM call \(summary\).*server error 503.*gave up after 2 attempts/),
      });
    } finally {
      await down.close();
    }
  });
});

describe('enrich stage on a transcript the quality gate calls garbage', () => {
  let gdir: string;
  let garbageEpisode: FeedEpisode;

  beforeAll(async () => {
    gdir = mkdtempSync(path.join(os.tmpdir(), 'pb-enrich-garbage-'));
    copyFileSync(fixture('audio', 'jfk.mp3'), path.join(gdir, 'episode.mp3'));
    // What a random-weight Whisper model decodes: tokens of its vocabulary (` w<base36>`), no language.
    let x = 12_345;
    const token = () => `w${((x = (x * 48_271) % 2_147_483_647) % 50_000).toString(36)}`;
    const cues = Array.from({ length: 40 }, (_, i) => `${i + 1}\n${srtTime(i * 3000)} --> ${srtTime(i * 3000 + 2800)}\n${Array.from({ length: 6 }, token).join(' ')}\n`);
    writeFileSync(path.join(gdir, 'episode.srt'), cues.join('\n'));
    writeFileSync(
      path.join(gdir, 'feed.xml'),
      `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Noise</title>
       <item><guid>ep-garbage</guid><title>Garbage in</title><enclosure url="episode.mp3" type="audio/mpeg" length="1"/>
         <podcast:transcript url="episode.srt" type="application/srt"/></item></channel></rss>`,
    );
    const loaded = await loadFeed(path.join(gdir, 'feed.xml'), loadConfig({ env: { DATA_DIR: gdir } }));
    if (!loaded.episodes?.length) throw new Error('the garbage feed did not parse');
    garbageEpisode = loaded.episodes[0];
  });

  afterAll(() => rmSync(gdir, { recursive: true, force: true }));

  const run = async (env: Record<string, string> = {}) => {
    const config = loadConfig({ env: { DATA_DIR: path.join(gdir, 'data'), ASR_ENGINES: 'feed', ...env } });
    const runner = new PipelineRunner({ config, store: new ArtifactStore(config.dataDir), log: silentLogger, stages: [createIngestStage(), createTranscribeStage(), createEnrichStage()] });
    const report = await runner.runEpisode(garbageEpisode);
    return Object.fromEntries(report.stages.map((s) => [s.stage, s]));
  };

  it('makes no summary or insights by default and says why; ENRICH_DEGRADED_TRANSCRIPTS=true enriches it anyway', async () => {
    const first = await run();
    const transcript = read<{ status: string; quality: { reasons: string[] } }>(first.transcribe.ref!.dir, 'transcript.json');
    expect(transcript.status).toBe('degraded');
    expect(transcript.quality.reasons).toEqual([expect.stringMatching(/^garbage_text: 0% of 240 words are English words/)]);
    expect(first.enrich.status).toBe('done');
    expect(first.enrich.ref!.meta.info).toMatchObject({ status: 'degraded', not_generated: transcript.quality.reasons[0], insights: 0 });
    const summary = read<SummaryArtifact>(first.enrich.ref!.dir, 'summary.json');
    expect(summary).toMatchObject({ status: 'invalid', bullets: [], key_quotes: [], title: 'Garbage in' });
    expect(summary.problem).toBe(`not generated: the transcript is degraded (${transcript.quality.reasons[0]}); ENRICH_DEGRADED_TRANSCRIPTS=true enriches it anyway`);
    const gi = read<GiArtifact>(first.enrich.ref!.dir, 'gi.json');
    expect(gi.nodes).toEqual([]);
    expect(read<KgArtifact>(first.enrich.ref!.dir, 'kg.json').nodes.map((n) => n.type)).toEqual(['Episode']);

    const forced = await run({ ENRICH_DEGRADED_TRANSCRIPTS: 'true' });
    // The setting is part of enrich's recipe: enrich runs again, transcribe is reused.
    expect(forced.transcribe.fingerprint).toBe(first.transcribe.fingerprint);
    expect(forced.enrich.fingerprint).not.toBe(first.enrich.fingerprint);
    expect(forced.enrich.ref!.meta.info).not.toHaveProperty('not_generated');
    expect(read<SummaryArtifact>(forced.enrich.ref!.dir, 'summary.json').bullets.length).toBeGreaterThan(0);
  });
});
