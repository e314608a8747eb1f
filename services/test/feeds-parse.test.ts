import { describe, expect, it } from 'vitest';
import { PodbrainError } from '../src/core/errors';
import { parseFeedDate } from '../src/feeds/dates';
import { parseDuration } from '../src/feeds/duration';
import { parseFeed } from '../src/feeds/parse';

const rss = (items: string, channelExtra = '', rootAttrs = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0" ${rootAttrs}><channel><title>Show</title>${channelExtra}${items}</channel></rss>`;

function parseError(xml: string | Buffer): PodbrainError {
  try {
    parseFeed(xml);
  } catch (e) {
    expect(e).toBeInstanceOf(PodbrainError);
    expect((e as PodbrainError).code).toBe('feed_parse');
    return e as PodbrainError;
  }
  throw new Error('expected parseFeed to throw');
}

describe('parseDuration', () => {
  it.each([
    ['3600', 3600],
    ['61:08', 3668],
    ['1:02:03', 3723],
    ['01:02:03.500', 3723],
    [' 25:3:30 ', 90210],
    ['00:20', 20],
    ['45 min', 2700],
    ['1h 2m 3s', 3723],
    ['PT1H2M3S', 3723],
    ['1:02:03 hrs', 3723],
  ])('%j → %i', (raw, want) => expect(parseDuration(raw)).toBe(want));

  it.each(['', '   ', 'unknown', 'n/a'])('%j → null', (raw) => expect(parseDuration(raw)).toBeNull());
});

describe('parseFeedDate', () => {
  it.each([
    ['Fri, 21 Nov 1997 09:55:06 -0600', '1997-11-21T15:55:06.000Z'],
    ['Mon, 02 May 1960 09:05:01 +0100', '1960-05-02T08:05:01.000Z'],
    ['Wed, 27 Apr 2011 07:00:00 GMT', '2011-04-27T07:00:00.000Z'],
    ['  Tue,  5 Jul  2022   10:00:00   PDT ', '2022-07-05T17:00:00.000Z'],
    ['5 Jul 22 10:00 EST', '2022-07-05T15:00:00.000Z'],
    ['Thu, 01 Sep 2022 12:00:00 +05:30', '2022-09-01T06:30:00.000Z'],
    ['Sat, 03 Dec 2022 18:00:00', '2022-12-03T18:00:00.000Z'],
    ['2003-12-13T18:30:02Z', '2003-12-13T18:30:02.000Z'],
    ['2003-12-13T00:00:00+02:00', '2003-12-12T22:00:00.000Z'],
    ['2021-10-08', '2021-10-08T00:00:00.000Z'],
  ])('%j → %s', (raw, want) => expect(parseFeedDate(raw)).toBe(want));

  it.each(['', 'unknown', 'Blursday, 99 Foo 2020', '2020-13-45T99:99:99Z'])('%j → null', (raw) => expect(parseFeedDate(raw)).toBeNull());
});

describe('parseFeed', () => {
  it('reads RSS items with iTunes and Podcasting 2.0 tags', () => {
    const feed = parseFeed(
      rss(
        `<item><title>  Ep
           1 </title><guid isPermaLink="false">  ep-1  </guid><pubDate>Tue, 05 Jul 2022 10:00:00 +0000</pubDate>
         <itunes:duration>1:00:01</itunes:duration><itunes:episodeType>bonus</itunes:episodeType><itunes:season>2</itunes:season>
         <enclosure url="https://cdn.example/ep1.mp3" type="audio/mpeg" length="1234"/>
         <content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[<p>Show notes</p>]]></content:encoded>
         <podcast:transcript url="https://example.com/ep1.vtt" type="text/vtt" language="en"/>
         <podcast:transcript url="https://example.com/ep1.srt" rel="captions"/>
         <podcast:chapters url="https://example.com/ep1.json" type="application/json+chapters"/>
         <podcast:person role="Guest" href="https://x.example">Ada</podcast:person></item>`,
        '<podcast:guid>pg-1</podcast:guid><itunes:image href="https://example.com/cover.jpg"/><itunes:type>serial</itunes:type>',
      ),
    );
    expect(feed).toMatchObject({ title: 'Show', podcastGuid: 'pg-1', image: 'https://example.com/cover.jpg', showType: 'serial', warnings: [] });
    expect(feed.episodes[0]).toMatchObject({
      guid: 'ep-1',
      title: 'Ep 1',
      published: '2022-07-05T10:00:00.000Z',
      durationS: 3601,
      episodeType: 'bonus',
      season: 2,
      enclosure: { url: 'https://cdn.example/ep1.mp3', type: 'audio/mpeg', length: 1234 },
      contentHtml: '<p>Show notes</p>',
      transcripts: [
        { url: 'https://example.com/ep1.vtt', type: 'text/vtt', language: 'en', rel: null },
        { url: 'https://example.com/ep1.srt', type: 'application/srt', language: null, rel: 'captions' },
      ],
      chaptersUrl: 'https://example.com/ep1.json',
      persons: [{ name: 'Ada', role: 'guest', group: 'cast', href: 'https://x.example/', img: null }],
    });
  });

  it('uses the trimmed <guid> text and null without one', () => {
    const feed = parseFeed(rss('<item><title>A</title><guid> a/1 </guid></item><item><title>B</title><enclosure url="https://x.example/b.mp3"/></item>'), { baseUrl: 'https://feeds.example/show.xml' });
    expect(feed.episodes.map((e) => e.guid)).toEqual(['a/1', null]);
  });

  it('picks the audio enclosure as media but keeps every enclosure in order', () => {
    const ep = parseFeed(rss('<item><title>A</title><guid>a</guid><enclosure url="https://x.example/c.jpg" type="image/jpeg"/><enclosure url="https://x.example/a.mp3" type="audio/mpeg"/></item>')).episodes[0];
    expect(ep.enclosure?.url).toBe('https://x.example/a.mp3');
    expect(ep.enclosures?.map((e) => e.url)).toEqual(['https://x.example/c.jpg', 'https://x.example/a.mp3']);
  });

  it('reads Atom: enclosure links, published over updated, relative covers against xml:base', () => {
    const feed = parseFeed(
      `<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://site.example/podcast/"><title>Atom show</title><icon>img/cover.png</icon>
        <link rel="alternate" type="text/html" href="https://site.example/"/>
        <entry><id> urn:uuid:1 </id><title>First</title><updated>2024-01-02T00:00:00Z</updated><published>2024-01-01T10:00:00+01:00</published>
          <link rel="enclosure" type="audio/mpeg" length="99" href="media/1.mp3"/><link href="https://site.example/1"/></entry>
      </feed>`,
      { baseUrl: 'https://other.example/feed.atom' },
    );
    expect(feed).toMatchObject({ format: 'atom', title: 'Atom show', image: 'https://site.example/podcast/img/cover.png', link: 'https://site.example/' });
    expect(feed.episodes[0]).toMatchObject({
      guid: 'urn:uuid:1',
      published: '2024-01-01T09:00:00.000Z',
      link: 'https://site.example/1',
      enclosure: { url: 'https://site.example/podcast/media/1.mp3', type: 'audio/mpeg', length: 99 },
    });
  });

  it('resolves a relative Atom icon against the base URL', () => {
    const feed = parseFeed('<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><icon>/favicon.ico</icon></feed>', { baseUrl: 'https://example.com/a/feed.atom' });
    expect(feed.image).toBe('https://example.com/favicon.ico');
    expect(feed.episodes).toEqual([]);
  });

  it('accepts a feed with no items', () => {
    const feed = parseFeed(rss(''));
    expect(feed.episodes).toEqual([]);
    expect(feed.title).toBe('Show');
  });

  it('decodes a Buffer in the declared encoding', () => {
    const xml = '<?xml version="1.0" encoding="ISO-8859-1"?><rss><channel><title>Caf\u00e9</title></channel></rss>';
    expect(parseFeed(Buffer.from(xml, 'latin1')).title).toBe('Café');
  });

  it('neutralises a billion-laughs document quickly', () => {
    const levels = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('');
    const xml = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">${levels}]><rss><channel><title>&lol9;</title></channel></rss>`;
    const started = Date.now();
    const title = parseFeed(xml).title;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(title).toBe('&lol9;');
  });

  it('never expands DOCTYPE entities, so a linear blow-up stays small', () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "${'x'.repeat(9000)}">]><rss><channel><title>${'&big;'.repeat(2000)}</title></channel></rss>`;
    const feed = parseFeed(xml);
    expect(feed.title.length).toBe('&big;'.length * 2000);
    expect(feed.warnings.join('\n')).toMatch(/DOCTYPE declares 1 entity; they are not expanded/);
  });

  it('refuses external entities', () => {
    const xml = '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY ext SYSTEM "file:///etc/passwd">]><rss><channel><title>&ext;</title></channel></rss>';
    expect(parseError(xml).message).toMatch(/external entities/);
  });

  it('names an HTML page as such', () => {
    expect(parseError('<!DOCTYPE html>\n<html><head><title>Home</title></head><body></body></html>').message).toBe('this is an HTML page, not a feed');
    expect(parseError('<html lang="en"><body>x</body></html>').message).toBe('this is an HTML page, not a feed');
  });

  it('rejects non-XML bodies, empty bodies and foreign roots clearly', () => {
    expect(parseError('Not Found').message).toMatch(/not XML/);
    expect(parseError('{"version":"https://jsonfeed.org/version/1"}').message).toMatch(/JSON/);
    expect(parseError('   ').message).toMatch(/empty/);
    expect(parseError('<svg xmlns="http://www.w3.org/2000/svg"/>').message).toMatch(/root element <svg>/);
  });

  it('names the line when malformed XML loses items', () => {
    const feed = parseFeed(rss('<item><title>A</title><guid>a</guid></item>\n<item><title>B<guid>b</guid></item>\n<item><title>C</title><guid>c</guid></item>'));
    expect(feed.episodes.map((e) => e.title)).toContain('A');
    expect(feed.warnings.join('\n')).toMatch(/recovered malformed XML: line 3, column \d+: Expected closing tag 'title'/);
  });

  it('reports a broken document with line and cause', () => {
    const err = parseError('<rss><channel>\n<title>x</title>\n</rss></channel>');
    expect(err.message).toMatch(/not well-formed XML \(line 3, column \d+: .*rss/);
    expect(parseError('<rss><channel><title>cut off').message).toMatch(/ends before <rss> <channel> <title> are closed/);
  });

  it('drops items that can be neither identified nor named, with a warning', () => {
    const feed = parseFeed(rss('<item><description>nothing</description></item><item><enclosure url="https://x.example/only.mp3"/></item>'));
    expect(feed.episodes.map((e) => e.title)).toEqual(['only']);
    expect(feed.warnings.join('\n')).toMatch(/item 1 dropped/);
  });

  it('keeps the N most recent episodes with maxEpisodes', () => {
    const items = ['Mon, 01 Jan 2024 00:00:00 GMT', 'Wed, 03 Jan 2024 00:00:00 GMT', 'Tue, 02 Jan 2024 00:00:00 GMT']
      .map((d, i) => `<item><title>E${i}</title><guid>${i}</guid><pubDate>${d}</pubDate></item>`)
      .join('');
    expect(parseFeed(rss(items), { maxEpisodes: 2 }).episodes.map((e) => e.title)).toEqual(['E1', 'E2']);
  });
});

describe('character data', () => {
  it('decodes XML and HTML references once and keeps CDATA as written', () => {
    const feed = parseFeed(
      rss(`<item><guid>g</guid><title>Caf&#233; &amp;eacute; &eacute; AT&amp;T</title><description><![CDATA[a &amp; <b>b</b>]]></description>
        <enclosure url="https://x.example/a.mp3?a=1&amp;b=2" type="audio/mpeg"/></item>`),
    );
    const ep = feed.episodes[0];
    expect(ep.title).toBe('Café &eacute; é AT&T');
    expect(ep.description).toBe('a &amp; <b>b</b>');
    expect(ep.enclosure?.url).toBe('https://x.example/a.mp3?a=1&b=2');
    expect(feed.warnings.join('\n')).toMatch(/undefined entity &eacute; at line 2/);
  });
});

describe('RSS 1.0 (RDF)', () => {
  it('reads items that sit beside the channel', () => {
    const feed = parseFeed(
      `<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
        <channel rdf:about="https://x.example/"><title>RDF show</title><link>https://x.example/</link></channel>
        <item rdf:about="https://x.example/1"><title>One</title><link>https://x.example/1</link><dc:date>2024-02-03T04:05:06Z</dc:date></item>
      </rdf:RDF>`,
    );
    expect(feed.title).toBe('RDF show');
    expect(feed.episodes).toMatchObject([{ title: 'One', link: 'https://x.example/1', published: '2024-02-03T04:05:06.000Z', guid: null }]);
  });
});

describe('hostile structure', () => {
  it('accepts elements named like JavaScript internals without polluting prototypes', () => {
    const feed = parseFeed(rss('<constructor/><item><guid>a</guid><title>t</title><__proto__><polluted>1</polluted></__proto__><toString>y</toString></item>'));
    expect(feed.episodes.map((e) => e.title)).toEqual(['t']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses absurd nesting with a clear error', () => {
    const deep = `${'<d>'.repeat(250)}${'</d>'.repeat(250)}`;
    expect(parseError(rss(`<item><guid>a</guid><title>t</title>${deep}</item>`)).message).toMatch(/nests elements more than 200 levels deep/);
  });
});
