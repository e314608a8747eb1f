import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, status, type FixtureServer } from './support/http-fixture-server';

const CLI = path.resolve(__dirname, '../dist/cli/main.js');

function podbrain(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env }, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

function rss(items: string[]): string {
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>Run test</title>${items.join('')}</channel></rss>`;
}
function item(guid: string, title: string, day: number, enclosure?: string): string {
  const date = new Date(Date.UTC(2024, 0, day, 10)).toUTCString();
  return `<item><guid>${guid}</guid><title>${title}</title><pubDate>${date}</pubDate>${enclosure ? `<enclosure url="${enclosure}" type="audio/mpeg" length="1"/>` : ''}</item>`;
}

interface JsonReport {
  feeds: { title: string | null; error: string | null; selected: number }[];
  episodes: { title: string; state: string; reason?: string | null; stages: { stage: string; status: string; reason: string | null; dir: string | null }[] }[];
  stats: { executed: number; reused: number; failed: number };
}

describe('podbrain run (atomic mode, built CLI)', () => {
  let srv: FixtureServer;
  let models: string;
  const env = () => ({ ALLOW_PRIVATE_NETWORK: 'true', MODELS_DIR: models, HTTP_TIMEOUT_MS: '5000' });

  beforeAll(async () => {
    srv = await startFixtureServer();
    models = mkdtempSync(path.join(tmpdir(), 'podbrain-models-'));
    srv.route('/jfk.mp3', serveFile(fixture('audio', 'jfk.mp3'), { contentType: 'audio/mpeg', ranges: true }));
    srv.route('/fleurs.ogg', serveFile(fixture('audio', 'fleurs-en-001.ogg'), { contentType: 'audio/ogg' }));
    srv.route('/gone.mp3', status(404, 'nope'));
    srv.route('/text.mp3', serveBody('this is not audio at all, just words\n'.repeat(20), { contentType: 'audio/mpeg' }));
    srv.route(
      '/good.xml',
      serveBody(rss([item('a', 'Alpha', 3, srv.url('/jfk.mp3')), item('b', 'Beta', 2, srv.url('/fleurs.ogg'))]), { contentType: 'application/rss+xml', etag: true }),
    );
    srv.route(
      '/mixed.xml',
      serveBody(
        rss([
          item('ok', 'Fine', 5, srv.url('/jfk.mp3')),
          item('404', 'Missing audio', 4, srv.url('/gone.mp3')),
          item('txt', 'Text audio', 3, srv.url('/text.mp3')),
          item('none', 'No enclosure', 2),
        ]),
        { contentType: 'application/rss+xml' },
      ),
    );
  });
  afterAll(() => srv.close());

  it('downloads every enclosure into the artifact store and a second run does no stage work', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const first = await podbrain(['run', '--feed', srv.url('/good.xml'), '--out', out, '--json'], env());
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout) as JsonReport;
    expect(r1.feeds).toMatchObject([{ title: 'Run test', error: null, selected: 2 }]);
    expect(r1.episodes.map((e) => e.title)).toEqual(['Alpha', 'Beta']);
    for (const e of r1.episodes) {
      expect(e.stages[0]).toMatchObject({ stage: 'ingest', status: 'done' });
      // Stages not built yet say so; an episode is never "done" with a stage missing.
      if (e.stages.some((s) => s.status === 'not_configured')) expect(e.state).toBe('incomplete');
    }
    const ingest = JSON.parse(readFileSync(path.join(r1.episodes[0].stages[0].dir!, 'ingest.json'), 'utf8'));
    expect(ingest).toMatchObject({ audio_file: 'audio.mp3', sha256: sha256(fixture('audio', 'jfk.mp3')), bytes: 76447 });
    expect(r1.stats.executed).toBeGreaterThanOrEqual(2);

    const second = await podbrain(['run', '--feed', srv.url('/good.xml'), '--out', out, '--json'], env());
    expect(second.code, second.stderr).toBe(0);
    const r2 = JSON.parse(second.stdout) as JsonReport;
    expect(r2.stats.executed).toBe(0);
    expect(r2.stats.reused).toBe(r1.stats.executed);
    expect(srv.requests.filter((q) => q.path === '/good.xml').at(-1)?.headers['if-none-match']).toBeTruthy();
  });

  it('reports a missing, a fake and an absent enclosure per episode, keeps the good one, and exits 1', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const res = await podbrain(['run', '--feed', srv.url('/mixed.xml'), '--out', out], { ...env(), LOG_LEVEL: 'info' });
    expect(res.code).toBe(1);
    // Not a terminal, no --json: stderr is for people too — warnings in one line each, one line per
    // finished episode, never a JSON log line (not even at LOG_LEVEL=info).
    const errLines = res.stderr.split('\n').filter(Boolean);
    expect(errLines.filter((l) => /^\s*\{/.test(l))).toEqual([]);
    expect(errLines).toContainEqual(expect.stringMatching(/^warning: stage failed: .*404.* \(stage ingest, episode [0-9a-f]+\)$/));
    expect(errLines.filter((l) => /^\[\d\/4\] /.test(l))).toHaveLength(4);
    expect(res.stdout).not.toMatch(/"level"|^\s*\{/m);
    const lines = res.stdout.split('\n');
    const row = (title: string) => lines.findIndex((l) => l.endsWith(title));
    expect(lines[row('Fine')]).toMatch(/^(done|incomplete)\s+ingest:done/);
    expect(lines[row('Missing audio')]).toMatch(/^failed\s+ingest:FAILED/);
    expect(lines[row('Missing audio') + 1]).toMatch(/ingest: .*404/);
    expect(lines[row('Text audio')]).toMatch(/^failed\s+ingest:FAILED/);
    expect(lines[row('Text audio') + 1]).toMatch(/not audio/);
    expect(lines[row('No enclosure')]).toMatch(/^skipped\s+ingest:skipped/);
    expect(res.stdout).toMatch(/4 episode\(s\): \d done, \d incomplete, 2 failed, 1 skipped/);
  });

  it('--json: stdout is one JSON document and stderr JSON lines only (progress events and logs)', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const res = await podbrain(['run', '--feed', srv.url('/mixed.xml'), '--out', out, '--json'], { ...env(), LOG_LEVEL: 'info' });
    expect(res.code).toBe(1);
    expect(res.stdout.trimEnd().split('\n')).toHaveLength(1);
    const report = JSON.parse(res.stdout) as JsonReport;
    expect(report.episodes.filter((e) => e.state === 'failed').map((e) => e.title).sort()).toEqual(['Missing audio', 'Text audio']);
    const errLines = res.stderr.split('\n').filter(Boolean);
    const events = errLines.map((l) => JSON.parse(l) as { event?: string; stage?: string; status?: string; level?: string; msg?: string });
    expect(events.filter((e) => e.event === 'episode')).toHaveLength(4);
    expect(events.filter((e) => e.event === 'stage-end' && e.stage === 'ingest').map((e) => e.status).sort()).toEqual(['done', 'failed', 'failed', 'skipped']);
    expect(events.filter((e) => e.level === 'warn' && e.msg === 'stage failed')).toHaveLength(2);
  });

  it('without a Whisper model: episodes with a usable publisher transcript are done, the others incomplete (not configured), exit 0 — as doctor says', async () => {
    srv.route('/ep.srt', serveBody('1\n00:00:00,000 --> 00:00:04,000\nAnd so my fellow Americans\n\n2\n00:00:04,000 --> 00:00:11,000\nask not what your country can do for you\n', { contentType: 'application/x-subrip' }));
    srv.route('/gone.srt', status(404, 'nope'));
    const tx = (file: string) => `<podcast:transcript url="${srv.url(file)}" type="application/x-subrip"/>`;
    srv.route(
      '/transcripts.xml',
      serveBody(
        rss([
          item('t-ok', 'Has transcript', 5, srv.url('/jfk.mp3')).replace('</item>', `${tx('/ep.srt')}</item>`),
          item('t-none', 'Audio only', 4, srv.url('/jfk.mp3')),
          item('t-gone', 'Transcript gone', 3, srv.url('/jfk.mp3')).replace('</item>', `${tx('/gone.srt')}</item>`),
        ]).replace('<rss version="2.0">', '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'),
        { contentType: 'application/rss+xml' },
      ),
    );
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const res = await podbrain(['run', '--feed', srv.url('/transcripts.xml'), '--out', out, '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as JsonReport;
    const byTitle = Object.fromEntries(report.episodes.map((e) => [e.title, e]));
    expect(byTitle['Has transcript']).toMatchObject({ state: 'done', reason: null });
    for (const title of ['Audio only', 'Transcript gone']) {
      const e = byTitle[title];
      expect(e.state, title).toBe('incomplete');
      expect(e.stages.map((s) => `${s.stage}:${s.status}`), title).toEqual(['ingest:done', 'transcribe:not_configured']);
      expect(e.reason, title).toMatch(/^not configured: transcribe: .*whisper-cpp: whisper model .*ggml-base\.en\.bin not found/s);
    }
    // The unusable transcript is part of the reason, not hidden.
    expect(byTitle['Transcript gone'].reason).toMatch(/gone\.srt.*404/s);

    const human = await podbrain(['run', '--feed', srv.url('/transcripts.xml'), '--out', out], env());
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^incomplete\s+ingest:reused transcribe:not configured\s+Audio only\n\s+↳ not configured: transcribe: /m);
    expect(human.stdout).toMatch(/3 episode\(s\): 1 done, 2 incomplete, 0 failed, 0 skipped/);

    // doctor, same setup: the missing model blocks transcription of such episodes, not `run`.
    const doctor = await podbrain(['doctor'], { ...env(), DATA_DIR: out });
    expect(doctor.stdout).toMatch(/✗ models .*wanted ggml-base\.en\.bin/);
    expect(doctor.stdout).toMatch(/block transcription of episodes without a publisher transcript \([^)]*models[^)]*\)/);
    expect(doctor.stdout).toMatch(/reports the others `incomplete` \("not configured: transcribe"\)/);
    expect(doctor.stdout).not.toMatch(/block `podbrain run`/);
  });

  it('shows progress bars with an ETA on a terminal (pty from util-linux script)', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const cmd = `${process.execPath} ${CLI} run --feed ${srv.url('/good.xml')} --out ${out}`;
    const res = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile('script', ['-qec', cmd, '/dev/null'], { env: { PATH: process.env.PATH, ...env(), TERM: 'xterm' } }, (err, stdout) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
      ),
    );
    expect(res.code).toBe(0);
    const screen = res.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(screen).toMatch(/\| episodes\s+\| 1\/2 \| ETA \d+s/);
    expect(screen).toMatch(/100% \| episodes/);
    expect(screen).not.toMatch(/"event":/);
    expect(screen).toMatch(/2 episode\(s\): /);
  });

  it('on a terminal, warnings are short human lines above the bars, never JSON', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const cmd = `${process.execPath} ${CLI} run --feed ${srv.url('/mixed.xml')} --out ${out}`;
    const stdout = await new Promise<string>((resolve) =>
      execFile('script', ['-qec', cmd, '/dev/null'], { env: { PATH: process.env.PATH, ...env(), LOG_LEVEL: 'info', TERM: 'xterm' } }, (_err, so) => resolve(so)),
    );
    const screen = stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(screen).toMatch(/warning: stage failed: .*404.*\(stage ingest, episode [0-9a-f]+\)/);
    expect(screen).not.toMatch(/"level"|"msg"|"event"/);
    expect(screen).toMatch(/4 episode\(s\): /);
  });

  it('selects episodes with --limit and --since, most recent first', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const limited = JSON.parse((await podbrain(['run', '--feed', srv.url('/mixed.xml'), '--out', out, '--limit', '1', '--json'], env())).stdout) as JsonReport;
    expect(limited.episodes.map((e) => e.title)).toEqual(['Fine']);
    const since = JSON.parse((await podbrain(['run', '--feed', srv.url('/mixed.xml'), '--out', out, '--since', '2024-01-04', '--json'], env())).stdout) as JsonReport;
    expect(since.episodes.map((e) => e.title)).toEqual(['Fine', 'Missing audio']);
  });

  it('runs a YAML feed list; a refused feed fails alone with a clear reason', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podbrain-run-'));
    const list = path.join(dir, 'feeds.yaml');
    writeFileSync(list, `feeds:\n  - ${srv.url('/good.xml')}\n  - http://169.254.169.254/latest/feed.xml\n`);
    const res = await podbrain(['run', '--feeds', list, '--out', path.join(dir, 'data'), '--json'], { ...env(), ALLOW_PRIVATE_NETWORK: 'false' });
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as JsonReport;
    // Without the opt-in even the local test server (127.0.0.1) is refused, as is the metadata address.
    expect(report.feeds.map((f) => f.error)).toEqual([expect.stringMatching(/ALLOW_PRIVATE_NETWORK/), expect.stringMatching(/ALLOW_PRIVATE_NETWORK/)]);
    expect(report.episodes).toEqual([]);
  });

  it('fails at start on an invalid config value, naming the key and what was expected', async () => {
    const res = await podbrain(['run', '--feed', srv.url('/good.xml')], { ...env(), AUDIO_MAX_BYTES: 'lots' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/AUDIO_MAX_BYTES/);
    expect(res.stderr).toMatch(/expected|number|integer/i);
  });

  it('refuses to start without a feed', async () => {
    const res = await podbrain(['run'], env());
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--feed/);
  });
});
