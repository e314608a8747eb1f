import { existsSync, readdirSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nonSilentFromLog, preprocessAudio, preprocessTimeoutMs } from '../src/audio/preprocess';
import { readWavInfo } from '../src/audio/wav';
import { PodbrainError } from '../src/core/errors';
import {
  ffmpeg,
  JFK_MP3,
  makeSpeechBetweenSilence,
  makeToneMp3,
  makeVideoWithAudio,
  makeVideoWithoutAudio,
  streamInfo,
  tempDir,
  writeTextAsMp3,
} from './support/audio';
import { fixture } from './support/fixtures';

const work = tempDir('pre');
const tmpParent = tempDir('pre-tmp');

async function rejection(p: Promise<unknown>): Promise<PodbrainError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(PodbrainError);
  return e as PodbrainError;
}

afterAll(() => {
  // Every failure path must have removed its temp directory.
  expect(readdirSync(tmpParent)).toEqual([]);
});

describe('preprocessAudio', () => {
  it('turns an MP3 into a 16 kHz mono s16 WAV, measures its duration and removes its temp dir on cleanup', async () => {
    const audio = await preprocessAudio(JFK_MP3, { tmpDir: tmpParent });
    try {
      expect(streamInfo(audio.wavPath)).toEqual({ codec: 'pcm_s16le', rate: 16000, channels: 1, fmt: 's16' });
      expect(audio.durationMs).toBeGreaterThan(10_800);
      expect(audio.durationMs).toBeLessThan(11_200);
      expect(audio.probe.format).toBe('mp3');
      // The JFK clip is speech from ~0.3 s to ~10.6 s: the energy gate keeps it as one stretch.
      expect(audio.nonSilent.length).toBeGreaterThanOrEqual(1);
      expect(audio.nonSilent[0].start_ms).toBeLessThan(1000);
    } finally {
      await audio.cleanup();
    }
    expect(existsSync(audio.wavPath)).toBe(false);
    expect(readdirSync(tmpParent)).toEqual([]);
  });

  it('normalises loudness: a quiet file comes out louder (dynaudnorm), and AUDIO_NORMALIZE=none leaves it alone', async () => {
    const quiet = path.join(work, 'quiet.mp3');
    // dynaudnorm looks at a ~15 s window: a minute of quiet speech, like a badly levelled podcast.
    ffmpeg('-stream_loop', '5', '-i', fixture('audio', 'jfk.wav'), '-af', 'volume=-30dB', '-c:a', 'libmp3lame', '-b:a', '64k', quiet);
    const peak = async (normalize: 'dynaudnorm' | 'none') => {
      const a = await preprocessAudio(quiet, { tmpDir: tmpParent, normalize });
      try {
        const info = await readWavInfo(a.wavPath);
        const pcm = readFileSync(a.wavPath).subarray(info.dataOffset);
        let max = 0;
        for (let i = 0; i + 1 < pcm.length; i += 2) max = Math.max(max, Math.abs(pcm.readInt16LE(i)));
        return max;
      } finally {
        await a.cleanup();
      }
    };
    const raw = await peak('none');
    const normalised = await peak('dynaudnorm');
    expect(normalised).toBeGreaterThan(raw * 4);
  });

  it('finds silence around speech with the energy gate (one ffmpeg pass)', async () => {
    const file = makeSpeechBetweenSilence(path.join(work, 'gap.wav'), 20);
    const audio = await preprocessAudio(file, { tmpDir: tmpParent });
    try {
      expect(audio.durationMs).toBeGreaterThan(50_000);
      expect(audio.nonSilent.length).toBe(1);
      expect(audio.nonSilent[0].start_ms).toBeGreaterThan(19_000);
      expect(audio.nonSilent[0].end_ms).toBeLessThan(32_000);
    } finally {
      await audio.cleanup();
    }
  });

  it('bad input: a video file with an audio track gives the audio track', async () => {
    const video = makeVideoWithAudio(path.join(work, 'talk.mp4'));
    const audio = await preprocessAudio(video, { tmpDir: tmpParent });
    try {
      expect(audio.probe.hasVideo).toBe(true);
      expect(streamInfo(audio.wavPath).rate).toBe(16000);
      expect(audio.durationMs).toBeGreaterThan(10_500);
    } finally {
      await audio.cleanup();
    }
  });

  it('bad input: a zero-byte file is refused as empty', async () => {
    const empty = path.join(work, 'empty.mp3');
    writeFileSync(empty, '');
    const e = await rejection(preprocessAudio(empty, { tmpDir: tmpParent }));
    expect(e.code).toBe('audio_empty');
    expect(e.message).toMatch(/empty \(0 bytes\)/);
  });

  it('bad input: a truncated MP3 is refused with what was decoded vs announced', async () => {
    const cut = path.join(work, 'truncated.mp3');
    writeFileSync(cut, readFileSync(JFK_MP3).subarray(0, 38_000));
    const e = await rejection(preprocessAudio(cut, { tmpDir: tmpParent }));
    expect(e.code).toBe('audio_truncated');
    expect(e.message).toMatch(/truncated: decoded 5\.\d s of the 11\.1 s its header announces/);
  });

  it('bad input: an MP3 cut inside its first frame decodes nothing and is refused as truncated', async () => {
    const cut = path.join(work, 'stub.mp3');
    writeFileSync(cut, readFileSync(JFK_MP3).subarray(0, 600));
    const e = await rejection(preprocessAudio(cut, { tmpDir: tmpParent }));
    expect(e.code).toBe('audio_truncated');
    expect(e.message).toMatch(/no audio frame could be decoded/);
  });

  it('bad input: a text file named .mp3 is refused as not audio', async () => {
    const e = await rejection(preprocessAudio(writeTextAsMp3(path.join(work, 'notes.mp3')), { tmpDir: tmpParent }));
    expect(e.code).toBe('audio_unreadable');
    expect(e.message).toMatch(/not an audio or video file/);
  });

  it('bad input: a video without an audio track is refused', async () => {
    const e = await rejection(preprocessAudio(makeVideoWithoutAudio(path.join(work, 'mute.mp4')), { tmpDir: tmpParent }));
    expect(e.code).toBe('audio_no_stream');
    expect(e.message).toMatch(/no audio stream \(streams: video\)/);
  });

  it('a missing file is refused', async () => {
    const e = await rejection(preprocessAudio(path.join(work, 'nope.mp3'), { tmpDir: tmpParent }));
    expect(e.code).toBe('audio_missing');
  });

  it('kills ffmpeg at the timeout and cleans up', async () => {
    const long = makeToneMp3(path.join(work, 'tone.mp3'), 120);
    const e = await rejection(preprocessAudio(long, { tmpDir: tmpParent, timeoutMs: 30 }));
    expect(e.code).toBe('preprocess_timeout');
  });

  it('stops when aborted', async () => {
    const long = path.join(work, 'tone2.mp3');
    copyFileSync(makeToneMp3(path.join(work, 'tone-src.mp3'), 120), long);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new PodbrainError('aborted', 'test abort')), 20);
    const e = await rejection(preprocessAudio(long, { tmpDir: tmpParent, signal: ac.signal }));
    expect(e.code).toBe('aborted');
  });
});

describe('preprocess helpers', () => {
  it('scales the timeout with the duration (at least 4× real time, plus a minute)', () => {
    expect(preprocessTimeoutMs(3_600_000, 0)).toBe(60_000 + 900_000);
    expect(preprocessTimeoutMs(null, 2000 * 3600)).toBe(60_000 + 900_000);
  });

  it('turns silencedetect lines into non-silent spans, closing a silence open at the end', () => {
    const lines = ['[silencedetect @ 0x1] silence_start: 0', '[silencedetect @ 0x1] silence_end: 2.5 | silence_duration: 2.5', '[silencedetect @ 0x1] silence_start: 8'];
    expect(nonSilentFromLog(lines, 10_000)).toEqual([{ start_ms: 2500, end_ms: 8000 }]);
    expect(nonSilentFromLog([], 10_000)).toEqual([{ start_ms: 0, end_ms: 10_000 }]);
    expect(nonSilentFromLog(['silence_start: 0'], 10_000)).toEqual([]);
  });
});
