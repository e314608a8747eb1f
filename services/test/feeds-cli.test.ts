import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { episodeKeyOf, feedIdOf } from '../src/core/identity';
import { parseOpml } from '../src/feeds/opml';
import { fixture } from './support/fixtures';

const run = promisify(execFile);
const SERVICES = path.resolve(__dirname, '..');
const CLI = path.join(SERVICES, 'dist/cli/main.js');
const SOURCES = ['cli/main.ts', 'cli/commands/feed.ts', 'feeds/parse.ts', 'feeds/xml.ts', 'feeds/opml.ts', 'feeds/load.ts'];

function distIsStale(): boolean {
  try {
    return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
  } catch {
    return true;
  }
}


async function podbrain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = { ...process.env, PODBRAIN_CONFIG: '', ALLOW_PRIVATE_NETWORK: 'true' };
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: SERVICES, env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('podbrain feed (built CLI)', () => {
  beforeAll(async () => {
    if (!distIsStale()) return;
    // Type errors elsewhere must not hide this command's behaviour: tsc still emits, and the checks below judge the result.
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
    expect(distIsStale()).toBe(false);
  }, 120_000);

  it('inspect --json prints the documented shape with episode keys from core/identity', async () => {
    const file = fixture('feeds', 'real', 'pc20rss.xml');
    const { code, stdout } = await podbrain('feed', 'inspect', file, '--json');
    expect(code).toBe(0);
    const doc = JSON.parse(stdout);
    expect(Object.keys(doc)).toEqual(['title', 'link', 'image', 'episodes']);
    expect(doc.title).toBe('Podcasting 2.0');
    expect(doc.episodes).toHaveLength(56);
    const first = doc.episodes[0];
    expect(Object.keys(first)).toEqual(['guid', 'episode_key', 'title', 'published', 'duration_s', 'enclosure', 'transcripts', 'chapters_url']);
    expect(first).toMatchObject({
      guid: 'PC2057',
      title: 'Episode 57: Rebel Rubes',
      published: '2021-10-08T18:55:32.000Z',
      enclosure: { url: 'https://mp3s.nashownotes.com/PC20-57-2021-10-08-Final.mp3', type: 'audio/mpeg', length: 70881847 },
      transcripts: [{ url: 'https://mp3s.nashownotes.com/PC20-57-Captions.srt', type: 'application/srt', language: null }],
    });
    const feedId = feedIdOf(file);
    expect(first.episode_key).toBe(episodeKeyOf({ feedId, feedUrl: file, guid: 'PC2057', title: first.title, published: first.published }));
    expect(new Set(doc.episodes.map((e: { episode_key: string }) => e.episode_key)).size).toBe(56);
  });

  it('inspect prints a readable table and the recovery warnings', async () => {
    const { code, stdout, stderr } = await podbrain('feed', 'inspect', fixture('feeds', 'real', 'sentimental-garbage.xml'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Sentimental Garbage/);
    expect(stdout).toMatch(/138 episode\(s\)/);
    expect(stdout).toMatch(/2023-08-05\s+1:05:20\s+Barbie with Jen Cownie/);
    expect(stderr).toMatch(/warning: recovered malformed XML: 1 line\(s\) of whitespace/);
  });

  it('inspect fails clearly on an HTML page', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-cli-'));
    const page = path.join(dir, 'page.html');
    writeFileSync(page, '<!doctype html><html><body>Hello</body></html>');
    const { code, stderr } = await podbrain('feed', 'inspect', page);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^podbrain: .*page\.html is an HTML page, not a feed; use the RSS\/Atom link the page points to\n$/);
  });

  it('opml export and import round-trip a YAML feed list', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-cli-'));
    const yaml = path.join(dir, 'feeds.yaml');
    writeFileSync(yaml, 'feeds:\n  - url: https://a.example/feed?x=1&y=2\n    title: "A & B"\n  - https://b.example/rss\n');
    const exported = await podbrain('feed', 'opml', 'export', '--feeds', yaml);
    expect(exported.code).toBe(0);
    expect(parseOpml(exported.stdout).map((e) => e.url)).toEqual(['https://a.example/feed?x=1&y=2', 'https://b.example/rss']);
    const opmlFile = path.join(dir, 'subs.opml');
    writeFileSync(opmlFile, exported.stdout);
    const imported = await podbrain('feed', 'opml', 'import', opmlFile, '--json');
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual({
      feeds: [
        { url: 'https://a.example/feed?x=1&y=2', title: 'A & B' },
        { url: 'https://b.example/rss', title: 'https://b.example/rss' },
      ],
    });
    const plain = await podbrain('feed', 'opml', 'import', opmlFile);
    expect(plain.stdout).toBe('https://a.example/feed?x=1&y=2\tA & B\nhttps://b.example/rss\thttps://b.example/rss\n');
  });

  it('inspect <url> fetches through loadFeed', async () => {
    const body = readFileSync(fixture('feeds', 'real', 'launched.xml'));
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/launched.xml`;
      const { code, stdout, stderr } = await podbrain('feed', 'inspect', url, '--json');
      expect(code, stderr).toBe(0);
      const doc = JSON.parse(stdout);
      expect(doc.title).toBe('Launched');
      expect(doc.episodes).toHaveLength(36);
      const first = doc.episodes[0];
      expect(first.episode_key).toBe(episodeKeyOf({ feedId: feedIdOf(url), feedUrl: url, guid: first.guid, title: first.title, published: first.published }));
    } finally {
      server.close();
    }
  });
});
