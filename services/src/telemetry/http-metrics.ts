import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics } from './metrics';

/**
 * podbrain_api_request_duration_seconds{method,route,status} for any Node/Express-style
 * handler. `route` must be a template (`/api/episodes/:id`), never the raw path, or every
 * episode id becomes its own time series; requests that matched no route are `unmatched`.
 */
function observeApiRequest(method: string, route: string, status: number, seconds: number): void {
  metrics.apiRequestDurationSeconds.observe({ method: method.toUpperCase(), route, status: String(status) }, seconds);
}

type ExpressLikeRequest = IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };

/** Route template of an Express request once routing has run (`baseUrl` + `route.path`). */
function routeTemplate(req: ExpressLikeRequest): string {
  const p = req.route?.path;
  if (typeof p === 'string') return `${req.baseUrl ?? ''}${p}` || '/';
  return 'unmatched';
}

/**
 * Express/Nest middleware: observes each request when its response finishes.
 * `resolveRoute` overrides how the template is found (e.g. a fixed table in a bare http server).
 */
export function apiMetricsMiddleware(opts: { resolveRoute?: (req: ExpressLikeRequest) => string; skip?: (path: string) => boolean } = {}) {
  const resolve = opts.resolveRoute ?? routeTemplate;
  const skip = opts.skip ?? ((p: string) => p === '/metrics' || p === '/healthz');
  return (req: ExpressLikeRequest, res: ServerResponse, next: () => void): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (skip(path)) return next();
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      observeApiRequest(req.method ?? 'GET', resolve(req), res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
