import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAsrEngines } from '../src/asr/engines';
import { loadConfig } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import type { TranscriptRef } from '../src/feeds/types';
import { transcribeEpisode } from '../src/stages/transcribe.stage';
import { type FakeOpenAiAsr, speech, startFakeOpenAiAsr } from './support/fake-openai-asr';
import { fixture } from './support/fixtures';
import { type FixtureServer, serveBody, startFixtureServer, status } from './support/http-fixture-server';

/** Publisher transcripts inside the transcribe stage: preferred over ASR, and falling back to it. */

const VTT = 'WEBVTT\n\n00:00.000 --> 00:04.000\n<v Host>And so, my fellow Americans,\n\n00:04.000 --> 00:11.000\nask not what your country can do for you.\n';
const LOOP_SRT = Array.from({ length: 30 }, (_, i) => `${i + 1}\n00:00:${String(i).padStart(2, '0')},000 --> 00:00:${String(i).padStart(2, '0')},900\nThank you.\n`).join('\n');

let web: FixtureServer;
let asr: FakeOpenAiAsr;

beforeAll(async () => {
  web = await startFixtureServer();
  web.route('/ep.vtt', serveBody(VTT, { contentType: 'text/vtt' }));
  web.route('/gone.vtt', status(404));
  web.route('/ep.txt', serveBody('And so, my fellow Americans, ask not what your country can do for you.\n\nAsk what you can do for your country.', { contentType: 'text/plain' }));
  web.route('/loop.srt', serveBody(LOOP_SRT, { contentType: 'application/srt' }));
  asr = await startFakeOpenAiAsr();
});

afterAll(async () => {
  await web.close();
  await asr.close();
});

beforeEach(() => {
  asr.requests.length = 0;
  asr.behave(speech());
});

async function transcribe(transcripts: TranscriptRef[]) {
  const config = loadConfig({
    env: { ASR_ENGINES: 'feed,openai', OPENAI_BASE_URL: asr.baseUrl, ALLOW_PRIVATE_NETWORK: 'true', OPENAI_ASR_RETRY_BASE_MS: '5', LOG_LEVEL: 'silent' },
  });
  return transcribeEpisode({
    config,
    engines: createAsrEngines(config, { logger: silentLogger }),
    audioPath: fixture('audio', 'jfk.wav'),
    transcripts,
    episodeKey: 'feed:test:ep1',
    signal: new AbortController().signal,
    log: silentLogger,
  });
}

describe('transcribe stage with publisher transcripts (ASR_ENGINES=feed,openai)', () => {
  it('uses the publisher transcript and never touches the audio or the ASR server', async () => {
    const { transcript, info } = await transcribe([{ url: web.url('/ep.vtt'), type: 'text/vtt', language: 'en' }]);
    expect(transcript).toMatchObject({
      schema_version: 1,
      episode_key: 'feed:test:ep1',
      engine: 'feed',
      model: 'podcast:transcript/vtt',
      language: 'en',
      speech_coverage: null,
      status: 'valid',
      quality: { reasons: [] },
      segments: [
        { start_ms: 0, end_ms: 4000, text: 'And so, my fellow Americans,', speaker: 'Host' },
        { start_ms: 4000, end_ms: 11_000, text: 'ask not what your country can do for you.', speaker: 'Host' },
      ],
    });
    expect(transcript.source).toMatchObject({ url: web.url('/ep.vtt'), format: 'vtt', timing: 'cues' });
    expect(info).toMatchObject({ engine: 'feed', vad: 'none', realtime_factor: null, skipped_engines: [] });
    expect(info.timings_ms.preprocess).toBe(0);
    expect(asr.requests).toHaveLength(0);
  });

  it('a plain-text transcript has no times: they are spread over the audio and the JSON says they are estimated', async () => {
    const { transcript } = await transcribe([{ url: web.url('/ep.txt'), type: 'text/plain', language: 'en' }]);
    expect(transcript.engine).toBe('feed');
    expect(transcript.source).toMatchObject({ format: 'text', timing: 'estimated' });
    expect(transcript.segments.length).toBeGreaterThan(0);
    expect(transcript.segments[transcript.segments.length - 1].end_ms).toBeLessThanOrEqual(transcript.duration_ms);
  });

  it('falls back to ASR when the publisher transcript is gone, and says why', async () => {
    const { transcript, info } = await transcribe([{ url: web.url('/gone.vtt'), type: 'text/vtt', language: 'en' }]);
    expect(transcript.engine).toBe('openai');
    expect(asr.requests).toHaveLength(1);
    expect(info.skipped_engines).toEqual([{ engine: 'feed', reason: expect.stringMatching(/gone\.vtt returned HTTP 404/) }]);
  });

  it('falls back to ASR when the episode lists no transcript', async () => {
    const { transcript, info } = await transcribe([]);
    expect(transcript.engine).toBe('openai');
    expect(info.skipped_engines).toEqual([{ engine: 'feed', reason: expect.stringMatching(/lists no publisher transcript/) }]);
  });

  it('applies the repetition guard to publisher transcripts too', async () => {
    const { transcript } = await transcribe([{ url: web.url('/loop.srt'), type: 'application/srt', language: null }]);
    expect(transcript).toMatchObject({ engine: 'feed', status: 'degraded', speech_coverage: null });
    expect(transcript.quality.reasons).toEqual([expect.stringMatching(/^repetition_loop: /)]);
  });
});
