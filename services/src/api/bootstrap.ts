import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Config } from '../config/config';
import { createLogger, type Logger } from '../core/logger';
import { PodbrainError } from '../core/errors';
import { Database } from '../db/database';
import { TenantRepository } from '../repositories/tenants.repository';
import { eventsChannel } from '../repositories/episode-events.repository';
import { incidentsChannel } from '../agent/agent-bus';
import { createRedis, Queues } from '../queue/queues';
import { checksForRole, createHealth } from '../telemetry/health';
import { apiMetricsMiddleware } from '../telemetry/http-metrics';
import { ApiModule } from './api.module';
import { API_PREFIX, apiDocument } from './contract';
import { ApiContext } from './context';
import { correlationMiddleware } from './correlation';
import { assertReadAccessConfigured, readsArePrivate } from './private-reads';
import { ApiError, sendError } from './errors';
import { EventHub } from './events/event-hub';
import { ApiSearchService } from './search/search.service';
import { ChunkRepository } from '../repositories/chunks.repository';
import { ControlPlane } from '../control/control-plane';
import { embeddingsHealthCheck } from '../index/embeddings';
import { resolveViewerDir, viewerSecurityHeaders, viewerStatic } from './static/viewer-static';

const XML_TYPES = ['text/xml', 'application/xml', 'text/x-opml', 'application/x-opml+xml', 'text/x-opml+xml'];

/** Body parsing whose failures (malformed JSON, too large) answer in the API's JSON error shape. */
function jsonErrors(parser: RequestHandler, log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) =>
    parser(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { type?: string; status?: number; message?: string };
      const body = e.type === 'entity.parse.failed' ? Object.assign(new Error(`request body is not valid JSON: ${e.message}`), { status: 400 }) : err;
      sendError(res, body, log);
    });
}

/**
 * A form body (`curl -d '{…}'` without a Content-Type sends one; so does an HTML form) is refused with
 * what to send instead, not answered with a validation error about fields that were never read.
 */
function formBodiesRefused(log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!req.is(['application/x-www-form-urlencoded', 'multipart/form-data'])) return next();
    sendError(res, new ApiError(415, 'unsupported_media_type', `this API reads JSON bodies: send Content-Type: application/json (got ${req.headers['content-type']}; with curl add -H 'Content-Type: application/json')`), log);
  };
}

/** The port an api app listens on (API_PORT, or the kernel's pick for 0). */
export function listeningPort(app: INestApplication): number {
  return ((app.getHttpServer() as import('node:http').Server).address() as AddressInfo).port;
}

/**
 * The api role (ARCHITECTURE §8): NestJS on API_PORT with every route under /api, OpenAPI at
 * /api/docs, /healthz and /metrics at the root. Starts even while Postgres or Redis is down
 * (reads answer 503 and recover by themselves).
 */
