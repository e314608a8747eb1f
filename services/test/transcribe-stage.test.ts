import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore, StagingDir, type ArtifactMeta, type ArtifactRef } from '../src/artifacts/store';
import type { AsrEngine, Transcript } from '../src/asr/types';
import { createWhisperCppEngine } from '../src/asr/whisper/engine';
import type { Config } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { silentLogger } from '../src/core/logger';
import type { FeedEpisode } from '../src/feeds/types';
import { isNotConfiguredError, type StageContext } from '../src/pipeline/stage';
import { createTranscribeStage, TRANSCRIPT_FILE, transcribeEpisode } from '../src/stages/transcribe.stage';
import { INGEST_FILE } from '../src/stages/ingest-artifact';
import { registry } from '../src/telemetry/metrics';
import { fakeTinyModelDir, JFK_MP3, makeLongSilenceMp3, requireWhisperBuild, tempDir, whisperTestConfig } from './support/audio';

let models = '';

beforeAll(async () => {
  requireWhisperBuild();
  models = await fakeTinyModelDir();
}, 60_000);

function episode(extra: Partial<FeedEpisode> = {}): FeedEpisode {
  return {
    guid: 'ep-1', title: 'Episode 1', description: null, link: null, image: null, published: null, durationS: null,
    enclosure: { url: 'audio.mp3', type: 'audio/mpeg', length: null }, transcripts: [], chaptersUrl: null, persons: [],
    season: null, episode: null, episodeType: null, explicit: null, author: null,
    feedId: 'feed-1', feedUrl: '/tmp/feed.xml', episodeKey: 'feed-1:ep-1',
    ...extra,
  } as FeedEpisode;
}

/** An ingest artifact directory holding `audio`, as the ingest stage leaves it. */
function ingestOf(audio: string): ArtifactRef {
  const dir = tempDir('ingest');
  const file = `audio${path.extname(audio)}`;
  copyFileSync(audio, path.join(dir, file));
  writeFileSync(path.join(dir, INGEST_FILE), JSON.stringify({ schema_version: 1, episode_key: 'feed-1:ep-1', audio_file: file, source_url: audio, final_url: audio, bytes: 1, sha256: 'x', content_type: null, format: null, feed_duration_s: null }));
  return { stage: 'ingest', fingerprint: 'f'.repeat(64), dir, meta: {} as ArtifactMeta };
}

function contextFor(config: Config, ingest: ArtifactRef, ep = episode()): StageContext & { notes: string[] } {
  const notes: string[] = [];
  return {
    config, episode: ep, inputs: { ingest }, store: new ArtifactStore(tempDir('data')), log: silentLogger,
    signal: new AbortController().signal, progress: (_f, note) => note && notes.push(note), notes,
  };
}

function staging(): StagingDir {
  const dir = tempDir('staging');
  return new StagingDir(dir, `${dir}-final`);
}

async function rtfCount(): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'podbrain_transcription_realtime_factor');
  const count = (m?.values as { metricName?: string; value: number }[] | undefined)?.find((v) => v.metricName?.endsWith('_count'));
  return count?.value ?? 0;
}

