/* eslint-disable @typescript-eslint/no-explicit-any -- test replies are JSON of many shapes */
/**
 * Show notes (issue 18): an item's content:encoded (else description) is sanitised on the server
 * to a strict allowlist before the Episode page inserts it as HTML — hostile markup (scripts,
 * handlers, javascript: links, styles, frames, entity and nesting tricks) comes out inert. The
 * feed's channel description is stored as plain text (feed page).
 */
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainText, sanitizeShowNotes } from '../src/text/show-notes';
import { Database } from '../src/db/database';
import { silentLogger } from '../src/core/logger';
import { FeedRepository } from '../src/repositories/feeds.repository';
import { apiConfig, call, freshDatabase, startApi } from './api-support';

const DB = 'podbrain_test_show_notes';
const KEY = 'show-notes-admin-key';

/** Nothing that runs, loads or styles anything is left in sanitised HTML. */
function expectInert(html: string | null) {
  expect(html).not.toBeNull();
  // Parsed as a browser would: only allowlisted elements, no attribute but a link's href/rel/target.
  const tags = [...html!.matchAll(/<(\/?)([a-zA-Z0-9-]+)([^>]*)>/g)];
  for (const [, closing, name, attrs] of tags) {
    expect(['p', 'br', 'a', 'ul', 'ol', 'li', 'strong', 'em', 'b', 'i', 'blockquote', 'code', 'pre', 'h3', 'h4', 'h5', 'h6']).toContain(name.toLowerCase());
    if (closing) continue;
    const names = [...attrs.matchAll(/\s([^\s=/>]+)(?:="[^"]*")?/g)].map((m) => m[1]);
    if (name === 'a') {
      // Every link is http(s) or mailto, and opens apart from the page.
      expect(names).toEqual(['href', 'rel', 'target']);
      expect(attrs).toMatch(/^ href="(https?:\/\/|mailto:)[^"]*" rel="noopener nofollow ugc" target="_blank"$/);
    } else {
      expect(names.filter((n) => n !== '/')).toEqual([]);
    }
  }
  expect(html).not.toMatch(/<(script|style|iframe|img|svg)/i);
}

describe('sanitizeShowNotes (the allowlist)', () => {
  it('keeps the allowed structure and text', () => {
    const html = sanitizeShowNotes('<p>Hello <strong>there</strong> <em>you</em></p><ul><li>one</li><li><b>two</b></li></ul><blockquote>q</blockquote><pre><code>x = 1</code></pre>');
    expect(html).toBe('<p>Hello <strong>there</strong> <em>you</em></p><ul><li>one</li><li><b>two</b></li></ul><blockquote>q</blockquote><pre><code>x = 1</code></pre>');
  });

  it('drops scripts, styles, frames, images and their contents; event handlers and CSS go', () => {
    const html = sanitizeShowNotes(
      '<p onclick="steal()" style="color:red" class="x">Hi<script>alert(1)</script></p><img src=x onerror=alert(1)><style>p{display:none}</style><iframe src="https://evil.example/"></iframe><object data="x.swf"></object><div onmouseover="x()">kept text</div>',
    );
    expectInert(html);
    expect(html).toBe('<p>Hi</p>kept text');
    expect(html).not.toContain('alert');
    expect(html).not.toContain('display:none');
  });

  it('links: http(s) and mailto only, rel/target set by us; javascript:, data:, protocol-relative and obfuscated schemes lose the link', () => {
    const html = sanitizeShowNotes(
      [
        '<a href="https://example.com/ep?x=1&amp;y=2" target="_self" rel="opener" onmouseover="x()">ok</a>',
        '<a href="mailto:host@example.com">mail</a>',
        '<a href="javascript:alert(1)">js</a>',
        '<a href="  JaVaScRiPt:alert(1)">js2</a>',
        '<a href="jav&#x09;ascript:alert(1)">js3</a>',
        '<a href="&#106;avascript:alert(1)">js4</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
        '<a href="//evil.example/">proto-relative</a>',
        '<a href="/relative">relative</a>',
      ].join(' '),
    );
    expectInert(html);
    expect(html).toContain('<a href="https://example.com/ep?x=1&amp;y=2" rel="noopener nofollow ugc" target="_blank">ok</a>');
    expect(html).toContain('<a href="mailto:host@example.com" rel="noopener nofollow ugc" target="_blank">mail</a>');
    expect(html!.match(/<a\b/g)).toHaveLength(2);
    // The refused links' text stays readable.
    for (const t of ['js', 'js2', 'js3', 'js4', 'data', 'proto-relative', 'relative']) expect(html).toContain(` ${t}`);
  });

  it('nested and entity tricks stay text', () => {
    const html = sanitizeShowNotes(
      '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p><scr<script>ipt>alert(2)</script><svg><script>alert(3)</script></svg><math><mi xlink:href="javascript:alert(4)">m</mi></math><noscript><p title="</noscript><img src=x onerror=alert(5)>"></noscript><p>&#60;img src=x onerror=alert(6)&#62;</p>',
    );
    expectInert(html);
    expect(html).toContain('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(html).not.toContain('alert(2)</script');
    expect(html).not.toContain('alert(3)');
    expect(html).toContain('&lt;img src=x onerror=alert(6)&gt;');
  });

  it('headings are demoted below the page\'s own (h1 → h3 … h6); other tags unwrap', () => {
    expect(sanitizeShowNotes('<h1>A</h1><h2>B</h2><h3>C</h3><h6>D</h6><section><span>E</span></section><table><tr><td>F</td></tr></table>')).toBe('<h3>A</h3><h4>B</h4><h5>C</h5><h6>D</h6>EF');
  });

  it('plain-text notes: paragraphs, line breaks and bare URLs as safe links', () => {
    const html = sanitizeShowNotes('First line\nsecond 1 < 2 & more\n\nSee https://example.com/notes. Thanks');
    expect(html).toBe(
      '<p>First line<br />second 1 &lt; 2 &amp; more</p><p>See <a href="https://example.com/notes" rel="noopener nofollow ugc" target="_blank">https://example.com/notes</a>. Thanks</p>',
    );
  });

  it('deep nesting is cut where more than 1,000 elements are open (the parser is quadratic in it); long flat notes are not', () => {
    const deep = sanitizeShowNotes(`<p>intro</p>${'<b>'.repeat(5_000)}deep text`);
    expect(deep).toMatch(/^<p>intro<\/p>(<b>){1000}(<\/b>){1000}$/);
    expect(deep).not.toContain('deep text');
    expect(sanitizeShowNotes('<ul><li>x'.repeat(3_000))!.match(/<ul>/g)).toHaveLength(1_000);
    // Unclosed paragraphs and list items close themselves (they do not pile up), as do void tags: nothing is cut.
    const flat = sanitizeShowNotes(`<ul>${'<li>item<br>'.repeat(3_000)}</ul>${'<p>para'.repeat(3_000)}<p>the end`);
    expect(flat!.match(/<li>/g)).toHaveLength(3_000);
    expect(flat).toContain('<p>the end</p>');
    expect(plainText(`${'<i>'.repeat(5_000)}hidden`)).toBeNull();
    // 33,000 nested tags (99 KB, under the length cap) took ~0.9 s per read before the cut.
    const hostile = '<b>'.repeat(33_000);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      sanitizeShowNotes(hostile);
      best = Math.min(best, performance.now() - t);
    }
    expect(best).toBeLessThan(300);
  });

  it('null for nothing worth showing', () => {
    expect(sanitizeShowNotes(null)).toBeNull();
    expect(sanitizeShowNotes('   ')).toBeNull();
    expect(sanitizeShowNotes('<img src="https://example.com/a.png"><script>x()</script>')).toBeNull();
  });

  it('plainText: markup and entities out, whitespace collapsed, bounded', () => {
    expect(plainText('<p>A &amp; B</p>\n<p>second &lt;b&gt;</p><script>x()</script>')).toBe('A & B second <b>');
    expect(plainText('<br>')).toBeNull();
    expect(plainText('x'.repeat(5000))!.length).toBe(4000);
  });
});

describe('the api', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pg: Client;
  let api: Awaited<ReturnType<typeof startApi>>;

  beforeAll(async () => {
    db = await freshDatabase(DB);
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    await pg.query(`INSERT INTO feeds (id, url, title, image, poll_interval_s, next_poll_at) VALUES ('feedsn', 'https://example.com/sn.xml', 'Feed SN', 'https://example.com/cover.jpg', 3600, now())`);
    await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ('default', 'feedsn')`);
    const items: [string, object][] = [
      ['feedsn-both', { description: 'Teaser only', contentHtml: '<p>Full notes <a href="javascript:alert(1)">x</a> at 12:34</p><script>alert(1)</script>', image: 'https://example.com/ep.jpg' }],
      ['feedsn-desc', { description: '<p>Only a description</p><img src=x onerror=alert(1)>' }],
      ['feedsn-none', {}],
    ];
    for (const [key, source] of items) {
      await pg.query(
        `INSERT INTO episodes (episode_key, feed_id, title, published_at, enclosure, transcripts, source, state)
         VALUES ($1, 'feedsn', $1, now(), '{"url":"https://example.com/a.mp3","type":"audio/mpeg","length":1}', '[]', $2, 'done')`,
        [key, JSON.stringify(source)],
      );
    }
    api = await startApi(apiConfig(db.url, { AUTH_API_KEY: KEY, WEB_DIST_DIR: 'off' }));
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await pg?.end();
    await db?.drop();
  });

  it('show_notes_html: content:encoded preferred, sanitised; else the description; null when none', async () => {
    const both = await call(api.base, 'GET', '/api/episodes/feedsn-both');
    expect(both.status).toBe(200);
    expect(both.body.show_notes_html).toBe('<p>Full notes x at 12:34</p>');
    expect(both.body.image).toBe('https://example.com/ep.jpg');
    const desc = await call(api.base, 'GET', '/api/episodes/feedsn-desc');
    expect(desc.body.show_notes_html).toBe('<p>Only a description</p>');
    // Without an image of its own, the feed's cover.
    expect(desc.body.image).toBe('https://example.com/cover.jpg');
    const none = await call(api.base, 'GET', '/api/episodes/feedsn-none');
    expect(none.body.show_notes_html).toBeNull();
  });

  it('the Library carries each episode\'s cover (its own, else the feed\'s)', async () => {
    const page = await call(api.base, 'GET', '/api/episodes?feed_id=feedsn');
    const images = Object.fromEntries(page.body.items.map((e: any) => [e.episode_key, e.image]));
    expect(images).toEqual({ 'feedsn-both': 'https://example.com/ep.jpg', 'feedsn-desc': 'https://example.com/cover.jpg', 'feedsn-none': 'https://example.com/cover.jpg' });
  });

  it('a poll stores the channel description as plain text; the feed answers it', async () => {
    const database = new Database({ databaseUrl: db.url }, silentLogger, { poolSize: 1 });
    try {
      const feeds = new FeedRepository(database);
      const feed = { title: 'Feed SN', link: 'https://example.com/', image: null, description: '<p>A show about <b>things</b> &amp; stuff.</p><script>alert(1)</script>' } as any;
      await feeds.markPolled('feedsn', { validators: {}, feed, nextPollAt: new Date(Date.now() + 3_600_000) });
      const r = await call(api.base, 'GET', '/api/feeds/feedsn');
      expect(r.status).toBe(200);
      expect(r.body.description).toBe('A show about things & stuff.');
      // A poll without a description keeps the one stored.
      await feeds.markPolled('feedsn', { validators: {}, feed: { ...feed, description: null }, nextPollAt: new Date(Date.now() + 3_600_000) });
      expect((await call(api.base, 'GET', '/api/feeds/feedsn')).body.description).toBe('A show about things & stuff.');
    } finally {
      await database.close();
    }
  });
});
