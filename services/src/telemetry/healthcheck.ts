#!/usr/bin/env node
/**
 * Container HEALTHCHECK (deploy/Dockerfile): GET /healthz of this container's role and exit
 * 0 when it can work (healthy or degraded, HTTP 200), 1 otherwise (unhealthy, 503, no answer).
 * Port: HEALTH_PORT when set and non-zero, else API_PORT (the api serves /healthz there), else 8100.
 * No curl in the image, and no config loading: this must stay cheap and never throw.
 */
import http from 'node:http';

export function healthcheckPort(env: NodeJS.ProcessEnv): number {
  const role = env.PODBRAIN_ROLE || process.argv[2];
  const health = Number(env.HEALTH_PORT);
  if (role !== 'api' && Number.isInteger(health) && health > 0) return health;
  const api = Number(env.API_PORT);
  return Number.isInteger(api) && api > 0 ? api : 8100;
}

function probe(port: number, host = '127.0.0.1', timeoutMs = 8000): Promise<{ ok: boolean; line: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/healthz', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length < 65536 ? c : ''));
      res.on('end', () => {
        let status = 'unknown';
        try {
          status = String((JSON.parse(body) as { status?: unknown }).status);
        } catch {
          /* not JSON: judged by the HTTP status alone */
        }
        resolve({ ok: res.statusCode === 200 && status !== 'unhealthy', line: `${res.statusCode} ${status}` });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, line: e.message }));
  });
}

if (require.main === module) {
  const port = healthcheckPort(process.env);
  void probe(port).then(({ ok, line }) => {
    process.stdout.write(`healthz :${port} ${line}\n`);
    process.exit(ok ? 0 : 1);
  });
}
