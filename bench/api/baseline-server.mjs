// The baseline of the API figure: a raw node:http handler answering a fixed body (the same bytes
// as one GET /api/episodes?limit=50 page) with no framework, database or middleware.
import http from 'node:http';

const body = Buffer.from(process.argv[2] ?? '{}');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
