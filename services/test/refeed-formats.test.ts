import { describe, expect, it } from 'vitest';
import { parseFeed } from '../src/feeds/parse';
import { renderRss, showNotes, xml, type RefeedItem } from '../src/refeed/rss';
import { toSrt, toTranscriptJson, toWebVtt } from '../src/refeed/transcript-formats';

const seg = (start_ms: number, end_ms: number, text: string, speaker: string | null = null) => ({ start_ms, end_ms, text, speaker });

describe('re-feed transcripts: WebVTT, SRT, JSON', () => {
  const segments = [seg(0, 999, 'First'), seg(1000, 1000, ''), seg(2000, 1500, 'end before start'), seg(-5, 10, 'negative'), seg(36_000_000 + 61_001, 36_000_000 + 62_000, 'ten hours'), seg(3000, 4000, 'a\n\nblank <b>line</b> &amp;', 'Dr. <X>\nY')];

  it('numbers the cues from 1 over the kept ones, clamps the times, writes HH:MM:SS.mmm', () => {
    const vtt = toWebVtt(segments);
    expect(vtt.startsWith('WEBVTT\n\n1\n00:00:00.000 --> 00:00:00.999\nFirst\n')).toBe(true);
    expect(vtt).toContain('2\n00:00:02.000 --> 00:00:02.000\nend before start\n');
    expect(vtt).toContain('3\n00:00:00.000 --> 00:00:00.010\nnegative\n');
    expect(vtt).toContain('4\n10:01:01.001 --> 10:01:02.000\nten hours\n');
    // Speaker as a voice span; the text escaped; no blank line inside a cue.
    expect(vtt).toContain('5\n00:00:03.000 --> 00:00:04.000\n<v Dr. &lt;X&gt; Y>a blank &lt;b&gt;line&lt;/b&gt; &amp;amp;\n');
    expect(vtt.match(/-->/g)).toHaveLength(5);
  });

  it('SRT: comma milliseconds, speaker prefix, arrows in the words defused', () => {
    const srt = toSrt([...segments, seg(5000, 6000, 'x --> y')]);
    expect(srt.startsWith('1\n00:00:00,000 --> 00:00:00,999\nFirst\n\n2\n')).toBe(true);
    expect(srt).toContain('5\n00:00:03,000 --> 00:00:04,000\nDr. <X> Y: a blank <b>line</b> &amp;\n');
    expect(srt).toContain('6\n00:00:05,000 --> 00:00:06,000\nx -> y\n');
    expect(toSrt([])).toBe('');
    expect(toWebVtt([seg(0, 1, '  ')])).toBe('WEBVTT\n');
  });

  it('JSON: the Podcasting 2.0 transcript shape in seconds', () => {
    expect(toTranscriptJson([seg(1500, 2250, ' hi ', 'Ann'), seg(0, 0, '')])).toEqual({ version: '1.0.0', segments: [{ speaker: 'Ann', startTime: 1.5, endTime: 2.25, body: 'hi' }] });
  });
});

describe('re-feed RSS', () => {
  const item = (over: Partial<RefeedItem>): RefeedItem => ({
    title: 'T',
    guid: 'g',
    link: 'https://v.example/episodes/k',
    published: new Date('2024-01-02T03:04:05Z'),
    durationS: 61.4,
    enclosure: { url: 'https://cdn.example/a.mp3?x=1&y=2', type: 'audio/mpeg', length: 10 },
    showNotes: '<p>notes</p>',
    transcripts: [{ url: 'https://v.example/t.vtt', type: 'text/vtt', language: null }],
    chaptersUrl: null,
    image: null,
    ...over,
  });
  const channel = { title: 'Show (podbrain)', link: 'https://v.example', selfUrl: 'https://v.example/api/refeed/x/feed.xml', description: 'd', image: null, language: null };

  it('stays well-formed and round-trips any hostile text through the parser', () => {
    const hostile = ['a ]]> b', '</title></item></channel></rss><x>', '&amp; &bogus; &#0; &', '"\'<>', 'ctl\u0001\u0008\u000b\u001f\ufffe\ud800 end', '<![CDATA[ z ]]>'];
    const doc = renderRss({ ...channel, title: hostile.join(' | '), description: hostile.join(' ') }, hostile.map((h, i) => item({ title: h, guid: `g${i}${h}`, showNotes: h })));
    const feed = parseFeed(doc);
    expect(feed.episodes).toHaveLength(hostile.length);
    const clean = (s: string) => s.replace(/[\u0001\u0008\u000b\u001f\ufffe\ud800]/g, '').replace(/\s+/g, ' ').trim();
    expect(feed.episodes.map((e) => e.title)).toEqual(hostile.map(clean));
    expect(feed.episodes.map((e) => e.guid)).toEqual(hostile.map((h, i) => clean(`g${i}${h}`)));
    expect(feed.episodes[0].enclosure).toEqual({ url: 'https://cdn.example/a.mp3?x=1&y=2', type: 'audio/mpeg', length: 10 });
    expect(feed.episodes[0].durationS).toBe(61);
    expect(feed.episodes[0].transcripts).toEqual([expect.objectContaining({ url: 'https://v.example/t.vtt', type: 'text/vtt' })]);
  });

  it('escapes podbrain’s own text in the show notes, keeps the publisher’s HTML', () => {
    const html = showNotes('<p>Publisher <i>x</i></p>', { summary: ['<script>x</script>'], insights: [{ text: 'a & b', start_ms: 3_725_000, url: 'https://v.example/episodes/k?t=3725&"' }, { text: 'no time', start_ms: null, url: null }], viewerUrl: 'https://v.example/episodes/k' });
    expect(html).toContain('<p>Publisher <i>x</i></p>');
    expect(html).toContain('<li>&lt;script&gt;x&lt;/script&gt;</li>');
    expect(html).toContain('<li><a href="https://v.example/episodes/k?t=3725&amp;&quot;">1:02:05</a> a &amp; b</li><li>no time</li>');
    expect(xml('a\u0000<b>')).toBe('a&lt;b&gt;');
  });
});
