/**
 * Serves the built viewer (web/dist, SPA fallback) the way Caddy does in the appliance, and
 * hands `/api/*` either to an in-process handler (the contract stub) or to a real api role
 * (streaming proxy, so SSE passes through unbuffered).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { DIST_DIR, requireDist } from './paths';

export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface AppServer {
  origin: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

function serveStatic(distDir: string, req: IncomingMessage, res: ServerResponse): void {
  const urlPath = decodeURIComponent((req.url ?? '/').split('?')[0]);
  let file = path.join(distDir, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''));
  if (!file.startsWith(distDir) || !existsSync(file) || statSync(file).isDirectory()) {
    // Client-side routes (/episodes/…) get the app shell; missing assets are a real 404.
    if (urlPath.startsWith('/assets/')) {
      res.writeHead(404).end('not found');
      return;
    }
    file = path.join(distDir, 'index.html');
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
  createReadStream(file).pipe(res);
}

function proxyTo(target: URL): ApiHandler {
  return (req, res) => {
    const upstream = http.request(
      // X-Forwarded-Host as Caddy sends it: the api compares a browser's Origin with the host it reached.
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host, 'x-forwarded-host': req.headers.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'bad_gateway', message: e.message } }));
      else res.destroy();
    });
    req.pipe(upstream);
  };
}

export async function startAppServer(opts: { api: ApiHandler | string; distDir?: string }): Promise<AppServer> {
  const distDir = opts.distDir ?? DIST_DIR;
  if (!opts.distDir) requireDist();
  const api = typeof opts.api === 'string' ? proxyTo(new URL(opts.api)) : opts.api;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').startsWith('/api/') || req.url === '/api') {
      Promise.resolve(api(req, res)).catch((e) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'stub_crash', message: String(e) } }));
        else res.destroy();
      });
      return;
    }
    serveStatic(distDir, req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
