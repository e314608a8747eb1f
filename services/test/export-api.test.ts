import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { apiConfig, call, freshDatabase, startApi } from './api-support';
import { EP_A, EP_EVIL, EP_T2, F1, F2, F3, seedRefeed } from './refeed-seed';

const DB = 'podbrain_test_export';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let pg: Client;
let open: Awaited<ReturnType<typeof startApi>>;

/** The YAML front matter of a note, parsed, and the body after it. */
function splitNote(md: string): { meta: Record<string, unknown>; body: string } {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(md);
  expect(m, 'front matter').toBeTruthy();
  return { meta: parseYaml(m![1]) as Record<string, unknown>, body: md.slice(m![0].length) };
}

async function zipOf(feedId: string): Promise<{ status: number; headers: Headers; files: Record<string, string>; raw: Buffer }> {
  const res = await fetch(`${open.base}/api/export/feeds/${feedId}.zip`);
  const raw = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status, headers: res.headers, files: {}, raw };
  const files = Object.fromEntries(Object.entries(unzipSync(new Uint8Array(raw))).map(([name, bytes]) => [name, strFromU8(bytes)]));
  return { status: res.status, headers: res.headers, files, raw };
}

beforeAll(async () => {
  db = await freshDatabase(DB);
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  await seedRefeed(pg);
  open = await startApi(apiConfig(db.url, { PUBLIC_URL: 'https://pod.example.org' }));
}, 120_000);

afterAll(async () => {
  await open?.close();
  await pg?.end();
  await db?.drop();
});

describe('export: an episode as a Markdown note', () => {
  it('has YAML front matter, the summary, insights with their quotes as block quotes linking to the moment, chapters and people', async () => {
    const r = await call(open.base, 'GET', `/api/episodes/${EP_A}/export.md`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/markdown; charset=utf-8/);
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="2024-03-02 First & best.md"; filename*=UTF-8''${encodeURIComponent('2024-03-02 First & best.md')}`);
    const { meta, body } = splitNote(r.text);
    expect(meta).toEqual({
      title: 'First & best',
      show: 'Show One',
      date: '2024-03-02',
      duration: '1:02:05',
      url: 'https://show.example.com/a',
      podbrain: `https://pod.example.org/episodes/${EP_A}`,
      episode_key: EP_A,
      tags: ['analytical-engines'],
    });
    expect(body).toContain('# First & best');
    expect(body).toContain('## Summary\n\n- Bullet \\<one\\>\n- two & three');
    expect(body).toContain('### Insight \\<b\\>one\\</b\\>');
    expect(body).toContain(`> We said \\*this\\* \\[exactly\\]\n> — [1:05](https://pod.example.org/episodes/${EP_A}?t=65)`);
    expect(body).toContain(`- [0:00](https://pod.example.org/episodes/${EP_A}?t=0) Intro`);
    expect(body).toContain(`- [1:00](https://pod.example.org/episodes/${EP_A}?t=60) The \\# main \\[part\\]`);
    expect(body).toContain('[[Ada Lovelace]]');
    expect(body).toContain('[[Acme Corp]]'); // brackets would end the link
    expect(body).not.toContain('## Transcript');
  });

  it('?transcript=true appends the transcript with timestamp links; a hostile title makes a safe file name', async () => {
    const r = await call(open.base, 'GET', `/api/episodes/${EP_A}/export.md?transcript=true`);
    expect(r.text).toContain(`## Transcript\n\n[0:00](https://pod.example.org/episodes/${EP_A}?t=0) Hello \\<world\\> & --\\> friends\n\n[1:01:01](https://pod.example.org/episodes/${EP_A}?t=3661) **Ada:** Second line`);
    const evil = await call(open.base, 'GET', `/api/episodes/${EP_EVIL}/export.md`);
    expect(evil.status).toBe(200);
    const disposition = evil.headers.get('content-disposition')!;
    expect(disposition).toMatch(/^attachment; filename="2024-03-01 Evil [^"/\\]*\.md"; filename\*=UTF-8''/);
    expect(disposition).not.toMatch(/[\r\n]/);
    const { meta, body } = splitNote(evil.text);
    expect(meta.title).toContain('</title>');
    expect(body.trimStart().split('\n')[0]).toMatch(/^# Evil \\\]\\\]\\> \\<\/title\\>\\<item\\>/);
    expect((await call(open.base, 'GET', `/api/episodes/${EP_A}/export.md?transcript=maybe`)).status).toBe(400);
  });

  it('404 for an unknown episode or one of a feed the tenant does not follow', async () => {
    expect((await call(open.base, 'GET', '/api/episodes/nope/export.md')).status).toBe(404);
    expect((await call(open.base, 'GET', `/api/episodes/${EP_T2}/export.md`)).status).toBe(404);
    expect((await call(open.base, 'GET', '/api/episodes/bad%20key/export.md')).status).toBe(400);
  });
});