describe('transcribe stage', () => {
  it('plans with the whisper engine: model, language, VAD and preprocess options make the fingerprint', () => {
    const plan = createTranscribeStage().plan({ config: whisperTestConfig(models), episode: episode(), inputs: {} });
    expect(plan).toEqual({
      configured: true,
      parts: expect.objectContaining({ schema: 1, engine: 'whisper-cpp', model: 'tiny', vad: true, preprocess: expect.objectContaining({ sample_rate: 16000, channels: 1, normalize: 'dynaudnorm' }) }),
      // the recipe (what staleness compares): the same settings, no episode data
      recipe: expect.objectContaining({ engine: 'whisper-cpp', model: 'tiny', vad: true, language: 'en' }),
    });
  });

  it('is not configured when the whisper model is missing, and says which file and how to get one', async () => {
    const dir = tempDir('nomodels');
    const plan = await createTranscribeStage().plan({ config: whisperTestConfig(dir, { WHISPER_MODEL: 'small.en' }), episode: episode(), inputs: {} });
    expect(plan.configured).toBe(false);
    const reason = (plan as { reason: string }).reason;
    expect(reason).toContain(path.join(dir, 'ggml-small.en.bin'));
    expect(reason).toMatch(/MODELS_DIR/);
    expect(reason).toMatch(/podbrain models list/);
  });

  it('prefers the publisher transcript when the feed engine comes first and the episode has one', () => {
    const config = whisperTestConfig(models, { ASR_ENGINES: 'feed,whisper-cpp' });
    const withTag = createTranscribeStage().plan({ config, episode: episode({ transcripts: [{ url: 'https://example.com/t.vtt', type: 'text/vtt', language: 'en' }] }), inputs: {} });
    expect(withTag).toMatchObject({ configured: true, parts: { engine: 'feed' } });
    expect((withTag as { parts: Record<string, unknown> }).parts.preprocess).toBeUndefined();
    const without = createTranscribeStage().plan({ config, episode: episode(), inputs: {} });
    expect(without).toMatchObject({ configured: true, parts: { engine: 'whisper-cpp' } });
  });

  it('runs ffmpeg → VAD → whisper-cli and writes transcript.json (ARCHITECTURE §5) with engine info and the RTF metric', async () => {
    const before = await rtfCount();
    const ctx = contextFor(whisperTestConfig(models), ingestOf(JFK_MP3));
    const out = staging();
    const { info } = await createTranscribeStage().run(ctx, out);
    const t = JSON.parse(readFileSync(path.join(out.dir, TRANSCRIPT_FILE), 'utf8')) as Transcript;
    expect(Object.keys(t)).toEqual(['schema_version', 'episode_key', 'engine', 'model', 'language', 'duration_ms', 'segments', 'speech_coverage', 'status', 'quality']);
    expect(t).toMatchObject({ schema_version: 1, episode_key: 'feed-1:ep-1', engine: 'whisper-cpp', model: 'tiny', language: 'en' });
    expect(t.duration_ms).toBeGreaterThan(10_800);
    expect(t.segments.length).toBeGreaterThanOrEqual(1);
    expect(t.speech_coverage).not.toBeNull();
    expect(['valid', 'degraded']).toContain(t.status);
    expect(info).toMatchObject({ engine: 'whisper-cpp', model: 'tiny', status: t.status, duration_ms: t.duration_ms, vad: 'silero', skipped_engines: [] });
    expect(info.realtime_factor).toBeGreaterThan(0);
    expect(ctx.notes).toEqual(expect.arrayContaining(['preprocess', 'vad', 'whisper-cpp']));
    expect(await rtfCount()).toBe(before + 1);
    // Temp WAVs are gone: nothing of ours left in the OS temp dir for this run's audio.
    expect(readdirSync(out.dir)).toEqual([TRANSCRIPT_FILE]);
  }, 120_000);

  it('falls through to the next engine when one is unavailable at run time, and records why', async () => {
    const config = whisperTestConfig(models, { ASR_ENGINES: 'openai,feed' });
    const down: AsrEngine = {
      name: 'openai',
      unavailableReason: () => null,
      fingerprintParts: () => ({ engine: 'openai' }),
      transcribe: () => Promise.reject(new PodbrainError('asr_server_unavailable', 'ASR server not reachable', { unavailable: true })),
    };
    const publisher: AsrEngine = {
      name: 'feed',
      unavailableReason: () => null,
      fingerprintParts: () => ({ engine: 'feed' }),
      transcribe: () => Promise.resolve({ engine: 'feed', model: 'vtt', language: 'en', segments: [{ start_ms: 0, end_ms: 1500, text: 'hello there' }] }),
    };
    // The openai stand-in needs audio: preprocess + VAD run once, then it reports itself unavailable.
    const res = await transcribeEpisode({
      config, engines: [down, publisher], audioPath: JFK_MP3, transcripts: [], episodeKey: 'k', signal: new AbortController().signal, log: silentLogger,
    });
    expect(res.info.engine).toBe('feed');
    expect(res.info.skipped_engines).toEqual([{ engine: 'openai', reason: 'ASR server not reachable' }]);
    expect(res.info.realtime_factor).toBeNull();
    expect(res.transcript.speech_coverage).toBeNull();
    expect(res.transcript.duration_ms).toBeGreaterThan(10_800);
  }, 120_000);

  it('does not fall through on a real failure, and says which engines could not run when none can', async () => {
    const config = whisperTestConfig(models);
    const broken: AsrEngine = {
      name: 'feed',
      unavailableReason: () => null,
      fingerprintParts: () => ({ engine: 'feed' }),
      transcribe: () => Promise.reject(new PodbrainError('transcript_invalid', 'unparseable transcript')),
    };
    const never: AsrEngine = { ...broken, name: 'openai', unavailableReason: () => 'OPENAI_BASE_URL is not set' };
    const base = { config, audioPath: JFK_MP3, transcripts: [], episodeKey: 'k', signal: new AbortController().signal, log: silentLogger };
    await expect(transcribeEpisode({ ...base, engines: [broken, never] })).rejects.toMatchObject({ code: 'transcript_invalid' });
    await expect(transcribeEpisode({ ...base, engines: [never] })).rejects.toMatchObject({
      code: 'asr_unavailable',
      message: expect.stringMatching(/no ASR engine can transcribe this episode .*openai: OPENAI_BASE_URL is not set/),
    });
    // An ASR engine that is not set up here → the stage is "not configured" (episode incomplete), not failed...
    expect(isNotConfiguredError(await transcribeEpisode({ ...base, engines: [never] }).catch((e: unknown) => e))).toBe(true);
    // ...but when every engine was set up and tried, and none could, the episode failed.
    const gone: AsrEngine = { ...broken, transcribe: () => Promise.reject(new PodbrainError('transcript_unavailable', 'HTTP 404')) };
    const failed = await transcribeEpisode({ ...base, engines: [gone] }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'asr_unavailable' });
    expect(isNotConfiguredError(failed)).toBe(false);
  });

  it('with no VAD model it still skips silence (energy gate) and leaves coverage unmeasured', async () => {
    const config = whisperTestConfig(models, { WHISPER_VAD_MODEL: path.join(os.tmpdir(), 'no-such-silero.bin') });
    const res = await transcribeEpisode({
      config, engines: [createWhisperCppEngine(config, { logger: silentLogger })], audioPath: JFK_MP3, transcripts: [],
      episodeKey: 'k', signal: new AbortController().signal, log: silentLogger,
    });
    expect(res.info.vad).toBe('energy');
    expect(res.transcript.speech_coverage).toBeNull();
    expect(res.transcript.segments.length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('bad input: a text file named .mp3 fails the stage with a clear error', async () => {
    const dir = tempDir('txt');
    const fake = path.join(dir, 'x.mp3');
    writeFileSync(fake, 'not audio\n'.repeat(100));
    const ctx = contextFor(whisperTestConfig(models), ingestOf(fake));
    await expect(createTranscribeStage().run(ctx, staging())).rejects.toMatchObject({ code: 'audio_unreadable' });
  });

  it('bad input: 10 hours of silence finish fast (energy gate → no VAD, no whisper run) with an empty, valid transcript', async () => {
    const dir = tempDir('10h');
    const file = makeLongSilenceMp3(path.join(dir, 'silence-10h.mp3'), 10);
    const ctx = contextFor(whisperTestConfig(models), ingestOf(file));
    const out = staging();
    const started = Date.now();
    const { info } = await createTranscribeStage().run(ctx, out);
    const seconds = (Date.now() - started) / 1000;
    console.log(`10 h of silence transcribed in ${seconds.toFixed(1)} s (timings ms: ${JSON.stringify(info.timings_ms)})`);
    const t = JSON.parse(readFileSync(path.join(out.dir, TRANSCRIPT_FILE), 'utf8')) as Transcript;
    expect(t.duration_ms).toBeGreaterThan(35_990_000);
    expect(t.segments).toEqual([]);
    expect(t.status).toBe('valid');
    // One decode pass of 10 h of audio; whisper on 10 h would take hours on this box.
    // (~22 s for the decode pass on an idle 2-core box; the bound leaves room for a busy one.)
    expect(seconds).toBeLessThan(150);
    expect((info.timings_ms as { vad: number; asr: number }).vad).toBeLessThan(2000);
    expect((info.timings_ms as { vad: number; asr: number }).asr).toBeLessThan(1000);
    expect(existsSync(path.join(dir, 'silence-10h.mp3'))).toBe(true);
  }, 200_000);
});

describe('transcribe stage wiring', () => {
  it('needs the ingest artifact', () => {
    expect(createTranscribeStage().needs).toEqual(['ingest']);
  });

  it('fails clearly without an ingest artifact', async () => {
    const ctx = contextFor(whisperTestConfig(models), ingestOf(JFK_MP3));
    ctx.inputs = {};
    await expect(createTranscribeStage().run(ctx, staging())).rejects.toThrow(/ingest artifact is missing/);
  });
});
