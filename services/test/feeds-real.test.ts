import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFeed } from '../src/feeds/parse';
import { fixture } from './support/fixtures';

const real = (name: string) => readFileSync(fixture('feeds', 'real', name));
const transcriptCount = (name: string) => parseFeed(real(name)).episodes.reduce((n, e) => n + e.transcripts.length, 0);

describe('real feeds (fixtures/feeds/real)', () => {
  it.each([
    ['1865.xml', 61],
    ['launched.xml', 36],
    ['pc20rss.xml', 56],
    ['no-agenda.xml', 29],
    ['sentimental-garbage.xml', 138],
    ['animated-no-agenda.xml', 20],
    ['changing-the-tide.xml', 15],
    ['homegrown-hits.xml', 4],
    ['simple.xml', 3],
    ['legacy.xml', 3],
    ['empty.xml', 0],
  ])('%s parses with %i episodes, each with a title and media', (name, count) => {
    const feed = parseFeed(real(name));
    expect(feed.format).toBe('rss');
    expect(feed.title).not.toBe('');
    expect(feed.episodes).toHaveLength(count);
    for (const e of feed.episodes) {
      expect(e.title).not.toBe('');
      expect(e.enclosure?.url).toMatch(/^https?:\/\//);
      expect(e.published).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
  });

  it('counts the Podcasting 2.0 transcript tags', () => {
    expect(transcriptCount('pc20rss.xml')).toBe(47);
    expect(transcriptCount('no-agenda.xml')).toBe(29);
  });

  it('reads 1865.xml values as published', () => {
    const feed = parseFeed(real('1865.xml'));
    expect(feed.title).toBe('1865');
    expect(feed.author).toBe('Airship / Wondery');
    const first = feed.episodes[0];
    expect(first.guid).toBe('gid://art19-episode-locator/V0/T-ywFiCQHfUv9JLKUSMpo1_zw7dONvCZdtDMuzfQMOs');
    expect(first.title).toBe("Introducing 'History Daily' From Host Lindsay Graham");
    expect(first.published).toBe('2021-11-03T08:00:00.000Z'); // Wed, 03 Nov 2021 08:00:00 -0000
    expect(first.durationS).toBe(16 * 60); // 00:16:00
    expect(first.episodeType).toBe('trailer');
    expect(first.enclosure).toEqual({
      url: 'https://dts.podtrac.com/redirect.mp3/chrt.fm/track/9EE2G/pdst.fm/e/rss.art19.com/episodes/7684b7cb-0de9-4f59-b657-08cf6c57a80e.mp3?rss_browser=BAhJIgtDaHJvbWUGOgZFVA%3D%3D--d05363d83ce333c74f32188013892b2863ad051c',
      type: 'audio/mpeg',
      length: 15360417,
    });
    expect(feed.warnings).toEqual([]); // &nbsp; inside CDATA is not an entity
  });

  it('gets the episodes out of no-agenda.xml despite the undefined entity at line 2761', () => {
    const feed = parseFeed(real('no-agenda.xml'));
    expect(feed.warnings.join('\n')).toMatch(/undefined entity &gtgt; at line 2761/);
    const first = feed.episodes[0];
    expect(first.guid).toBe('http://1393.noagendanotes.com');
    expect(first.published).toBe('2021-10-24T20:22:24.000Z'); // Sun, 24 Oct 2021 20:22:24 +0000
    expect(first.transcripts).toEqual([{ url: 'https://mp3s.nashownotes.com/NA-1393-Captions.srt', type: 'application/srt', language: null, rel: null }]);
    expect(first.chaptersUrl).toMatch(/^http:\/\//);
    expect(first.persons.map((p) => p.name)).toContain('Adam Curry');
    expect(feed.podcastGuid).toBe('856cd618-7f34-57ea-9b84-3600f1f65e7f');
  });

  it('gets the episodes out of sentimental-garbage.xml despite whitespace before the XML declaration', () => {
    const feed = parseFeed(real('sentimental-garbage.xml'));
    expect(feed.warnings.join('\n')).toMatch(/whitespace before the document start/);
    const first = feed.episodes[0];
    expect(first.title).toBe('Barbie with Jen Cownie');
    expect(first.published).toBe('2023-08-05T08:03:24.000Z');
    expect(first.durationS).toBe(3600 + 5 * 60 + 20); // 1:05:20
    expect([first.season, first.episode, first.episodeType, first.explicit]).toEqual([10, 29, 'full', true]);
  });

  it('reads pc20rss.xml transcripts in order', () => {
    const feed = parseFeed(real('pc20rss.xml'));
    expect(feed.podcastGuid).toBe('917393e3-1b1e-5cef-ace4-edaa54e1f810');
    expect(feed.episodes.slice(0, 3).map((e) => e.transcripts[0]?.url)).toEqual([
      'https://mp3s.nashownotes.com/PC20-57-Captions.srt',
      'https://mp3s.nashownotes.com/PC20-56-Captions.srt',
      'https://mp3s.nashownotes.com/PC20-55-Captions.srt',
    ]);
  });

  it('keeps guids unique within each feed', () => {
    for (const name of ['1865.xml', 'launched.xml', 'pc20rss.xml', 'no-agenda.xml', 'sentimental-garbage.xml']) {
      const guids = parseFeed(real(name)).episodes.map((e) => e.guid);
      expect(new Set(guids).size, name).toBe(guids.length);
    }
  });
});
