/**
 * Transcripts built from real fixture text (episode descriptions of the real feeds in
 * /work/shared/fixtures/feeds/real), for enrichment tests: sentences become segments with
 * times at ~150 words per minute and alternating speakers. Repeats the text (varying the
 * speaker) when more minutes are asked for than the feeds hold.
 */
import { readFileSync } from 'node:fs';
import { decodeHTML } from 'entities';
import type { Transcript, TranscriptSegment } from '../../src/asr/types';
import { parseFeed } from '../../src/feeds/parse';
import { fixture } from './fixtures';

export function fixtureSentences(feeds: string[] = ['1865.xml']): string[] {
  const out: string[] = [];
  for (const f of feeds) {
    const feed = parseFeed(readFileSync(fixture('feeds', 'real', f)));
    for (const e of feed.episodes) {
      const text = decodeHTML((e.contentHtml ?? e.description ?? '').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();
      for (const s of text.split(/(?<=[a-z0-9)"”’][.!?])\s+(?=[A-Z"“])/)) {
        const t = s.trim();
        // Show-note debris (links, handles, lists of names) is not speech.
        if (t.split(' ').length >= 5 && !/https?:|www\.|@\w|\.com\b/i.test(t)) out.push(t);
      }
    }
  }
  return out;
}

export function fixtureTranscript(opts: { minutes: number; feeds?: string[]; episodeKey?: string; wpm?: number }): Transcript {
  const sentences = fixtureSentences(opts.feeds);
  const wpm = opts.wpm ?? 150;
  const targetMs = opts.minutes * 60_000;
  const segments: TranscriptSegment[] = [];
  let t = 0;
  for (let round = 0; t < targetMs; round++) {
    for (let i = 0; i < sentences.length && t < targetMs; i++) {
      const text = sentences[i];
      const ms = Math.round((text.split(' ').length / wpm) * 60_000);
      segments.push({ start_ms: t, end_ms: t + ms, text, speaker: `SPEAKER_0${(Math.floor(i / 3) + round) % 2}` });
      t += ms + 200;
    }
  }
  return {
    schema_version: 1,
    episode_key: opts.episodeKey ?? 'fixture-episode',
    engine: 'feed',
    model: 'fixture',
    language: 'en',
    duration_ms: t,
    segments,
    speech_coverage: null,
    status: 'valid',
    quality: { reasons: [] },
  };
}
