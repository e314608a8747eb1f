import { describe, expect, it } from 'vitest';
import { momentUrl, progressLine, quoteText, skipReason, stageWords } from '../src/episode-problem';

describe('episode problem words', () => {
  it('names stages as a reader would, and unknown ones as they are', () => {
    expect(stageWords('ingest')).toBe('downloading the audio');
    expect(stageWords('transcribe')).toBe('transcribing');
    expect(stageWords('warp')).toBe('warp');
    expect(stageWords(null)).toBe('processing');
  });

  it('gives running states a step, and none to finished ones', () => {
    expect(progressLine('pending')).toEqual({ text: 'Queued: waiting for a worker', step: 1, of: 6 });
    expect(progressLine('transcribing')).toMatchObject({ step: 3, of: 6 });
    for (const s of ['done', 'failed', 'skipped'] as const) expect(progressLine(s)).toBeNull();
  });

  it('says why an episode was skipped and whether Process now can help', () => {
    expect(skipReason('filtered: shorter than 300 s (120 s)')).toEqual({ kind: 'filter', text: "Left out by this feed's filters.", detail: 'shorter than 300 s (120 s)', processable: true });
    expect(skipReason('backfill policy: not among the newest 3 when the feed was added')).toMatchObject({ kind: 'backfill', processable: true, detail: 'not among the newest 3 when the feed was added' });
    expect(skipReason('no enclosure: the feed item has no audio to transcribe')).toMatchObject({ kind: 'no-audio', processable: false, detail: null });
    expect(skipReason('not configured: transcribe: no ASR engine')).toEqual({ kind: 'not-configured', text: 'This server is not set up for transcribing yet.', detail: 'no ASR engine', processable: false });
    expect(skipReason(null)).toMatchObject({ kind: 'other', detail: null, processable: true });
  });

  it('writes moment links and quote text', () => {
    const link = momentUrl('https://pod.example', 'feed 1/ep', 1_203_500);
    expect(link).toBe('https://pod.example/episodes/feed%201%2Fep?t=1203.5');
    expect(quoteText({ text: ' spot ETFs ', start_ms: 754_000 }, { title: 'The ETF', feed_title: 'Money Talk' }, link)).toBe(`“spot ETFs” — Money Talk, The ETF (12:34) ${link}`);
    expect(quoteText({ text: 'x', start_ms: 0 }, { title: 'Only the episode', feed_title: null }, 'L')).toBe('“x” — Only the episode (0:00) L');
  });
});
