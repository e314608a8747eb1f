import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../src/artifacts/store';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import type { GiArtifact, KgArtifact, SummaryArtifact } from '../src/enrich/types';
import { loadFeed } from '../src/feeds/load';
import type { FeedEpisode } from '../src/feeds/types';
import { PipelineRunner } from '../src/pipeline/runner';
import { createEnrichStage } from '../src/stages/enrich.stage';
import { createIngestStage } from '../src/stages/ingest.stage';
import { createTranscribeStage } from '../src/stages/transcribe.stage';
import { metrics } from '../src/telemetry/metrics';
import { delay, httpStatus, raw, startFakeOpenAi, type ChatAnswer, type ChatRequestBody, type FakeOpenAi } from './support/fake-openai';
import { fixture } from './support/fixtures';
import { fixtureTranscript } from './support/fixture-transcript';

/**
 * The LLM path of the enrich stage and its fallback (issue 16, the GPU box's Ollama): a real
 * pipeline (ingest → transcribe from the feed's SRT → enrich) against the local
 * OpenAI-compatible stand-in. An LLM that answers gives the LLM result; one that 500s, times out
 * or cannot be reached after its retries, or answers garbage after the repair round, leaves the
 * episode done with the extractive result, `degraded`, and the reason in meta and metrics.
 */

