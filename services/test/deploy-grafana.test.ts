import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePort, SERVICES_DIR, startStack, waitFor, type Stack } from './support/stack';

/**
 * Every PromQL expression of every Grafana panel runs against a real Prometheus (Debian's
 * binary, started here on a free port) that scrapes the real roles (`node dist/main.js
 * <role>`, each its own process); an expression that errors fails the test, and the core
 * panels must return data. LogQL targets are checked structurally (no Loki binary here).
 */

const ROOT = path.resolve(__dirname, '../..');
const DASH_DIR = path.join(ROOT, 'grafana/dashboards');

type Target = { refId: string; expr: string; datasource: { type: string; uid: string } };
type Panel = { id: number; title: string; type: string; datasource: { type: string; uid: string }; targets: Target[]; gridPos: { x: number; y: number; w: number; h: number } };
type Dashboard = { uid: string; title: string; panels: Panel[]; templating: { list: { name: string }[] } };

const dashboards: Dashboard[] = readdirSync(DASH_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(path.join(DASH_DIR, f), 'utf8')) as Dashboard);

/** Dashboard variables → the value a user sees by default. */
const VARIABLES: Record<string, string> = { __rate_interval: '15s', role: '.*', usd_per_1k_tokens: '0.002' };
const substitute = (expr: string) => expr.replace(/\$(\w+)/g, (m, name: string) => VARIABLES[name] ?? m);

/** Panels that must return data from a freshly started platform (dashboard uid → titles). */
const CORE_PANELS: Record<string, string[]> = {
  'podbrain-pipeline': ['Roles up', 'Roles unhealthy', 'Jobs waiting', 'Jobs failed (kept)', 'Queue depth (waiting)', 'Active jobs', 'Role health (2 healthy, 1 degraded, 0 unhealthy)'],
  'podbrain-gpu-workers': ['CPU per role', 'Resident memory per role', 'Event-loop lag p99', 'Health checks (2 healthy, 1 degraded, 0 unhealthy)'],
  'podbrain-episodes': ['Episodes by state', 'Oldest episode per running state', 'Failed jobs kept per queue'],
  'podbrain-corpus': ['Episodes (all states)', 'Episodes done', 'Free space, smallest volume', 'Episodes over time', 'Storage used per volume', 'Free space per volume'],
};
const API_CORE_PANELS = ['Requests per second by route', 'Latency p95 by route', 'Error rate (5xx)'];
const PROMTAIL_LABELS = new Set(['service', 'container', 'compose_project', 'level']);

