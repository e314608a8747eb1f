/**
 * The viewer without Docker (issue 18): the api serves web/dist on its own port — files with
 * their content types, /assets/* immutable, index.html revalidated, the single-page-app fallback
 * for deep links, gzip/brotli, HEAD, the Caddyfile's security headers — and never shadows /api,
 * /healthz or /metrics; no path (encoded `..`, dot-files, symlinks out) reads outside the
 * directory. `podbrain serve` (the built CLI) starts and answers both.
 * Needs a built viewer (npm run build -w web); skipped with a message without one.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapApi } from '../src/api/bootstrap';
import { defaultViewerDir, pickEncoding, resolveViewerDir } from '../src/api/static/viewer-static';
import { ConfigError } from '../src/config/config';
import { apiConfig, call, freshDatabase, startApi } from './api-support';

const DB = 'podbrain_test_serve';
const SERVICES = path.resolve(__dirname, '..');
const WEB_DIST = defaultViewerDir();
const built = existsSync(path.join(WEB_DIST, 'index.html'));
if (!built) console.warn(`serve-viewer: SKIPPED — no built viewer at ${WEB_DIST}: run \`npm run build -w web\` first`);

const SECRET = 'TOP-SECRET-OUTSIDE-THE-VIEWER';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let api: Awaited<ReturnType<typeof startApi>>;
let work: string;
let root: string;
let jsAsset: string;

/** A raw request: the path goes out exactly as written (fetch would normalise `..`). */
function raw(base: string, method: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: p, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  if (!built) return;
  // A copy of the built viewer (a rebuild elsewhere must not pull files away mid-test), a secret
  // beside it and symlinks that point out of it.
  work = mkdtempSync(path.join(os.tmpdir(), 'podbrain-serve-'));
  root = path.join(work, 'dist');
  cpSync(WEB_DIST, root, { recursive: true });
  writeFileSync(path.join(work, 'secret.txt'), SECRET);
  mkdirSync(path.join(work, 'outside'));
  writeFileSync(path.join(work, 'outside', 'secret.txt'), SECRET);
  symlinkSync(path.join(work, 'outside'), path.join(root, 'link-out'));
  symlinkSync(path.join(work, 'secret.txt'), path.join(root, 'escape.txt'));
  mkdirSync(path.join(root, '.hidden'), { recursive: true });
  writeFileSync(path.join(root, '.hidden', 'x.txt'), SECRET);
  writeFileSync(path.join(root, '.env'), SECRET);
  jsAsset = readdirSync(path.join(root, 'assets')).filter((f) => f.endsWith('.js')).sort((a, b) => statSync(path.join(root, 'assets', b)).size - statSync(path.join(root, 'assets', a)).size)[0];
  db = await freshDatabase(DB);
  api = await startApi(apiConfig(db.url, { WEB_DIST_DIR: root }));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!built)('the api serves the viewer (WEB_DIST_DIR)', () => {
  it('GET / is index.html, revalidated on each load, with the Caddyfile security headers', async () => {
    const r = await fetch(`${api.base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-cache');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
    expect(r.headers.get('server')).toBeNull();
    expect(await r.text()).toBe(readFileSync(path.join(root, 'index.html'), 'utf8'));
  });

  it('hashed assets: their content type, cached for a year as immutable, compressed as asked', async () => {
    const file = readFileSync(path.join(root, 'assets', jsAsset));
    const plain = await raw(api.base, 'GET', `/assets/${jsAsset}`);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('Accept-Encoding');
    expect(plain.body.equals(file)).toBe(true);
    const br = await raw(api.base, 'GET', `/assets/${jsAsset}`, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(br.body.length).toBeLessThan(file.length / 2);
    expect(brotliDecompressSync(br.body).equals(file)).toBe(true);
    const gz = await raw(api.base, 'GET', `/assets/${jsAsset}`, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(file)).toBe(true);
    const css = readdirSync(path.join(root, 'assets')).find((f) => f.endsWith('.css'))!;
    expect((await fetch(`${api.base}/assets/${css}`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('HEAD answers the headers without a body; If-None-Match answers 304', async () => {
    const head = await raw(api.base, 'HEAD', `/assets/${jsAsset}`);
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(statSync(path.join(root, 'assets', jsAsset)).size);
    expect(head.body.length).toBe(0);
    const headIndex = await raw(api.base, 'HEAD', '/episodes/abc');
    expect(headIndex.status).toBe(200);
    expect(headIndex.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(headIndex.body.length).toBe(0);
    const first = await fetch(`${api.base}/`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"/);
    const again = await raw(api.base, 'GET', '/', { 'if-none-match': etag });
    expect(again.status).toBe(304);
  });

  it("deep links fall back to index.html (the app's router); a missing file is a 404, not HTML", async () => {
    const index = readFileSync(path.join(root, 'index.html'), 'utf8');
    for (const p of ['/episodes/0123456789abcdef01234567?t=12', '/feeds/abc', '/digests/3', '/search?q=x', '/some/deep/path/']) {
      const r = await fetch(`${api.base}${p}`);
      expect(r.status, p).toBe(200);
      expect(r.headers.get('cache-control'), p).toBe('no-cache');
      expect(await r.text(), p).toBe(index);
    }
    for (const p of ['/assets/index-gone.js', '/assets/nothing', '/favicon.ico', '/icons/gone.png', '/old-sw.js', '/app.webmanifest']) {
      const r = await fetch(`${api.base}${p}`);
      expect(r.status, p).toBe(404);
      expect(await r.text(), p).not.toContain('<html');
    }
  });

  it('the service worker and the web app manifest are revalidated on each load, with their types (installable viewer)', async () => {
    const sw = await fetch(`${api.base}/sw.js`);
    expect(sw.status).toBe(200);
    expect(sw.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(sw.headers.get('cache-control')).toBe('no-cache');
    expect(await sw.text()).toContain('podbrain-shell-');
    const m = await fetch(`${api.base}/manifest.webmanifest`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toBe('application/manifest+json; charset=utf-8');
    expect(m.headers.get('cache-control')).toBe('no-cache');
    expect(((await m.json()) as { start_url: string }).start_url).toBe('/');
    const icon = await fetch(`${api.base}/icons/icon-192.png`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/png');
  });

  it('never shadows the api: /api, /healthz, /metrics answer as before, in any spelling', async () => {
    const nope = await call(api.base, 'GET', '/api/no-such-route');
    expect(nope.status).toBe(404);
    expect(nope.body.error).toBeDefined();
    expect((await call(api.base, 'GET', '/API/episodes')).headers.get('content-type')).toContain('json');
    expect((await call(api.base, 'GET', '/%61pi/episodes')).text).not.toContain('<html');
    const health = await call(api.base, 'GET', '/healthz');
    expect(health.headers.get('content-type')).toContain('json');
    expect((await call(api.base, 'GET', '/metrics')).text).toContain('# HELP');
    const feeds = await call(api.base, 'GET', '/api/feeds');
    expect(feeds.status).toBe(200);
    expect(feeds.body.items).toEqual([]);
    // The API's answers carry the security headers too (as behind Caddy).
    expect(feeds.headers.get('x-content-type-options')).toBe('nosniff');
    // Writes are never the viewer's: a POST to / reaches the api (a JSON 404).
    const post = await call(api.base, 'POST', '/', { json: {} });
    expect(post.status).toBe(404);
    expect(post.headers.get('content-type')).toContain('json');
  });

  it('no path reads outside the directory: encoded .., dot-files, symlinks out', async () => {
    const attempts = [
      '/..%2f..%2fetc/passwd',
      '/..%2F..%2F..%2F..%2Fetc%2Fpasswd',
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%5c..%5csecret.txt',
      '/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt',
      '/%252e%252e/secret.txt',
      '/..',
      '/.env',
      '/.hidden/x.txt',
      '/%2ehidden/x.txt',
      '/.vite/manifest.json',
      '/link-out/secret.txt',
      '/escape.txt',
      '/secret.txt%00.js',
      '/%00',
      '//etc/passwd',
      '/\\..\\secret.txt',
    ];
    for (const p of attempts) {
      const r = await raw(api.base, 'GET', p);
      const body = r.body.toString('utf8');
      expect(body, p).not.toContain(SECRET);
      expect(body, p).not.toMatch(/root:.*:0:0:/);
      expect(r.status, p).toBeLessThan(500);
      // Either refused or the app's own page, never another file.
      if (r.status === 200) expect(r.headers['content-type'], p).toBe('text/html; charset=utf-8');
    }
    for (const p of ['/..%2f..%2fetc/passwd', '/link-out/secret.txt', '/escape.txt', '/.env']) expect((await raw(api.base, 'GET', p)).status, p).toBe(404);
  });
});

describe('WEB_DIST_DIR', () => {
  it('auto finds the built viewer next to services/ (or nothing), off serves none, a bad directory fails at start', () => {
    expect(resolveViewerDir('auto')).toBe(built ? WEB_DIST : null);
    expect(resolveViewerDir('off')).toBeNull();
    expect(resolveViewerDir('auto', path.join(os.tmpdir(), 'no-viewer-here'))).toBeNull();
    expect(() => resolveViewerDir(path.join(os.tmpdir(), 'no-viewer-here'))).toThrow(ConfigError);
  });

  it('off: GET / is the JSON 404 it always was', async () => {
    const cfg = apiConfig('postgres://postgres@127.0.0.1:1/none', { WEB_DIST_DIR: 'off' });
    const app = await bootstrapApi(cfg);
    try {
      const port = (app.getHttpServer() as http.Server).address() as { port: number };
      const r = await call(`http://127.0.0.1:${port.port}`, 'GET', '/');
      expect(r.status).toBe(404);
      expect(r.body.error).toBeDefined();
      expect(r.headers.get('x-content-type-options')).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('Accept-Encoding: brotli first, then gzip; q=0 refuses one', () => {
    expect(pickEncoding('gzip, deflate, br')).toBe('br');
    expect(pickEncoding('gzip')).toBe('gzip');
    expect(pickEncoding('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(pickEncoding('identity')).toBeNull();
    expect(pickEncoding(undefined)).toBeNull();
    expect(pickEncoding('*')).toBe('gzip');
  });
});

describe.skipIf(!built)('podbrain serve (built CLI)', () => {
  const CLI = path.join(SERVICES, 'dist/cli/main.js');
  const SOURCES = ['cli/main.ts', 'cli/commands/index.ts', 'cli/commands/serve.ts', 'api/bootstrap.ts', 'api/static/viewer-static.ts', 'config/config.ts', 'db/migrate.ts'];
  const stale = () => {
    try {
      return SOURCES.some((s) => statSync(path.join(SERVICES, 'src', s)).mtimeMs > statSync(path.join(SERVICES, 'dist', s.replace(/\.ts$/, '.js'))).mtimeMs);
    } catch {
      return true;
    }
  };
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    if (!stale()) return;
    // Type errors elsewhere must not hide this command's behaviour: tsc still emits.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: SERVICES }).catch(() => undefined);
    expect(stale()).toBe(false);
  }, 180_000);

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  /** Runs the built CLI to its end (at most 30 s): exit code and what it wrote. */
  function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string; ms: number }> {
    const started = Date.now();
    const p = spawn(process.execPath, [CLI, ...args], { cwd: SERVICES, env: { ...process.env, PODBRAIN_CONFIG: '', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    return new Promise((resolve) => p.once('exit', (code) => (clearTimeout(timer), resolve({ code, out, err, ms: Date.now() - started }))));
  }

  it('a port in use is said plainly and the process exits (it stayed up, serving nothing, behind the error)', async () => {
    const busy = http.createServer();
    await new Promise<void>((r) => busy.listen(0, '0.0.0.0', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await runCli(['serve', '--port', String(port), '--web', 'off'], { DATABASE_URL: db.url, QUEUE_PREFIX: 'serve-busy-test' });
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`podbrain: port ${port} is in use`);
      expect(r.err).toContain('--port N');
      expect(r.ms).toBeLessThan(25_000);
    } finally {
      busy.close();
    }
  }, 60_000);

  it('--migrate against a database that does not exist says how to create it, without a stack trace', async () => {
    const missing = new URL(db.url);
    missing.pathname = '/podbrain_test_serve_no_such_db';
    const r = await runCli(['serve', '--port', '0', '--web', 'off', '--migrate'], { DATABASE_URL: missing.href });
    expect(r.code).toBe(2);
    expect(r.err).toContain('database "podbrain_test_serve_no_such_db" does not exist');
    expect(r.err).toContain('createdb');
    expect(r.err).not.toContain('    at ');
  }, 60_000);

  it('starts, serves the viewer and the API on one port, stops on SIGTERM', async () => {
    const env = { ...process.env, PODBRAIN_CONFIG: '', DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: 'serve-cli-test', LOG_LEVEL: 'warn', DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'podbrain-serve-data-')) };
    child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--web', root, '--migrate'], { cwd: SERVICES, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const deadline = Date.now() + 60_000;
    while (!/serving on (http:\/\/127\.0\.0\.1:\d+\/)/.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`podbrain serve did not start (exit ${child.exitCode}): ${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const base = /serving on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)![1];
    const index = await fetch(`${base}/episodes/abc?t=12`);
    expect(index.status).toBe(200);
    expect(await index.text()).toBe(readFileSync(path.join(root, 'index.html'), 'utf8'));
    const feeds = await call(base, 'GET', '/api/feeds');
    expect(feeds.status).toBe(200);
    expect(feeds.body.items).toEqual([]);
    expect((await raw(base, 'GET', '/..%2f..%2fetc/passwd')).status).toBe(404);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
