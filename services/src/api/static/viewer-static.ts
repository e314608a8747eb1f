import { createReadStream, existsSync, promises as fsp, realpathSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import { ConfigError } from '../../config/config';

/**
 * The viewer (web/dist) served by the api itself, on the api's port (issue 18: "without Docker").
 * In the appliance Caddy serves it (deploy/Caddyfile) and the api image has no web/dist, so
 * WEB_DIST_DIR=auto finds nothing there; from a checkout (`podbrain serve`, or the api role run by
 * hand) auto finds the built viewer next to services/.
 *
 * What it does, as the Caddyfile does: the files of the directory, a single-page-app fallback to
 * index.html for any other GET that is not the api's (/api, /healthz, /metrics are never shadowed),
 * `/assets/*` (content-hashed names) cached for a year as immutable, everything else (index.html,
 * a manifest or service worker at the root) revalidated on each load; gzip or brotli for text,
 * compressed once per file and kept in memory. A path leaving the directory — `..` in any
 * encoding, a dot-file, a symlink pointing out — is a 404, never a file.
 */

/** The security headers the Caddyfile puts on every answer of the viewer's origin (the CLI path must not be weaker). */
export const VIEWER_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
};

/** Paths the api answers itself: the viewer never shadows them (compared by their first segment, in any case). */
const API_SEGMENTS = new Set(['api', 'healthz', 'metrics']);

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.mp3': 'audio/mpeg',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.webmanifest', '.svg', '.txt', '.xml', '.ico', '.ttf', '.wasm']);
/** Below this a compressed copy saves less than its headers cost. */
const MIN_COMPRESS_BYTES = 1024;
/** Larger files are sent as they are (the viewer's largest chunk is ~450 KB). */
const MAX_COMPRESS_BYTES = 8 * 2 ** 20;
/** The compressed copies kept in memory, all files together. */
const MAX_CACHE_BYTES = 64 * 2 ** 20;

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

type Encoding = 'br' | 'gzip';

/** The built viewer next to services/ (services/{src,dist}/api/static → ../../../../web/dist). */
export function defaultViewerDir(): string {
  return path.resolve(__dirname, '../../../../web/dist');
}

/**
 * Where WEB_DIST_DIR says the viewer is: `off` → none; `auto` → web/dist next to services/ when it
 * has an index.html (not in the appliance image, where Caddy serves the viewer); a directory → it,
 * which must hold an index.html (a ConfigError at start otherwise, not a silent JSON 404 at `/`).
 */
export function resolveViewerDir(setting: string, fallback = defaultViewerDir()): string | null {
  const s = setting.trim();
  if (s === 'off') return null;
  if (s === 'auto' || s === '') return existsSync(path.join(fallback, 'index.html')) ? realpathSync(fallback) : null;
  const dir = path.resolve(s);
  if (!existsSync(path.join(dir, 'index.html'))) throw new ConfigError([`WEB_DIST_DIR=${s}: no index.html in ${dir} (build the viewer: npm run build -w web), or WEB_DIST_DIR=off`]);
  return realpathSync(dir);
}

/** Adds the Caddyfile's security headers to every answer (the api's too, as Caddy does in front of it). */
export function viewerSecurityHeaders() {
  return (_req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    for (const [k, v] of Object.entries(VIEWER_SECURITY_HEADERS)) res.setHeader(k, v);
    next();
  };
}

/** The encoding to send: brotli when the client takes it, else gzip, else none (q=0 refuses one). */
export function pickEncoding(acceptEncoding: string | string[] | undefined): Encoding | null {
  const header = Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : (acceptEncoding ?? '');
  const accepted = new Set<string>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q && !(Number(q.slice(2)) > 0)) continue;
    accepted.add(name.trim());
  }
  if (accepted.has('br')) return 'br';
  if (accepted.has('gzip') || accepted.has('*')) return 'gzip';
  return null;
}

/**
 * The file a URL path names inside `root` (already a real path), or why not: `outside` for
 * anything that tries to leave it or names a dot-file (404, never the SPA page), `missing` when
 * there is no such file (the SPA fallback may answer).
 */
