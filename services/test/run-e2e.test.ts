import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, type FixtureServer } from './support/http-fixture-server';

// Atomic mode end to end through the built CLI: feed → ingest → transcribe (publisher SRT for one
// episode, whisper.cpp with a random-weight tiny model for the other) → enrich (extractive, no LLM)
// → index (hash embeddings, FAISS) → search. A second run does no stage work.
const CLI = path.resolve(__dirname, '../dist/cli/main.js');

function podbrain(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const JFK_SRT = `1
00:00:00,000 --> 00:00:04,000
And so, my fellow Americans,

2
00:00:04,000 --> 00:00:11,000
ask not what your country can do for you, ask what you can do for your country.
`;

interface Report {
  episodes: { title: string; state: string; stages: { stage: string; status: string; reason: string | null; dir: string | null }[] }[];
  stats: { executed: number; reused: number; failed: number };
}

describe('podbrain run end to end (atomic mode)', () => {
  let srv: FixtureServer;
  let models: string;
  let out: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    srv = await startFixtureServer();
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-e2e-'));
    models = path.join(dir, 'models');
    out = path.join(dir, 'data');
    env = {
      ALLOW_PRIVATE_NETWORK: 'true',
      MODELS_DIR: models,
      WHISPER_MODEL: 'tiny',
      WHISPER_THREADS: '2',
      WHISPER_VAD_MODEL: fixture('models', 'ggml-silero-v6.2.0.bin'),
    };
    const fake = await podbrain(['models', 'fake', '--shape', 'tiny', '--out', models], env);
    expect(fake.code, fake.stderr).toBe(0);
    srv.route('/jfk.mp3', serveFile(fixture('audio', 'jfk.mp3'), { contentType: 'audio/mpeg' }));
    srv.route('/jfk.srt', serveBody(JFK_SRT, { contentType: 'application/x-subrip' }));
    srv.route('/fleurs.ogg', serveFile(fixture('audio', 'fleurs-en-003.ogg'), { contentType: 'audio/ogg' }));
    srv.route(
      '/feed.xml',
      serveBody(
        `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>E2E</title>
<item><guid>jfk</guid><title>Inaugural address</title><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate>
<enclosure url="${srv.url('/jfk.mp3')}" type="audio/mpeg" length="76447"/><podcast:transcript url="${srv.url('/jfk.srt')}" type="application/x-subrip"/></item>
<item><guid>fleurs</guid><title>Read speech</title><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate>
<enclosure url="${srv.url('/fleurs.ogg')}" type="audio/ogg" length="11606"/></item>
</channel></rss>`,
        { contentType: 'application/rss+xml', etag: true },
      ),
    );
  });
  afterAll(() => srv.close());

  it('runs every stage for every episode, then a second run reuses everything', async () => {
    const first = await podbrain(['run', '--feed', srv.url('/feed.xml'), '--out', out, '--json'], env);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const r1 = JSON.parse(first.stdout) as Report;
    for (const e of r1.episodes) {
      expect(e.stages.map((s) => `${s.stage}:${s.status}`), e.title).toEqual(['ingest:done', 'transcribe:done', 'enrich:done', 'index:done']);
      expect(e.state).toBe('done');
    }
    const jfk = r1.episodes.find((e) => e.title === 'Inaugural address')!;
    const dirOf = (e: Report['episodes'][number], stage: string) => e.stages.find((s) => s.stage === stage)!.dir!;
    const transcript = JSON.parse(readFileSync(path.join(dirOf(jfk, 'transcribe'), 'transcript.json'), 'utf8'));
    expect(transcript.engine).toBe('feed');
    expect(transcript.segments[1]).toMatchObject({ start_ms: 4000, end_ms: 11000 });
    const fleurs = r1.episodes.find((e) => e.title === 'Read speech')!;
    expect(JSON.parse(readFileSync(path.join(dirOf(fleurs, 'transcribe'), 'transcript.json'), 'utf8')).engine).toBe('whisper-cpp');
    for (const f of ['summary.json', 'gi.json', 'kg.json', 'chapters.json']) expect(existsSync(path.join(dirOf(jfk, 'enrich'), f)), f).toBe(true);
    expect(existsSync(path.join(dirOf(jfk, 'index'), 'chunks.jsonl'))).toBe(true);

    const second = await podbrain(['run', '--feed', srv.url('/feed.xml'), '--out', out, '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    const r2 = JSON.parse(second.stdout) as Report;
    expect(r2.stats.executed).toBe(0);
    expect(r2.stats.reused).toBe(8);
  });

  it('finds the episode by meaning and by keyword, with its time and a marked snippet', async () => {
    const res = await podbrain(['search', 'what you can do for your country', '--out', out, '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    const hits = JSON.parse(res.stdout) as { hits?: unknown[] } | unknown[];
    const list = (Array.isArray(hits) ? hits : (hits.hits ?? [])) as { episode_key: string; start_ms: number; end_ms: number; snippet: string }[];
    expect(list.length).toBeGreaterThan(0);
    expect(list[0].snippet).toMatch(/«[^»]+»/);
    expect(list[0].end_ms).toBeGreaterThan(list[0].start_ms);
  });
});