export async function bootstrapApi(config: Config, opts: { log?: Logger; listen?: boolean } = {}): Promise<INestApplication> {
  // Before anything connects: an exposed box with private reads but no key must not start.
  assertReadAccessConfigured(config);
  // Without Docker the api serves the viewer too (WEB_DIST_DIR); a named directory without index.html fails here.
  const viewerDir = resolveViewerDir(config.web.distDir);
  const log = opts.log ?? createLogger({ service: 'podbrain-api', level: config.logLevel });
  if (readsArePrivate(config)) log.info({ auth_reads: config.authReads, domain: config.domain || undefined }, 'reads are private: they need the API key or a session');
  // Fail fast: while Postgres is down a request answers 503 within seconds; the pool reconnects by itself.
  const database = new Database(config, log, { poolSize: 20, applicationName: 'podbrain-api', failFast: true });
  database
    .ping()
    .then(() => log.info('api connected to postgres'))
    .catch((e: Error) => log.warn({ err: e.message }, 'postgres not reachable yet; reads answer 503 until it is'));
  const tenants = new TenantRepository(database);
  const redis = createRedis(config);
  redis.on('error', (e) => log.debug({ err: e.message }, 'redis connection error'));
  const subscriber = createRedis(config, { forWorker: true });
  subscriber.on('error', (e) => log.debug({ err: e.message }, 'redis subscriber connection error'));
  // Give Redis a moment to connect so the first queue request does not see it as down.
  await Promise.race([new Promise((resolve) => redis.once('ready', resolve)), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  const queues = Queues.fromConfig(config, redis);
  const ctx = new ApiContext(config, redis, queues, log, tenants);
  // The admin routes' actions, the same implementations the on-call agent runs in the scheduler.
  const controlPlane = new ControlPlane({ config, redis, queues, database, log });
  const hub = new EventHub(subscriber, eventsChannel(config), log, incidentsChannel(config));
  hub.start();
  const chunks = new ChunkRepository(database);
  const search = new ApiSearchService(ctx, chunks, tenants);
  const health = createHealth({
    role: 'api',
    checks: checksForRole('api', {
      postgresPing: () => database.ping(),
      ping: () => redis.ping(),
      indexProbe: () => search.probeIndex(),
      embeddings: embeddingsHealthCheck(config),
      dataDir: config.dataDir,
    }),
  });

  const resources = {
    /** Before the HTTP server closes: end SSE streams, or server.close() would wait for them. */
    beforeApplicationShutdown: () => hub.close(),
    onApplicationShutdown: async () => {
      await queues.close().catch(() => undefined);
      redis.disconnect();
      await database.close().catch(() => undefined);
    },
  };
  // One spelling per route: Express matches paths case-insensitively by default, so /API/ADMIN/config
  // reached the admin route (the guard no longer looks at paths, but nothing else should have to).
  // Set before Nest's adapter touches the app: Express builds its router on first use.
  const server = express();
  server.set('case sensitive routing', true);
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot({ database, repositories: [tenants, chunks], ctx, hub, search, health, resources, controlPlane }), new ExpressAdapter(server), { bodyParser: false, logger: false, abortOnError: false });
  app.disable('x-powered-by');
  app.set('etag', false);
  // First, so every answer (body-parser errors included) carries x-correlation-id.
  app.use(correlationMiddleware());
  // The viewer on this port (not counted in the api's request metrics); anything of the api's goes on.
  if (viewerDir) {
    app.use(viewerSecurityHeaders());
    app.use(viewerStatic(viewerDir));
  }
  // SSE streams live for hours: they would only skew the request-duration histogram.
  if (config.telemetry.apiRequestMetrics) app.use(apiMetricsMiddleware({ skip: (p) => p === '/metrics' || p === '/healthz' || p === '/api/events' }));
  app.use(jsonErrors(express.json({ limit: '1mb' }), log));
  app.use(jsonErrors(express.text({ type: XML_TYPES, limit: '5mb' }), log));
  app.use(formBodiesRefused(log));
  app.setGlobalPrefix(API_PREFIX.prefix, { exclude: [...API_PREFIX.exclude] });
  app.enableShutdownHooks([]);

  SwaggerModule.setup('api/docs', app, apiDocument(app), { jsonDocumentUrl: 'api/docs/json', yamlDocumentUrl: 'api/docs/yaml' });

  if (opts.listen !== false) {
    const server = app.getHttpServer() as import('node:http').Server;
    server.keepAliveTimeout = 65_000;
    try {
      await app.listen(config.apiPort, '0.0.0.0');
    } catch (e) {
      // Nothing may keep the process alive behind a failed start (the Postgres pool, Redis, the event
      // subscriber). close() stops at the HTTP server that never listened, before the shutdown hook.
      await app.close().catch(() => resources.onApplicationShutdown());
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new PodbrainError('port_in_use', `port ${config.apiPort} is in use (another podbrain serve or api?): stop it, or choose another with --port N or API_PORT`, {}, { cause: e });
      if (code === 'EACCES') throw new PodbrainError('port_denied', `port ${config.apiPort} needs privileges here: choose one above 1023 with --port N or API_PORT`, {}, { cause: e });
      throw e;
    }
    log.info({ port: listeningPort(app), viewer: viewerDir ?? undefined }, viewerDir ? 'api listening, serving the viewer' : 'api listening');
  }
  return app;
}
