import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PodbrainError } from '../src/core/errors';
import { loadFeedList, parseOpml, parseYamlFeedList, toOpml } from '../src/feeds/opml';

const OPML1 = `<?xml version="1.0" encoding="ISO-8859-1"?>
<opml version="1.0">
  <head><title>My casts</title></head>
  <body>
    <outline text="Tech">
      <outline type="rss" text="Show &amp; Tell" xmlUrl="https://a.example/feed.xml" htmlUrl="https://a.example/"/>
      <outline text="Nested deeper"><outline type="rss" title="Deep" text="ignored" xmlurl="https://b.example/rss?a=1&amp;b=2"/></outline>
    </outline>
    <outline type="link" text="A web page" url="https://c.example/"/>
    <outline type="rss" text="Duplicate" xmlUrl="https://A.example/feed.xml#frag"/>
  </body>
</opml>`;

function errorOf(fn: () => unknown): PodbrainError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PodbrainError);
    return e as PodbrainError;
  }
  throw new Error('expected an error');
}

describe('OPML feed lists', () => {
  it('flattens nested outlines, ignores outlines without xmlUrl and dedupes', () => {
    expect(parseOpml(OPML1)).toEqual([
      { url: 'https://a.example/feed.xml', title: 'Show & Tell', htmlUrl: 'https://a.example/' },
      { url: 'https://b.example/rss?a=1&b=2', title: 'Deep', htmlUrl: null },
    ]);
  });

  it('round-trips through an OPML 2.0 export with escaping', () => {
    const entries = [
      { url: 'https://x.example/feed?a=1&b=2', title: 'Q&A <live> "quoted" \'single\'' },
      { url: 'https://y.example/rss', title: null },
    ];
    const xml = toOpml(entries, { now: new Date('2024-01-02T03:04:05Z') });
    expect(xml).toContain('<opml version="2.0">');
    expect(xml).toContain('xmlUrl="https://x.example/feed?a=1&amp;b=2"');
    expect(xml).toContain('<dateCreated>Tue, 02 Jan 2024 03:04:05 GMT</dateCreated>');
    expect(parseOpml(xml)).toEqual([
      { url: 'https://x.example/feed?a=1&b=2', title: 'Q&A <live> "quoted" \'single\'', htmlUrl: null },
      { url: 'https://y.example/rss', title: 'https://y.example/rss', htmlUrl: null },
    ]);
  });

  it('names the line of a malformed OPML file', () => {
    const err = errorOf(() => parseOpml('<opml version="2.0">\n<body>\n<outline xmlUrl="https://a.example/x">\n</body></opml>'));
    expect(err.code).toBe('feed_list');
    expect(err.message).toMatch(/not well-formed XML \(line \d+/);
  });

  it('rejects documents that are not OPML', () => {
    expect(errorOf(() => parseOpml('<rss><channel/></rss>')).message).toMatch(/root element is <rss>/);
    expect(errorOf(() => parseOpml('feeds: []')).message).toMatch(/not XML/);
  });
});

describe('YAML feed lists and loadFeedList', () => {
  it('accepts feeds: [{url, title?}] and bare strings', () => {
    expect(parseYamlFeedList('feeds:\n  - url: https://a.example/f\n    title: A\n  - https://b.example/f\n')).toEqual([
      { url: 'https://a.example/f', title: 'A' },
      { url: 'https://b.example/f', title: null },
    ]);
    expect(parseYamlFeedList('- https://a.example/f\n- https://a.example/f\n')).toEqual([{ url: 'https://a.example/f', title: null }]);
  });

  it('explains a bad YAML list', () => {
    expect(errorOf(() => parseYamlFeedList('feeds:\n  - title: no url\n')).message).toMatch(/entry 1 needs a url/);
    expect(errorOf(() => parseYamlFeedList('just: a map\n')).message).toMatch(/feeds:/);
    expect(errorOf(() => parseYamlFeedList('feeds: [unclosed\n')).message).toMatch(/not valid YAML/);
  });

  it('loads either format from a file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-feedlist-'));
    writeFileSync(path.join(dir, 'subs.opml'), Buffer.from(OPML1.replace('Show &amp; Tell', 'Caf\u00e9 &amp; Tell'), 'latin1'));
    writeFileSync(path.join(dir, 'feeds.yaml'), 'feeds:\n  - url: https://a.example/feed.xml\n');
    expect(loadFeedList(path.join(dir, 'subs.opml')).map((e) => e.title)).toEqual(['Café & Tell', 'Deep']);
    expect(loadFeedList(path.join(dir, 'feeds.yaml'))).toEqual([{ url: 'https://a.example/feed.xml', title: null }]);
    expect(errorOf(() => loadFeedList(path.join(dir, 'missing.yaml'))).message).toMatch(/cannot read feed list .*ENOENT/);
  });
});