describe('grafana/ (structure)', () => {
  it('has the six dashboards of blueprint E.5, generated from grafana/scripts/build-dashboards.mjs and up to date', () => {
    expect(dashboards.map((d) => d.title).sort()).toEqual(
      ['API & Viewer', 'Corpus Growth', 'Episode Lifecycle', 'GPU & Worker Health', 'Pipeline Overview', 'Provider Costs'].map((t) => `podbrain · ${t}`).sort(),
    );
    expect(new Set(dashboards.map((d) => d.uid)).size).toBe(6);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'grafana/scripts/build-dashboards.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every panel has a target with an expression on a provisioned datasource; ids and grid positions are sane', () => {
    const ds = parseYaml(readFileSync(path.join(ROOT, 'grafana/provisioning/datasources/datasources.yml'), 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
    const uids = new Map(ds.datasources.map((d) => [d.uid, d.type]));
    expect(Object.fromEntries(ds.datasources.map((d) => [d.uid, d.url]))).toEqual({ prometheus: 'http://prometheus:9090', loki: 'http://loki:3100' });
    for (const d of dashboards) {
      expect(new Set(d.panels.map((p) => p.id)).size, d.uid).toBe(d.panels.length);
      for (const p of d.panels) {
        const where = `${d.uid} / ${p.title}`;
        expect(p.targets.length, where).toBeGreaterThan(0);
        expect(uids.get(p.datasource.uid), where).toBe(p.datasource.type);
        for (const t of p.targets) {
          expect(t.expr.trim(), where).not.toBe('');
          expect(t.datasource.uid, where).toBe(p.datasource.uid);
        }
        expect(p.gridPos.x + p.gridPos.w, where).toBeLessThanOrEqual(24);
      }
    }
    const provider = parseYaml(readFileSync(path.join(ROOT, 'grafana/provisioning/dashboards/dashboards.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
    expect(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')).toContain('./grafana/dashboards:/var/lib/grafana/dashboards:ro');
  });

  it('log panels select on labels promtail sets, and promtail/loki configs are complete', () => {
    const logTargets = dashboards.flatMap((d) => d.panels.filter((p) => p.datasource.uid === 'loki').flatMap((p) => p.targets.map((t) => ({ where: `${d.uid} / ${p.title}`, expr: t.expr }))));
    expect(logTargets.length).toBeGreaterThanOrEqual(5);
    for (const { where, expr } of logTargets) {
      const selector = /^\{([^}]*)\}/.exec(expr);
      expect(selector, where).toBeTruthy();
      const labels = [...selector![1].matchAll(/(\w+)\s*(=~|!=|!~|=)\s*"[^"]*"/g)].map((m) => m[1]);
      expect(labels.length, where).toBeGreaterThan(0);
      for (const l of labels) expect(PROMTAIL_LABELS.has(l), `${where}: label ${l} is not set by promtail`).toBe(true);
    }
    const promtail = parseYaml(readFileSync(path.join(ROOT, 'loki/promtail-config.yml'), 'utf8')) as {
      clients: { url: string }[];
      scrape_configs: { relabel_configs: { target_label: string }[]; pipeline_stages: Record<string, unknown>[] }[];
    };
    expect(promtail.clients[0].url).toBe('http://loki:3100/loki/api/v1/push');
    const sc = promtail.scrape_configs[0];
    const setLabels = new Set([...sc.relabel_configs.map((r) => r.target_label), ...sc.pipeline_stages.flatMap((s) => (s.labels ? Object.keys(s.labels as object) : []))]);
    for (const l of PROMTAIL_LABELS) expect(setLabels.has(l), l).toBe(true);
    const metadata = sc.pipeline_stages.find((s) => s.structured_metadata)!.structured_metadata as Record<string, unknown>;
    expect(Object.keys(metadata)).toContain('correlation_id');
    const loki = parseYaml(readFileSync(path.join(ROOT, 'loki/loki-config.yml'), 'utf8')) as {
      limits_config: { retention_period: string; allow_structured_metadata: boolean };
      compactor: { retention_enabled: boolean };
      schema_config: { configs: { store: string; schema: string }[] };
    };
    expect(loki.limits_config.retention_period).toMatch(/^\d+h$/);
    expect(loki.compactor.retention_enabled).toBe(true);
    expect(loki.limits_config.allow_structured_metadata).toBe(true);
    expect(loki.schema_config.configs[0]).toMatchObject({ store: 'tsdb', schema: 'v13' });
  });
});

const apiBuilt = existsSync(path.join(SERVICES_DIR, 'dist/api/bootstrap.js'));
if (!apiBuilt) console.warn('deploy-grafana: dist/api/bootstrap.js missing — the API panels are not checked for data (build the api role)');

describe('grafana/ panels against a real Prometheus scraping the running roles', () => {
  let stack: Stack;
  let prometheus: ChildProcess | undefined;
  let promUrl = '';
  let apiStarted = false;
  const promDir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-prometheus-'));
  const results = new Map<string, { status: string; error?: string; series: number }>();

  async function query(expr: string) {
    const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }), signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    return { status: body.status, error: body.error, series: body.data?.result.length ?? 0 };
  }

  beforeAll(async () => {
    const t0 = Date.now();
    stack = await startStack({ name: 'd_grafana' });
    const t1 = Date.now();
    const roles = ['scheduler', 'worker-io', 'worker-gpu', 'worker-ml', ...(apiBuilt ? ['api'] : [])];
    await Promise.all(roles.map((r) => stack.start(r)));
    apiStarted = apiBuilt;
    console.log(`deploy-grafana: stack ${t1 - t0} ms, ${roles.length} roles healthy after ${Date.now() - t1} ms`);
    const targets = [...stack.roles.values()].map((r) => `      - targets: ['127.0.0.1:${r.healthPort}']\n        labels: { role: ${r.role} }`).join('\n');
    const config = `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${path.join(ROOT, 'prometheus/rules/*.yml')}\nscrape_configs:\n  - job_name: podbrain\n    honor_labels: true\n    static_configs:\n${targets}\n`;
    writeFileSync(path.join(promDir, 'prometheus.yml'), config);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [`--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let promLog = '';
    prometheus.stderr!.on('data', (c) => (promLog += c));
    await waitFor('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok || undefined, 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${promLog}`);
    });
    // The health gauges and disk gauges come from /healthz, as Docker's healthcheck polls it.
    const touch = async () => {
      for (const name of stack.roles.keys()) await stack.health(name).catch(() => undefined);
      if (apiStarted) {
        const api = `http://127.0.0.1:${stack.roles.get('api')!.healthPort}`;
        for (const p of ['/api/feeds', '/api/episodes', '/api/search?q=brain', '/api/does-not-exist']) await fetch(api + p).catch(() => undefined);
      }
    };
    await touch();
    await waitFor('every role scraped', async () => {
      const up = await query('sum(up{job="podbrain"})');
      const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('sum(up{job="podbrain"})')}`).then((x) => x.json() as Promise<{ data: { result: { value: [number, string] }[] } }>);
      return up.status === 'success' && Number(r.data.result[0]?.value[1]) === stack.roles.size ? true : undefined;
    }, 30_000);
    // rate() over 15s needs a few scrapes after the traffic
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      await touch();
    }
    await new Promise((r) => setTimeout(r, 2500));
    for (const d of dashboards) {
      for (const p of d.panels) {
        if (p.datasource.uid !== 'prometheus') continue;
        for (const t of p.targets) results.set(`${d.uid}|${p.title}|${t.refId}`, await query(substitute(t.expr)));
      }
    }
  }, 180_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await stack?.stop();
    rmSync(promDir, { recursive: true, force: true });
  });

  it('no PromQL expression of any panel errors', () => {
    const promTargets = dashboards.flatMap((d) => d.panels.filter((p) => p.datasource.uid === 'prometheus').flatMap((p) => p.targets));
    expect(results.size).toBe(promTargets.length);
    expect(results.size).toBeGreaterThan(50);
    const failed = [...results].filter(([, r]) => r.status !== 'success').map(([k, r]) => `${k}: ${r.error}`);
    expect(failed).toEqual([]);
  });

  it('the core panels return data from the running roles', () => {
    const empty: string[] = [];
    for (const [uid, titles] of Object.entries(CORE_PANELS)) {
      const d = dashboards.find((x) => x.uid === uid)!;
      for (const title of titles) {
        const p = d.panels.find((x) => x.title === title);
        expect(p, `${uid} / ${title}`).toBeTruthy();
        const series = p!.targets.reduce((n, t) => n + (results.get(`${uid}|${title}|${t.refId}`)?.series ?? 0), 0);
        if (series === 0) empty.push(`${uid} / ${title}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it.skipIf(!apiBuilt)('the API panels return data from the real api role (skipped when the api role is not built)', () => {
    const d = dashboards.find((x) => x.uid === 'podbrain-api')!;
    const empty = API_CORE_PANELS.filter((title) => {
      const p = d.panels.find((x) => x.title === title)!;
      return p.targets.every((t) => (results.get(`${d.uid}|${title}|${t.refId}`)?.series ?? 0) === 0);
    });
    expect(empty).toEqual([]);
  });

  it('the alert rules evaluate without errors against the live series', async () => {
    const res = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const rules = res.data.groups.flatMap((g) => g.rules);
    expect(rules).toHaveLength(12);
    expect(rules.filter((r) => r.health === 'err').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
  });
});
