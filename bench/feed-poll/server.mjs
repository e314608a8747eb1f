// Test feed server for the polling benchmark: /feed/<n>.xml serves real fixture feed n % K with a
// stable ETag and Last-Modified per path, answering 304 to a matching If-None-Match. Runs in its own
// process so the poller under test has the benchmark process to itself.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const dir = process.argv[2];
const files = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();
const bodies = files.map((f) => readFileSync(path.join(dir, f)));
const lastModified = new Date(Date.UTC(2024, 0, 1)).toUTCString();
let served = 0;
let notModified = 0;

const server = http.createServer((req, res) => {
  const m = /^\/feed\/(\d+)\.xml$/.exec(req.url ?? '');
  if (!m) return void res.writeHead(404).end();
  const n = Number(m[1]);
  const body = bodies[n % bodies.length];
  // Each path is its own feed: same bytes for the same n % K, a distinct ETag per path.
  const etag = `"${createHash('sha1').update(`${n}:${n % bodies.length}`).digest('hex').slice(0, 16)}"`;
  if (req.headers['if-none-match'] === etag) {
    notModified++;
    return void res.writeHead(304, { etag, 'last-modified': lastModified }).end();
  }
  served++;
  res.writeHead(200, { 'content-type': 'application/rss+xml', 'content-length': body.length, etag, 'last-modified': lastModified }).end(body);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port, feeds: files.length }));
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ served, notModified });
});