const srtTime = (ms: number) => {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor((ms % 3_600_000) / 60_000))}:${pad(Math.floor((ms % 60_000) / 1000))},${pad(ms % 1000, 3)}`;
};

const segments = fixtureTranscript({ minutes: 4, feeds: ['changing-the-tide.xml'] }).segments;
let dir: string;
let episode: FeedEpisode;
let ai: FakeOpenAi | null = null;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pb-enrich-fallback-'));
  copyFileSync(fixture('audio', 'jfk.mp3'), path.join(dir, 'episode.mp3'));
  writeFileSync(path.join(dir, 'episode.srt'), segments.map((s, i) => `${i + 1}\n${srtTime(s.start_ms)} --> ${srtTime(s.end_ms)}\n${s.text}\n`).join('\n'));
  writeFileSync(
    path.join(dir, 'feed.xml'),
    `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Changing the Tide</title>
     <item><guid>ep-fallback</guid><title>Bitcoin fluid dispensers</title><enclosure url="episode.mp3" type="audio/mpeg" length="1"/>
       <podcast:transcript url="episode.srt" type="application/srt"/>
       <podcast:person role="host">Jon Crabtree</podcast:person></item></channel></rss>`,
  );
  const loaded = await loadFeed(path.join(dir, 'feed.xml'), loadConfig({ env: { DATA_DIR: dir } }));
  if (!loaded?.episodes?.[0]) throw new Error('the test feed has no episode');
  episode = loaded.episodes[0];
});

afterEach(async () => {
  await ai?.close();
  ai = null;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function goodModel(b: ChatRequestBody): ChatAnswer {
  const lines = (/<transcript>\n([\s\S]*?)\n<\/transcript>/.exec(b.messages[1].content)?.[1] ?? '').split('\n');
  const task = b.response_format?.json_schema?.name;
  if (task === 'summary') return { title: 'Dispensing energy for Bitcoin', bullets: ['A vendor can sell energy for Bitcoin.'], key_quotes: [lines[0]] };
  if (task === 'gi') return { insights: [{ text: 'Trustless vending works.', insight_type: 'claim', confidence: 0.8, quotes: [lines[1]], topics: ['Bitcoin'] }] };
  if (task === 'kg') return { people: [{ name: 'Andy Schroder', role: 'guest' }], organizations: [], topics: [{ label: 'Bitcoin' }], relations: [] };
  return httpStatus(400);
}

/** Each case gets its own data dir, so nothing is reused from another case. */
async function enrich(baseUrl: string, env: Record<string, string> = {}) {
  const config = loadConfig({
    env: { DATA_DIR: mkdtempSync(path.join(dir, 'data-')), ASR_ENGINES: 'feed', LLM_MODEL: 'qwen2.5:3b-instruct', OPENAI_BASE_URL: baseUrl, LLM_RETRY_BASE_MS: '0', LLM_MAX_RETRIES: '1', ...env },
  });
  const runner = new PipelineRunner({ config, store: new ArtifactStore(config.dataDir), log: silentLogger, stages: [createIngestStage(), createTranscribeStage(), createEnrichStage()] });
  const report = await runner.runEpisode(episode);
  const run = report.stages.find((s) => s.stage === 'enrich')!;
  const read = <T>(name: string) => JSON.parse(readFileSync(path.join(run.ref!.dir, name), 'utf8')) as T;
  return { report, run, info: run.ref?.meta.info ?? {}, summary: run.ref && read<SummaryArtifact>('summary.json'), gi: run.ref && read<GiArtifact>('gi.json'), kg: run.ref && read<KgArtifact>('kg.json') };
}

async function fallbacks(reason: 'unreachable' | 'invalid_output'): Promise<number> {
  return (await metrics.enrichLlmFallbackTotal.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** What every whole-episode fallback has in common: done, extractive, degraded with the reason, counted. */
async function expectStandIn(r: Awaited<ReturnType<typeof enrich>>, errorType: string, problem: RegExp, before: number) {
  expect(r.report.state).toBe('done');
  expect(r.run.status).toBe('done');
  expect(r.info).toMatchObject({ method: 'extractive', model: null, status: 'degraded', llm_fallback: { reason: 'unreachable', error_type: errorType, model: 'qwen2.5:3b-instruct' } });
  expect((r.info.llm_fallback as { problem: string }).problem).toMatch(problem);
  for (const a of [r.summary!, r.gi!, r.kg!]) expect(a).toMatchObject({ method: 'extractive', status: 'degraded', problem: expect.stringMatching(problem) });
  // The extractive result itself, not an empty shell.
  expect(r.summary!.bullets.length).toBeGreaterThan(0);
  expect(r.gi!.stats.insights).toBeGreaterThan(0);
  expect(r.kg!.nodes).toContainEqual(expect.objectContaining({ id: 'person:jon-crabtree', role: 'host' }));
  expect(await fallbacks('unreachable')).toBe(before + 1);
}

describe('enrich through an OpenAI-compatible LLM, extractive as the fallback', () => {
  it('an LLM that answers: the LLM result, no fallback recorded', async () => {
    ai = await startFakeOpenAi({ chat: goodModel });
    const before = await fallbacks('unreachable');
    const r = await enrich(ai.url);
    expect(r.report.state).toBe('done');
    expect(r.info).toMatchObject({ method: 'llm', model: 'qwen2.5:3b-instruct', status: 'valid', llm: { calls: 3, degraded_tasks: [] } });
    expect(r.info).not.toHaveProperty('llm_fallback');
    expect(r.summary).toMatchObject({ method: 'llm', status: 'valid', title: 'Dispensing energy for Bitcoin' });
    expect(r.gi).toMatchObject({ method: 'llm', status: 'valid' });
    expect(r.kg!.nodes).toContainEqual(expect.objectContaining({ id: 'person:andy-schroder', role: 'guest' }));
    expect(await fallbacks('unreachable')).toBe(before);
  });

  it('an LLM that 500s after its retries: episode done with the extractive result, reason recorded', async () => {
    ai = await startFakeOpenAi({ chat: () => httpStatus(500, { error: { message: 'model runner crashed' } }) });
    const before = await fallbacks('unreachable');
    const r = await enrich(ai.url);
    await expectStandIn(r, 'http_5xx', /server error 500.*gave up after 2 attempts/, before);
    // Retried (LLM_MAX_RETRIES=1) before giving up; the map stops at the first failure.
    expect(ai.chatRequests().length).toBeGreaterThanOrEqual(2);
  });

  it('an LLM that times out: the same fallback, error type timeout', async () => {
    ai = await startFakeOpenAi({ chat: (b) => delay(3000, goodModel(b)) });
    const before = await fallbacks('unreachable');
    const r = await enrich(ai.url, { LLM_TIMEOUT_MS: '1000', LLM_MAX_RETRIES: '0' });
    await expectStandIn(r, 'timeout', /did not answer in time/, before);
  }, 20_000);

  it('no server at all (connection refused): the same fallback, error type network', async () => {
    const gone = await startFakeOpenAi({ chat: goodModel });
    const url = gone.url;
    await gone.close();
    const before = await fallbacks('unreachable');
    const r = await enrich(url);
    await expectStandIn(r, 'network', /cannot reach the LLM server/, before);
  });

  it('an LLM that answers garbage even after the repair round: every task extractive and degraded, episode done', async () => {
    ai = await startFakeOpenAi({ chat: () => raw('Sure! Here is your summary: the episode was great.') });
    const before = { invalid: await fallbacks('invalid_output'), unreachable: await fallbacks('unreachable') };
    const r = await enrich(ai.url);
    expect(r.report.state).toBe('done');
    // The server answered, so this is the LLM recipe's own (deterministic) outcome, not a stand-in.
    expect(r.info).toMatchObject({ method: 'llm', status: 'degraded', methods: { summary: 'extractive', gi: 'extractive', kg: 'extractive' } });
    expect(r.info).not.toHaveProperty('llm_fallback');
    expect((r.info.llm as { degraded_tasks: string[] }).degraded_tasks.sort()).toEqual(['gi', 'kg', 'summary']);
    expect(ai.chatRequests()).toHaveLength(6); // three tasks, each asked once more with the problem
    for (const a of [r.summary!, r.gi!, r.kg!]) expect(a).toMatchObject({ method: 'extractive', status: 'degraded', problem: expect.stringMatching(/not JSON/) });
    expect(r.summary!.bullets.length).toBeGreaterThan(0);
    expect(await fallbacks('invalid_output')).toBe(before.invalid + 3);
    expect(await fallbacks('unreachable')).toBe(before.unreachable);
  });

  it('an aborted run is not a fallback: the stage fails and commits nothing, for the job to be retried', async () => {
    ai = await startFakeOpenAi({ chat: (b) => delay(5000, goodModel(b)) });
    const config = loadConfig({ env: { DATA_DIR: mkdtempSync(path.join(dir, 'data-')), ASR_ENGINES: 'feed', LLM_MODEL: 'm', OPENAI_BASE_URL: ai.url, LLM_RETRY_BASE_MS: '0' } });
    const store = new ArtifactStore(config.dataDir);
    const stages = [createIngestStage(), createTranscribeStage(), createEnrichStage()];
    await new PipelineRunner({ config, store, log: silentLogger, stages: stages.slice(0, 2) }).runEpisode(episode);
    const controller = new AbortController();
    const before = await fallbacks('unreachable');
    setTimeout(() => controller.abort(new Error('shutdown')), 300);
    const report = await new PipelineRunner({ config, store, log: silentLogger, stages }).runEpisode(episode, controller.signal);
    const run = report.stages.find((s) => s.stage === 'enrich')!;
    expect(run.status).toBe('failed');
    expect(await store.find(episode.feedId, episode.episodeKey, 'enrich', run.fingerprint!)).toBeNull();
    expect(await fallbacks('unreachable')).toBe(before);
  });
});
