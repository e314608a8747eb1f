#!/usr/bin/env node
// An API-like node http server for the telemetry overhead benchmark (run.mjs).
//   node bench/telemetry/server.mjs <bare|histogram|metrics|traced> <port>
// bare:      route table + JSON body, nothing else.
// histogram: bare + podbrain_api_request_duration_seconds (apiMetricsMiddleware) only.
// metrics:   the api's default telemetry: the histogram, a correlation id per request (taken
//            from x-correlation-id or made, answered in the header, passed explicitly — no
//            AsyncLocalStorage), the handler span call (a no-op without an OTLP endpoint); /metrics.
// metrics-als: metrics, but the handler runs inside an AsyncLocalStorage context (withLogContext),
//            as the workers do per job.
// traced:  metrics + the OpenTelemetry SDK (http instrumentation, OTLP export to the endpoint in
//          OTEL_EXPORTER_OTLP_ENDPOINT — run.mjs points it at a local sink; sampling from the
//          standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [mode = 'bare', portArg = '0'] = process.argv.slice(2);
const useAls = mode === 'metrics-als' || mode === 'traced';
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../services/dist');
const require = createRequire(import.meta.url);

let handle;
if (mode === 'traced') {
  // before http is loaded, as the image's --require preload does
  const { startTracing } = require(path.join(dist, 'telemetry/tracing.js'));
  handle = startTracing({ role: 'api' });
  if (!handle.enabled) throw new Error('traced mode needs OTEL_EXPORTER_OTLP_ENDPOINT');
}
const http = require('node:http');

const episode = (id) => ({
  episode_key: `feed-1:${id}`,
  title: `Episode ${id}: a conversation about many podcasts and one brain`,
  state: 'done',
  published_at: '2026-11-01T08:00:00Z',
  duration_ms: 3_600_000,
  summary: { bullets: ['one', 'two', 'three'].map((b) => `${b} — ${'x'.repeat(60)}`) },
  insights: Array.from({ length: 5 }, (_, i) => ({ id: i, text: `insight ${i} ${'y'.repeat(80)}`, confidence: 0.8 })),
});

function route(url) {
  const p = url.split('?')[0];
  const m = /^\/api\/episodes\/([^/]+)$/.exec(p);
  if (m) return { template: '/api/episodes/:id', status: 200, body: episode(m[1]) };
  if (p === '/api/episodes') return { template: '/api/episodes', status: 200, body: { items: [episode(1), episode(2)] } };
  return { template: 'unmatched', status: 404, body: { error: { code: 'not_found', message: 'no such route' } } };
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

let server;
if (mode === 'bare') {
  server = http.createServer((req, res) => {
    const r = route(req.url ?? '/');
    send(res, r.status, r.body);
  });
} else if (mode === 'histogram') {
  const { apiMetricsMiddleware } = require(path.join(dist, 'telemetry/http-metrics.js'));
  const { initMetrics } = require(path.join(dist, 'telemetry/metrics.js'));
  initMetrics({ role: 'api', version: 'bench', gitSha: 'bench' });
  const metricsMw = apiMetricsMiddleware({ resolveRoute: (req) => route(req.url ?? '/').template });
  server = http.createServer((req, res) => {
    metricsMw(req, res, () => {
      const r = route(req.url ?? '/');
      send(res, r.status, r.body);
    });
  });
} else {
  const { apiMetricsMiddleware } = require(path.join(dist, 'telemetry/http-metrics.js'));
  const { correlationIdFromHeaders, withLogContext } = require(path.join(dist, 'telemetry/correlation.js'));
  const { withSpan } = require(path.join(dist, 'telemetry/tracing.js'));
  const { initMetrics, renderMetrics } = require(path.join(dist, 'telemetry/metrics.js'));
  initMetrics({ role: 'api', version: 'bench', gitSha: 'bench' });
  const metricsMw = apiMetricsMiddleware({ resolveRoute: (req) => route(req.url ?? '/').template });
  server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      void renderMetrics().then((m) => {
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(m.body);
      });
      return;
    }
    const id = correlationIdFromHeaders(req.headers);
    res.setHeader('x-correlation-id', id);
    const respond = () =>
      withSpan('handler', { correlation_id: id }, async () => {
        const r = route(req.url ?? '/');
        send(res, r.status, r.body);
      });
    metricsMw(req, res, () => (useAls ? withLogContext({ correlation_id: id }, respond) : respond()));
  });
}
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
const stop = () => server.close(() => void (handle ? handle.shutdown() : Promise.resolve()).then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