describe('export: a feed as a zip of notes', () => {
  it('one note per episode (unique, safe names) and an index note for the show', async () => {
    const z = await zipOf(F1);
    expect(z.status).toBe(200);
    expect(z.headers.get('content-type')).toBe('application/zip');
    expect(z.headers.get('content-disposition')).toContain('filename="Show One.zip"');
    const names = Object.keys(z.files).sort();
    expect(names).toHaveLength(3);
    expect(names).toContain('Show One/Show One.md');
    expect(names).toContain('Show One/2024-03-02 First & best.md');
    const evilName = names.find((n) => n.includes('Evil'))!;
    expect(evilName.split('/')).toHaveLength(2); // no separators from the title
    expect(evilName).not.toMatch(/[<>:"\\|?*\u0000-\u001f[\]#^]/);
    const index = splitNote(z.files['Show One/Show One.md']);
    expect(index.meta).toMatchObject({ title: 'Show One', url: `https://example.com/${F1}.xml`, episodes: 2 });
    expect(index.body).toContain('- [[2024-03-02 First & best]]');
    expect(index.body).toContain(`- [[${evilName.slice('Show One/'.length, -3)}]]`);
    // The episode's note in the zip is the one the episode export gives.
    const single = await call(open.base, 'GET', `/api/episodes/${EP_A}/export.md`);
    expect(z.files['Show One/2024-03-02 First & best.md']).toBe(single.text);
    // A standard unzip reads it too.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'export-zip-'));
    writeFileSync(path.join(dir, 'f.zip'), z.raw);
    try {
      const listing = execFileSync('unzip', ['-l', path.join(dir, 'f.zip')], { encoding: 'utf8' });
      expect(listing).toContain('Show One/Show One.md');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // no unzip on this machine: fflate's reading above stands
    }
  });

  it('same-titled episodes get distinct names; a big feed streams every note', async () => {
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, guid, title, published_at, duration_s, enclosure, transcripts, source, state)
       SELECT 'same-' || i, $1, 'same-guid-' || i, 'Same title', timestamptz '2023-05-05', 60, NULL, '[]', '{}', 'skipped' FROM generate_series(1, 3) AS i`,
      [F2],
    );
    await pg.query(
      `INSERT INTO episodes (episode_key, feed_id, guid, title, published_at, duration_s, enclosure, transcripts, source, state)
       SELECT 'bulk-' || lpad(i::text, 5, '0'), $1, 'bulk-guid-' || i, 'Bulk ' || i, timestamptz '2022-01-01' + make_interval(hours => i), 60, NULL, '[]', '{}', 'skipped'
       FROM generate_series(1, 1500) AS i`,
      [F2],
    );
    const z = await zipOf(F2);
    const names = Object.keys(z.files);
    expect(names).toHaveLength(1 + 3 + 1500 + 1);
    expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['Show Two/2023-05-05 Same title.md', 'Show Two/2023-05-05 Same title (2).md', 'Show Two/2023-05-05 Same title (3).md']));
    expect(splitNote(z.files['Show Two/Show Two.md']).meta.episodes).toBe(1 + 3 + 1500);
  });

  it('a client that leaves half-way costs nothing more: the api goes on answering', async () => {
    const ac = new AbortController();
    const res = await fetch(`${open.base}/api/export/feeds/${F2}.zip`, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.value?.length).toBeGreaterThan(0);
    ac.abort();
    await new Promise((r) => setTimeout(r, 500));
    expect((await call(open.base, 'GET', `/api/episodes/${EP_A}/export.md`)).status).toBe(200);
    expect((await zipOf(F1)).status).toBe(200);
  });

  it('404 for a feed the tenant does not follow', async () => {
    expect((await zipOf(F3)).status).toBe(404);
    expect((await zipOf('nope')).status).toBe(404);
  });
});
