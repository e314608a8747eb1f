import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture } from './support/fixtures';
import { freePort, startStack, tempDir, waitFor, type Stack } from './support/stack';

/**
 * Peers that are merely ordinary: `python3 -m http.server` answers HTTP/1.0 with
 * Connection: close (the end of the body is the end of the connection) and no keep-alive.
 * undici 7's HTTP/1 parser asserted it was not paused when such a peer closed while the
 * reader was still writing the previous chunk to disk (nodejs/undici#5360): the assertion was
 * thrown from a socket listener, took the whole worker-io process down, and the episodes it
 * was downloading stayed `downloading`.
 */

/** http.server's SimpleHTTPRequestHandler; paths under /nolen/ are sent without Content-Length (close-delimited). */
const PY_SERVER = `
import http.server, os, sys
class H(http.server.SimpleHTTPRequestHandler):
    def send_header(self, k, v):
        if k.lower() == 'content-length' and self.path.startswith('/nolen/'):
            return
        super().send_header(k, v)
    def translate_path(self, p):
        return super().translate_path(p.replace('/nolen/', '/', 1))
    def log_message(self, *a):
        pass
os.chdir(sys.argv[2])
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`;
import { addFeed } from './support/db';

async function startPythonServer(dir: string): Promise<{ url: (p: string) => string; stop: () => void }> {
  const port = await freePort();
  const child: ChildProcess = spawn('python3', ['-c', PY_SERVER, String(port), dir], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('python http.server', async () => (await fetch(`${base}/feed.xml`).catch(() => null))?.ok, 15_000, 100);
  return { url: (p) => `${base}${p}`, stop: () => child.kill('SIGTERM') };
}

let stack: Stack | null = null;
let stopServer: (() => void) | null = null;
let dir: ReturnType<typeof tempDir> | null = null;
afterEach(async () => {
  await stack?.stop();
  stopServer?.();
  dir?.remove();
  stack = null;
  stopServer = null;
  dir = null;
});

describe('worker-io against ordinary HTTP/1.0 servers', () => {
  it('several episodes at once from python http.server (Connection: close, some without Content-Length): the worker stays up and every episode finishes', async () => {
    dir = tempDir('bad-peers');
    const COUNT = 12;
    // A real MP3 head (the ingest stage sniffs the type) padded to a few MB, so each transfer is
    // many chunks long and the parser is paused by disk writes while the peer closes.
    const head = readFileSync(fixture('audio', 'jfk.mp3'));
    for (let i = 0; i < COUNT; i++) writeFileSync(path.join(dir.dir, `ep${i}.mp3`), Buffer.concat([head, randomBytes(3 * 1024 * 1024 + i * 4099)]));
    writeFileSync(path.join(dir.dir, 'feed.xml'), '<rss version="2.0"><channel><title>x</title></channel></rss>');
    const py = await startPythonServer(dir.dir);
    stopServer = py.stop;
    const items = Array.from({ length: COUNT }, (_, i) => {
      const p = i % 2 ? `/nolen/ep${i}.mp3` : `/ep${i}.mp3`;
      return `<item><guid>ep-${i}</guid><title>Episode ${i}</title><pubDate>Mon, ${String(i + 1).padStart(2, '0')} Jan 2024 10:00:00 GMT</pubDate><enclosure url="${py.url(p)}" type="audio/mpeg" length="0"/></item>`;
    });
    writeFileSync(path.join(dir.dir, 'feed.xml'), `<?xml version="1.0"?><rss version="2.0"><channel><title>Plain server show</title>${items.join('')}</channel></rss>`);

    // feed-only ASR: nothing can transcribe, so after ingest each episode is projected as skipped (a final state)
    stack = await startStack({ name: 'badpeer', env: { ALLOW_PRIVATE_NETWORK: 'true', ASR_ENGINES: 'feed', QUEUE_BACKOFF_MS: '200', FEED_BACKFILL_DEFAULT: 'all' } });
    const io = await stack.start('worker-io');
    await stack.start('scheduler');
    await addFeed(stack.db, py.url('/feed.xml'), { pollIntervalS: 3600 });
    const s = stack;
    const dead = () => io.child.exitCode !== null || io.child.signalCode !== null;
    const rows = await waitFor(
      `${COUNT} episodes final`,
      async () => {
        if (dead()) return 'dead' as const;
        const r = (await s.db.query(`SELECT title, state::text AS state, state_reason, last_error FROM episodes ORDER BY title`)) as { title: string; state: string; state_reason: string | null; last_error: string | null }[];
        return r.length === COUNT && r.every((e) => ['done', 'failed', 'skipped'].includes(e.state)) ? r : null;
      },
      120_000,
      300,
    );
    if (rows === 'dead') throw new Error(`worker-io died (${io.child.exitCode ?? io.child.signalCode}):\n${s.logs('worker-io').slice(-3000)}`);
    expect(io.child.exitCode, s.logs('worker-io').slice(-3000)).toBeNull();
    expect(io.child.signalCode).toBeNull();
    expect((await stack.health('worker-io')).status).toBe(200);
    expect(s.logs('worker-io')).not.toContain('ERR_ASSERTION');
    for (const r of rows) expect(r, r.last_error ?? '').toMatchObject({ state: 'skipped', state_reason: expect.stringContaining('not configured: transcribe') });
    const ingests = (await s.db.query(`SELECT status, count(*)::int AS n FROM stage_runs WHERE stage = 'ingest' GROUP BY status`)) as { status: string; n: number }[];
    expect(ingests).toEqual([{ status: 'done', n: COUNT }]);
  }, 240_000);
});