export async function locate(root: string, urlPath: string): Promise<{ file: string; stats: Stats } | 'outside' | 'missing'> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return 'outside';
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return 'outside';
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s.startsWith('.'))) return 'outside';
  const candidate = path.join(root, ...segments);
  if (candidate !== root && !candidate.startsWith(root + path.sep)) return 'outside';
  let real: string;
  try {
    real = await fsp.realpath(candidate);
  } catch {
    return 'missing';
  }
  // A symlink (or a link above it) that points out of the directory.
  if (real !== root && !real.startsWith(root + path.sep)) return 'outside';
  const stats = await fsp.stat(real).catch(() => null);
  if (!stats?.isFile()) return 'missing';
  return { file: real, stats };
}

/** Compressed copies by file, encoding, size and mtime (a rebuilt viewer gets new ones). */
class CompressedCache {
  private readonly entries = new Map<string, Promise<Buffer>>();
  private bytes = 0;

  get(file: string, stats: Stats, encoding: Encoding): Promise<Buffer> {
    const key = `${encoding}\0${file}\0${stats.size}\0${stats.mtimeMs}`;
    let hit = this.entries.get(key);
    if (!hit) {
      hit = fsp.readFile(file).then((raw) =>
        encoding === 'br'
          ? brotliAsync(raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 9, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: raw.length } })
          : gzipAsync(raw, { level: 9 }),
      );
      const stored = hit;
      hit.then(
        (b) => {
          this.bytes += b.length;
          // Bounded: when full, start again (the viewer is a few MB; only a huge WEB_DIST_DIR gets here).
          if (this.bytes > MAX_CACHE_BYTES) {
            this.entries.clear();
            this.bytes = 0;
          }
        },
        () => this.entries.delete(key),
      );
      this.entries.set(key, stored);
    }
    return hit;
  }
}

/**
 * Express middleware serving the viewer from `root` (a real path with an index.html). Any
 * request that is not a GET or HEAD, or that belongs to the api, goes on to the api.
 */
export function viewerStatic(root: string) {
  const cache = new CompressedCache();
  const indexFile = path.join(root, 'index.html');

  async function send(req: IncomingMessage, res: ServerResponse, file: string, stats: Stats, cacheControl: string): Promise<void> {
    const ext = path.extname(file).toLowerCase();
    const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    res.setHeader('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream');
    res.setHeader('Cache-Control', cacheControl);
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', stats.mtime.toUTCString());
    const compressible = COMPRESSIBLE.has(ext) && stats.size >= MIN_COMPRESS_BYTES && stats.size <= MAX_COMPRESS_BYTES;
    if (compressible) res.setHeader('Vary', 'Accept-Encoding');
    if (req.headers['if-none-match'] === etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const encoding = compressible ? pickEncoding(req.headers['accept-encoding']) : null;
    if (encoding) {
      const body = await cache.get(file, stats, encoding);
      res.setHeader('Content-Encoding', encoding);
      res.setHeader('Content-Length', body.length);
      res.statusCode = 200;
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    res.setHeader('Content-Length', stats.size);
    res.statusCode = 200;
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
      stream.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', resolve);
      stream.pipe(res);
    });
  }

  function notFound(res: ServerResponse): void {
    res.statusCode = 404;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end('not found\n');
  }

  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const urlPath = (req.url ?? '/').split('?')[0].split('#')[0];
    const first = urlPath.split('/').find((s) => s !== '') ?? '';
    let firstDecoded = first;
    try {
      firstDecoded = decodeURIComponent(first);
    } catch {
      /* an undecodable first segment is not the api's */
    }
    if (API_SEGMENTS.has(first.toLowerCase()) || API_SEGMENTS.has(firstDecoded.toLowerCase())) return next();
    (async () => {
      const found = await locate(root, urlPath);
      if (found === 'outside') return notFound(res);
      if (found !== 'missing') {
        const isAsset = path.relative(root, found.file).split(path.sep)[0] === 'assets';
        return send(req, res, found.file, found.stats, isAsset ? IMMUTABLE : REVALIDATE);
      }
      // A missing file (an old hashed asset, /favicon.ico) is a 404, not the app's HTML under a .js name.
      const ext = path.extname(urlPath.split('/').pop() ?? '').toLowerCase();
      if (first === 'assets' || (ext !== '.html' && Object.hasOwn(CONTENT_TYPES, ext))) return notFound(res);
      // The single-page app's own routes (/episodes/<key>?t=12 …): index.html, which routes on the client.
      const stats = await fsp.stat(indexFile);
      return send(req, res, indexFile, stats, REVALIDATE);
    })().catch(next);
  };
}
