import { describe, expect, it } from 'vitest';
import {
  formatOf,
  parseClockTime,
  parseCueTime,
  parseHtmlTranscript,
  parsePlainText,
  parsePodcastJson,
  parseSrt,
  parseTranscript,
  parseVtt,
  sniffFormat,
} from '../src/asr/feed/formats';

// Snippets from the Podcasting 2.0 transcript spec and its example files
// (github.com/Podcastindex-org/podcast-namespace, docs/examples/transcripts/), real Buzzsprout output.
const SPEC_SRT = `1
00:00:00,000 --> 00:00:02,760
Sarah: In today's episode,
you'll learn whether or not you

2
00:00:02,760 --> 00:00:06,090
should have a podcast trailer.
And if so, what should you

3
00:00:06,090 --> 00:00:11,610
include in one? Welcome to
Podcasting Q&A, where you learn

6
00:00:19,080 --> 00:00:21,450
Gillian: Hi Buzzsprout, Gillian
here from breaking through
`;

const SPEC_VTT = `WEBVTT

00:00:00.000 --> 00:00:02.760
<v Sarah>In today's episode, you'll learn whether or not you

00:00:02.760 --> 00:00:06.090
<v Sarah>should have a podcast trailer. And if so, what should you

00:00:06.090 --> 00:00:11.610
<v Sarah>include in one? Welcome to Podcasting Q&amp;A, where you learn

00:00:19.080 --> 00:00:21.450
<v Gillian>Hi Buzzsprout, Gillian here from breaking through

00:00:21.450 --> 00:00:25.350
careers podcast. My question is, do we need a podcast trailer?
`;

const SPEC_JSON = JSON.stringify({
  version: '1.0.0',
  segments: [
    { speaker: 'Darth Vader', startTime: 0.5, endTime: 0.75, body: 'I' },
    { speaker: 'Darth Vader', startTime: 1, endTime: 1.25, body: 'am' },
    { speaker: 'Darth Vader', startTime: 1.5, endTime: 2.0, body: 'your' },
    { speaker: 'Darth Vader', startTime: 2.25, endTime: 2.5, body: 'father.\n' },
    { speaker: 'Luke', startTime: 2.75, endTime: 3.0, body: 'Nooooo' },
  ],
});

const SPEC_HTML = `<cite>Travis:</cite>
<time>0:00</time>
<p>When you first get started in podcasting, it&#39;s almost guaranteed that you&#39;re going to make a handful of rookie mistakes.</p>
<cite>Sarah:</cite>
<time>0:53</time>
<p>Creating good audio is really key to keeping your podcast listeners engaged.</p>
<cite>Travis:</cite>
<time>1:42</time>
<p>Now, when you&#39;re creating your podcast intro, there&#39;s a couple of things.</p>
`;

describe('cue times', () => {
  it.each([
    ['00:00:02,760', 2760],
    ['00:01:02.5', 62_500],
    ['01:02.345', 62_345],
    ['1:02:03', 3_723_000],
    ['100:00:00.000', 360_000_000],
  ])('%s → %d ms', (raw, ms) => expect(parseCueTime(raw)).toBe(ms));

  it.each(['00:61:00,000', '0:00:aa,000', '12', '', '1:2:3:4'])('%j is not a cue time', (raw) => expect(parseCueTime(raw)).toBeNull());

  it('reads clock times of HTML transcripts', () => {
    expect(parseClockTime('0:53')).toBe(53_000);
    expect(parseClockTime('1:02:03')).toBe(3_723_000);
    expect(parseClockTime('12.5')).toBe(12_500);
    expect(parseClockTime('PT1M2.5S')).toBe(62_500);
    expect(parseClockTime('soon')).toBeNull();
  });
});

describe('SRT', () => {
  it('parses the spec example with speaker names carried to the following cards', () => {
    const t = parseSrt(SPEC_SRT);
    expect(t.warnings).toEqual([]);
    expect(t.segments).toEqual([
      { start_ms: 0, end_ms: 2760, text: "In today's episode, you'll learn whether or not you", speaker: 'Sarah' },
      { start_ms: 2760, end_ms: 6090, text: 'should have a podcast trailer. And if so, what should you', speaker: 'Sarah' },
      { start_ms: 6090, end_ms: 11_610, text: 'include in one? Welcome to Podcasting Q&A, where you learn', speaker: 'Sarah' },
      { start_ms: 19_080, end_ms: 21_450, text: 'Hi Buzzsprout, Gillian here from breaking through', speaker: 'Gillian' },
    ]);
  });

  it('survives a BOM, CRLF line ends, missing blank lines and formatting tags', () => {
    const raw = '\uFEFF1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> {\\an8}there\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nsecond &amp; last\r\n';
    const t = parseSrt(raw);
    expect(t.segments).toEqual([
      { start_ms: 1000, end_ms: 2500, text: 'Hello there' },
      { start_ms: 3000, end_ms: 4000, text: 'second & last' },
    ]);
  });

  it('drops cues with bad timestamps and keeps the rest, with warnings', () => {
    const raw = `1
00:00:01,000 --> 00:00:02,000
good one

2
00:00:aa,000 --> 00:00:03,000
bad start

3
00:00:05,000 -> 00:00:06,000
bad arrow

4
00:00:09,000 --> 00:00:08,000
ends before it starts

5
00:00:10,000 --> 00:00:11,000
good two
`;
    const t = parseSrt(raw);
    expect(t.segments.map((s) => s.text)).toEqual(['good one', 'ends before it starts', 'good two']);
    expect(t.segments[1]).toMatchObject({ start_ms: 9000, end_ms: 9000 });
    expect(t.warnings).toHaveLength(2);
    expect(t.warnings[0]).toMatch(/^line 6: bad cue timing "00:00:aa,000 --> 00:00:03,000"; cue dropped$/);
    expect(t.warnings[1]).toMatch(/line 14: cue ends before it starts/);
  });

  it('sorts cues that come out of order', () => {
    const t = parseSrt('2\n00:00:05,000 --> 00:00:06,000\nlater\n\n1\n00:00:01,000 --> 00:00:02,000\nearlier\n');
    expect(t.segments.map((s) => s.text)).toEqual(['earlier', 'later']);
  });
});

