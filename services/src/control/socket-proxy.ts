import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The only door from podbrain to the Docker engine (issue 14, ARCHITECTURE §8a): restart-role's
 * forced path needs the engine's API, and the engine's socket is root on the host. So the socket
 * is mounted into this small proxy alone, and the scheduler alone reaches the proxy (an internal
 * network). It forwards exactly:
 *   GET  [/v1.xx]/_ping                         (its healthcheck)
 *   GET  [/v1.xx]/containers/json[?all&filters] (narrowed to this compose project's containers)
 *   POST [/v1.xx]/containers/<id>/restart[?t=N] (only when the container carries this project's label)
 * Everything else — another method or path, a request body, encoded or dotted paths, a container
 * of another project — is refused with 403 and a JSON error before anything reaches the engine.
 * No dependencies: node:http only, so it runs from the podbrain image with nothing else loaded.
 */
export const PROJECT_LABEL = 'com.docker.compose.project';

export interface SocketProxyOptions {
  /** The engine's unix socket (/var/run/docker.sock). */
  enginePath: string;
  /** The compose project whose containers may be listed and restarted. */
  project: string;
  host?: string;
  port?: number;
  /** How long one call to the engine may take (a restart waits for the container's stop timeout). */
  engineTimeoutMs?: number;
  log?: (line: Record<string, unknown>) => void;
}

export interface SocketProxy {
  port: number;
  close(): Promise<void>;
}

const MAX_URL = 2048;
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
const MAX_INFLIGHT = 8;
const MAX_STOP_TIMEOUT_S = 120;
const VERSION = String.raw`(?:/v\d{1,2}\.\d{1,3})?`;
const PING = new RegExp(`^${VERSION}/_ping$`);
const LIST = new RegExp(`^${VERSION}/containers/json$`);
const RESTART = new RegExp(`^${VERSION}/containers/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})/restart$`);
const FILTER_KEYS = new Set(['label', 'name', 'status']);

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface EngineAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

export function startSocketProxy(opts: SocketProxyOptions): Promise<SocketProxy> {
  const log = opts.log ?? (() => undefined);
  const engineTimeoutMs = opts.engineTimeoutMs ?? (MAX_STOP_TIMEOUT_S + 30) * 1000;
  let inflight = 0;

  const engine = (method: 'GET' | 'POST', path: string): Promise<EngineAnswer> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: opts.enginePath, method, path, headers: { host: 'docker' }, timeout: engineTimeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) return req.destroy(new Error(`the engine's answer exceeds ${MAX_ANSWER_BYTES} bytes`));
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 502, contentType: String(res.headers['content-type'] ?? 'application/json'), body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`the engine did not answer within ${engineTimeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });

  const handle = async (req: http.IncomingMessage): Promise<EngineAnswer> => {
    const raw = req.url ?? '';
    if (raw.length > MAX_URL) throw new Refused(403, 'request line too long');
    // A body is never needed; encoded or dotted paths are never ours (no path normalisation games).
    if (req.headers['transfer-encoding'] || Number(req.headers['content-length'] ?? 0) > 0) throw new Refused(403, 'request bodies are not accepted');
    const rawPath = raw.split('?', 1)[0];
    if (!rawPath.startsWith('/') || /%|\.\.|\/\/|\\/.test(rawPath)) throw new Refused(403, 'path not allowed');
    const url = new URL(raw, 'http://proxy');
    const path = url.pathname;
    if (path !== rawPath) throw new Refused(403, 'path not allowed');

    if (req.method === 'GET' && PING.test(path)) {
      if ([...url.searchParams.keys()].length) throw new Refused(403, 'no query accepted');
      return engine('GET', '/_ping');
    }
    if (req.method === 'GET' && LIST.test(path)) return engine('GET', `/containers/json?${listQuery(url.searchParams, opts.project)}`);
    const restart = req.method === 'POST' ? RESTART.exec(path) : null;
    if (restart) {
      const t = restartTimeout(url.searchParams);
      const inspected = await engine('GET', `/containers/${restart[1]}/json`);
      if (inspected.status === 404) throw new Refused(404, `no such container: ${restart[1]}`);
      if (inspected.status !== 200) return inspected;
      const container = parseJson(inspected.body) as { Id?: unknown; Config?: { Labels?: Record<string, unknown> } } | null;
      const id = typeof container?.Id === 'string' && /^[a-f0-9]{12,64}$/.test(container.Id) ? container.Id : null;
      if (!id || container?.Config?.Labels?.[PROJECT_LABEL] !== opts.project) throw new Refused(403, `container ${restart[1]} is not part of the compose project ${opts.project}`);
      log({ msg: 'restarting container', container: id.slice(0, 12), t });
      return engine('POST', `/containers/${id}/restart?t=${t}`);
    }
    throw new Refused(403, `${req.method} ${path} is not allowed through this proxy (only container list and restart)`);
  };

  const server = http.createServer((req, res) => {
    const answer = (status: number, contentType: string, body: Buffer | string) => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
      // Whatever the client still sends (a body we did not read) is dropped with the connection.
      req.resume();
    };
    if (inflight >= MAX_INFLIGHT) return answer(429, 'application/json', JSON.stringify({ message: 'too many requests in flight' }));
    inflight++;
    handle(req)
      .then((a) => answer(a.status, a.contentType, a.body))
      .catch((e: unknown) => {
        const refused = e instanceof Refused;
        const status = refused ? e.status : 502;
        const message = e instanceof Error ? e.message : String(e);
        log({ msg: refused ? 'refused' : 'engine call failed', method: req.method, url: (req.url ?? '').slice(0, 200), status, err: message });
        answer(status, 'application/json', JSON.stringify({ message }));
      })
      .finally(() => inflight--);
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxHeadersCount = 50;
  server.keepAliveTimeout = 1_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 2375, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/** `all` and `filters` (label, name, status only) are kept; this project's label is always added. */
function listQuery(params: URLSearchParams, project: string): string {
  const out = new URLSearchParams();
  const filters: Record<string, string[]> = {};
  for (const [k, v] of params) {
    if (k === 'all') {
      if (!/^(0|1|true|false)$/.test(v)) throw new Refused(403, 'all must be 0, 1, true or false');
      out.set('all', v);
    } else if (k === 'filters') {
      const parsed = parseJson(Buffer.from(v)) as Record<string, unknown> | null;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Refused(403, 'filters must be a JSON object');
      for (const [name, values] of Object.entries(parsed)) {
        if (!FILTER_KEYS.has(name)) throw new Refused(403, `filter ${name} is not allowed (label, name, status)`);
        // Docker accepts both {"label": ["a=b"]} and {"label": {"a=b": true}}.
        const list = Array.isArray(values) ? values : values && typeof values === 'object' ? Object.keys(values) : null;
        if (!list || list.length > 20 || !list.every((x) => typeof x === 'string' && x.length <= 200)) throw new Refused(403, `filter ${name} must be a short list of strings`);
        filters[name] = list as string[];
      }
    } else throw new Refused(403, `query parameter ${k} is not allowed`);
  }
  filters.label = [...(filters.label ?? []).filter((l) => !l.startsWith(`${PROJECT_LABEL}=`)), `${PROJECT_LABEL}=${project}`];
  out.set('filters', JSON.stringify(filters));
  return out.toString();
}

function restartTimeout(params: URLSearchParams): number {
  let t = 10;
  for (const [k, v] of params) {
    if (k !== 't' || !/^\d{1,3}$/.test(v) || Number(v) > MAX_STOP_TIMEOUT_S) throw new Refused(403, `only t (0-${MAX_STOP_TIMEOUT_S} s) is accepted`);
    t = Number(v);
  }
  return t;
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
}

/**
 * The compose project this proxy serves: COMPOSE_PROJECT_NAME when set, else the label of its own
 * container (the container's hostname is its short id), read through the socket at start.
 */
export async function resolveProject(enginePath: string, env: NodeJS.ProcessEnv, hostname: string): Promise<string> {
  if (env.COMPOSE_PROJECT_NAME) return env.COMPOSE_PROJECT_NAME;
  const own = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ socketPath: enginePath, method: 'GET', path: `/containers/${encodeURIComponent(hostname)}/json`, headers: { host: 'docker' }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('the engine did not answer')));
    req.on('error', reject);
    req.end();
  });
  const project = own.status === 200 ? (parseJson(Buffer.from(own.body)) as { Config?: { Labels?: Record<string, unknown> } } | null)?.Config?.Labels?.[PROJECT_LABEL] : undefined;
  if (typeof project !== 'string' || !project) throw new Error(`cannot tell this container's compose project (GET /containers/${hostname}/json answered ${own.status}): set COMPOSE_PROJECT_NAME`);
  return project;
}
