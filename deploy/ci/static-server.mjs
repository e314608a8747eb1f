// A tiny static file server for the appliance test's stand-in hosts (model host, podcast host):
//   node static-server.mjs <dir> <port>
// GET/HEAD only, no directory listing, content type by extension, Range for audio.
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [root = '/srv', port = '8080'] = process.argv.slice(2);
const TYPES = { '.xml': 'application/rss+xml', '.mp3': 'audio/mpeg', '.wav': 'audio/wav', '.vtt': 'text/vtt', '.txt': 'text/plain', '.bin': 'application/octet-stream' };

http
  .createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
    let size;
    try {
      const st = statSync(file);
      if (!st.isFile() || !file.startsWith(path.resolve(root))) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    res.writeHead(range ? 206 : 200, {
      'content-type': type,
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file, { start, end }).pipe(res);
    console.log(`${req.method} ${rel} ${range ? 206 : 200}`);
  })
  .listen(Number(port), '0.0.0.0', () => console.log(`serving ${root} on :${port}`));