describe('WebVTT', () => {
  it('parses the spec example: voice tags give the speaker, entities decoded, speaker carried on', () => {
    const t = parseVtt(SPEC_VTT);
    expect(t.warnings).toEqual([]);
    expect(t.segments).toHaveLength(5);
    expect(t.segments[2]).toEqual({ start_ms: 6090, end_ms: 11_610, text: 'include in one? Welcome to Podcasting Q&A, where you learn', speaker: 'Sarah' });
    expect(t.segments[3].speaker).toBe('Gillian');
    expect(t.segments[4]).toMatchObject({ start_ms: 21_450, speaker: 'Gillian', text: 'careers podcast. My question is, do we need a podcast trailer?' });
  });

  it('skips header metadata, NOTE/STYLE/REGION blocks, cue identifiers and cue settings', () => {
    const raw = `\uFEFFWEBVTT - podcast episode 12
Kind: captions
Language: en

NOTE This transcript was made by hand
and reviewed twice

STYLE
::cue { color: yellow }

REGION
id:fred width:40%

intro
00:01.000 --> 00:04.000 align:start position:10% line:0
<v.loud Jane Doe>Welcome <b>back</b>, <c.yellow>everyone</c>!</v>

2
00:00:04.500 --> 00:00:06.000
<00:00:04.700>karaoke <00:00:05.000>timestamps &lt;stripped&gt;
`;
    const t = parseVtt(raw);
    expect(t.warnings).toEqual([]);
    expect(t.segments).toEqual([
      { start_ms: 1000, end_ms: 4000, text: 'Welcome back, everyone!', speaker: 'Jane Doe' },
      { start_ms: 4500, end_ms: 6000, text: 'karaoke timestamps <stripped>', speaker: 'Jane Doe' },
    ]);
  });

  it('reads cues without a header or blank lines, with a warning', () => {
    const t = parseVtt('00:00:01.000 --> 00:00:02.000\nno header\n00:00:02.000 --> 00:00:03.000\nno blank line\n');
    expect(t.segments.map((s) => s.text)).toEqual(['no header', 'no blank line']);
    expect(t.warnings).toEqual(['missing WEBVTT header']);
  });
});

describe('Podcasting 2.0 JSON', () => {
  it('parses the spec example (seconds → ms, speakers kept)', () => {
    const t = parsePodcastJson(SPEC_JSON);
    expect(t.segments[0]).toEqual({ start_ms: 500, end_ms: 750, text: 'I', speaker: 'Darth Vader' });
    expect(t.segments).toHaveLength(5);
  });

  it('joins word-level segments into sentences per speaker', () => {
    const words = 'Hello and welcome to the show. Today we talk about transcripts and why they matter so much.'.split(' ');
    const segments = [
      ...words.map((w, i) => ({ speaker: 'Host', startTime: i * 0.4, endTime: i * 0.4 + 0.3, body: w })),
      { speaker: 'Guest', startTime: 8, endTime: 8.4, body: 'Thanks!' },
    ];
    const t = parsePodcastJson(JSON.stringify({ version: '1.0.0', segments }));
    expect(t.segments).toEqual([
      { start_ms: 0, end_ms: 2300, text: 'Hello and welcome to the show.', speaker: 'Host' },
      { start_ms: 2400, end_ms: 6700, text: 'Today we talk about transcripts and why they matter so much.', speaker: 'Host' },
      { start_ms: 8000, end_ms: 8400, text: 'Thanks!', speaker: 'Guest' },
    ]);
  });

  it('drops malformed segments and reports broken documents', () => {
    const t = parsePodcastJson(JSON.stringify({ segments: [{ startTime: 'x', body: 'no time' }, { startTime: '1.5', endTime: 2, body: 'string time ok' }, { startTime: 3 }] }));
    expect(t.segments).toEqual([{ start_ms: 1500, end_ms: 2000, text: 'string time ok' }]);
    expect(t.warnings).toHaveLength(2);
    expect(parsePodcastJson('{"segments": [').warnings[0]).toMatch(/^not valid JSON/);
    expect(parsePodcastJson('\uFEFF' + SPEC_JSON).segments).toHaveLength(5);
    expect(parsePodcastJson('{"version": "1"}')).toMatchObject({ segments: [], warnings: ['no "segments" array'] });
  });
});

