import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../src/artifacts/store';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import type { FeedEpisode } from '../src/feeds/types';
import { executeStage, planStage, walkChain } from '../src/pipeline/execute';
import { EpisodeSkipped, notConfiguredError, type Stage } from '../src/pipeline/stage';
import { JOB_ROUTES, jobNameOf, QUEUE_NAMES, type JobName } from '../src/queue/queues';
import { metrics } from '../src/telemetry/metrics';

/**
 * The one stage executor (pipeline/execute.ts) that atomic mode (the CLI) and stage mode (the
 * queue handlers) share, and the typed job map the queue handlers are dispatched by.
 */

let dir: string;
let config: Config;
let store: ArtifactStore;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pb-execute-'));
  config = loadConfig({ env: { DATA_DIR: dir } });
  store = new ArtifactStore(config.dataDir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const episode = (key: string): FeedEpisode =>
  ({ feedId: 'feed0000', episodeKey: key, title: key, published: null, enclosure: { url: 'http://example.invalid/a.mp3', type: 'audio/mpeg', length: null } }) as unknown as FeedEpisode;

function stage(name: 'ingest' | 'transcribe', run: Stage['run'], opts: { parts?: Record<string, unknown>; plan?: Stage['plan'] } = {}): Stage {
  return { name, needs: name === 'transcribe' ? ['ingest'] : [], plan: opts.plan ?? (() => ({ configured: true, parts: opts.parts ?? { v: 1 } })), run };
}

const ok = stage('ingest', async (_ctx, out) => {
  await out.writeJson('x.json', { ok: true });
  return { info: { engine: 'fake' } };
});

async function counted(stageName: string, status: string): Promise<number> {
  const v = (await metrics.episodesProcessedTotal.get()).values.find((s) => s.labels.stage === stageName && s.labels.status === status);
  return v?.value ?? 0;
}

async function run(s: Stage, key: string, signal = new AbortController().signal) {
  const planned = await planStage(config, s, episode(key), {});
  if (planned.kind !== 'planned') throw new Error(`not planned: ${planned.kind}`);
  return executeStage({ config, store, log: silentLogger, episode: episode(key), stage: s, fingerprint: planned.fingerprint, inputs: {}, signal });
}

describe('executeStage', () => {
  it('runs and commits once, then reuses the committed artifact; counts and times the run', async () => {
    const before = await counted('ingest', 'ok');
    const first = await run(ok, 'ep-done');
    expect(first).toMatchObject({ status: 'done', info: { engine: 'fake' } });
    expect(await counted('ingest', 'ok')).toBe(before + 1);
    const again = await run(ok, 'ep-done');
    expect(again.status).toBe('reused');
    expect(again.status === 'reused' && first.status === 'done' && again.ref.dir).toBe(first.status === 'done' && first.ref.dir);
    expect(await counted('ingest', 'ok')).toBe(before + 1);
  });

  it('classifies EpisodeSkipped, a not-configured error and a failure, committing nothing', async () => {
    const skipped = await run(stage('ingest', () => Promise.reject(new EpisodeSkipped('no enclosure'))), 'ep-skip');
    expect(skipped).toMatchObject({ status: 'skipped', reason: 'no enclosure' });
    const nc = await run(stage('ingest', () => Promise.reject(notConfiguredError('asr_unavailable', 'no whisper model'))), 'ep-nc');
    expect(nc).toMatchObject({ status: 'not_configured', reason: 'no whisper model' });
    const failed = await run(stage('ingest', () => Promise.reject(new Error('boom'))), 'ep-fail');
    expect(failed).toMatchObject({ status: 'failed', message: 'boom' });
    for (const key of ['ep-skip', 'ep-nc', 'ep-fail']) expect(await store.list('feed0000', key)).toEqual([]);
  });

  it('an aborted run fails (aborted: why), even when the stage answers not configured', async () => {
    const ac = new AbortController();
    ac.abort(new Error('job timed out after 5 ms'));
    const r = await run(stage('ingest', () => Promise.reject(notConfiguredError('asr_unavailable', 'no whisper model'))), 'ep-abort', ac.signal);
    expect(r).toMatchObject({ status: 'failed', message: 'aborted: job timed out after 5 ms' });
  });
});

describe('planStage / walkChain', () => {
  it('says skipped, not configured or planned, and walks to the first stage without an artifact', async () => {
    expect(await planStage(config, stage('ingest', ok.run, { plan: () => Promise.reject(new EpisodeSkipped('trailer')) }), episode('w'), {})).toEqual({ kind: 'skipped', reason: 'trailer' });
    expect(await planStage(config, stage('ingest', ok.run, { plan: () => ({ configured: false, reason: 'off' }) }), episode('w'), {})).toEqual({ kind: 'not_configured', reason: 'off' });
    const transcribe = stage('transcribe', ok.run);
    await run(ok, 'ep-walk');
    const walk = await walkChain({ config, store, stages: [ok, transcribe] }, episode('ep-walk'));
    expect(walk.next?.stage.name).toBe('transcribe');
    expect(walk.inputs.ingest).toBeDefined();
    const blocked = await walkChain({ config, store, stages: [ok, stage('transcribe', ok.run, { plan: () => ({ configured: false, reason: 'no model' }) })] }, episode('ep-walk'));
    expect(blocked).toMatchObject({ blocked: { stage: 'transcribe', reason: 'no model' } });
    expect(blocked.next).toBeUndefined();
  });
});

describe('the job map', () => {
  it('routes every job to one queue and name, and each (queue, name) back to its job', () => {
    for (const [job, r] of Object.entries(JOB_ROUTES)) {
      expect(QUEUE_NAMES).toContain(r.queue);
      expect(jobNameOf(r.queue, r.name)).toBe(job as JobName);
    }
    // The names jobs have always had in Redis.
    expect(jobNameOf('ingest', 'poll-feed')).toBe('poll');
    expect(jobNameOf('ingest', 'stage')).toBe('ingest');
    expect(jobNameOf('transcribe', 'stage')).toBe('transcribe');
    expect(jobNameOf('digest', 'digest')).toBe('digest');
    expect(jobNameOf('digest', 'stage')).toBeNull();
    expect(jobNameOf('transcribe', 'poll-feed')).toBeNull();
  });
});