describe('HTML', () => {
  it('parses the spec layout: cite → speaker, time → start, p → text', () => {
    const t = parseHtmlTranscript(SPEC_HTML, { durationMs: 150_000 });
    expect(t.timing).toBe('cues');
    expect(t.segments.map((s) => [s.start_ms, s.end_ms, s.speaker])).toEqual([
      [0, 53_000, 'Travis'],
      [53_000, 102_000, 'Sarah'],
      [102_000, 150_000, 'Travis'],
    ]);
    expect(t.segments[0].text).toBe("When you first get started in podcasting, it's almost guaranteed that you're going to make a handful of rookie mistakes.");
  });

  it('spreads paragraphs without times over the audio duration', () => {
    const html = '<html><head><title>x</title><style>p{}</style></head><body><p>First paragraph here.</p><p>Second, <b>twice</b> as long as that one.</p><script>var p="<p>no</p>"</script></body></html>';
    const t = parseHtmlTranscript(html, { durationMs: 60_000 });
    expect(t.timing).toBe('estimated');
    expect(t.segments.map((s) => s.text)).toEqual(['First paragraph here.', 'Second, twice as long as that one.']);
    expect(t.segments[0].start_ms).toBe(0);
    expect(t.segments[1].end_ms).toBe(60_000);
    expect(t.segments[0].end_ms).toBe(t.segments[1].start_ms);
  });

  it('reads nested speaker/time and falls back to page text without <p>', () => {
    const nested = parseHtmlTranscript('<p><cite>Ann:</cite> <time datetime="PT5S">0:05</time> Hi there.</p><p><cite>Bob:</cite><time>0:09</time>Hello.</p>');
    expect(nested.segments.map((s) => [s.speaker, s.start_ms, s.text])).toEqual([
      ['Ann', 5000, 'Hi there.'],
      ['Bob', 9000, 'Hello.'],
    ]);
    const unclosed = parseHtmlTranscript('<cite>Ann:</cite><time>0:01</time><p>closed</p><p>never closed <b>bold</b>');
    expect(unclosed.segments.map((s) => s.text)).toEqual(['closed', 'never closed bold']);
    expect(parseHtmlTranscript('<p>one<p>two</p><p>three').segments.map((s) => s.text)).toEqual(['one', 'two', 'three']);
    const divs = parseHtmlTranscript('<div>Line one of the page.</div><div>Line two.</div>');
    expect(divs.segments.map((s) => s.text)).toEqual(['Line one of the page.', 'Line two.']);
    expect(divs.warnings).toContain('no <p> elements; read as plain text');
  });
});

describe('plain text', () => {
  it('makes one segment of a text without paragraphs', () => {
    const t = parsePlainText('Just one block\nof text over\ntwo lines.', { durationMs: 10_000 });
    expect(t).toMatchObject({ timing: 'estimated', segments: [{ start_ms: 0, end_ms: 10_000, text: 'Just one block of text over two lines.' }] });
  });

  it('splits paragraphs and reads leading timestamps', () => {
    const t = parsePlainText('\uFEFF[00:00] Intro words.\r\n\r\n[01:30] Main part.\r\n\r\n\r\n[1:02:03] Outro.');
    expect(t.timing).toBe('cues');
    expect(t.segments.map((s) => [s.start_ms, s.text])).toEqual([
      [0, 'Intro words.'],
      [90_000, 'Main part.'],
      [3_723_000, 'Outro.'],
    ]);
    expect(t.segments[0].end_ms).toBe(90_000);
  });
});

describe('format detection', () => {
  it('maps MIME types and extensions', () => {
    expect(formatOf('application/srt')).toBe('srt');
    expect(formatOf('application/x-subrip')).toBe('srt');
    expect(formatOf('text/vtt; charset=utf-8')).toBe('vtt');
    expect(formatOf('application/json')).toBe('json');
    expect(formatOf('text/html')).toBe('html');
    expect(formatOf('text/plain')).toBe('text');
    expect(formatOf('application/octet-stream', 'https://x.test/ep1.vtt?sig=1')).toBe('vtt');
    expect(formatOf('application/octet-stream', 'https://x.test/ep1')).toBeNull();
  });

  it('sniffs the content, which wins over a wrong MIME type', () => {
    expect(sniffFormat(SPEC_SRT)).toBe('srt');
    expect(sniffFormat('\uFEFFWEBVTT\n')).toBe('vtt');
    expect(sniffFormat(SPEC_JSON)).toBe('json');
    expect(sniffFormat(SPEC_HTML)).toBe('html');
    expect(sniffFormat('Hello world')).toBeNull();
    const served = parseTranscript(SPEC_SRT, 'text');
    expect(served.format).toBe('srt');
    expect(served.segments).toHaveLength(4);
  });
});
