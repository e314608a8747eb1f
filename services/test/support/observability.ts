import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { freePort, waitFor } from './stack';

/**
 * The real Prometheus and Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`) for
 * end-to-end alerting tests: each on a free port in its own temp dir, ready (/-/ready) when the
 * promise resolves, killed (and its dir removed) by stop(). Alertmanager runs through the
 * compose service's own entrypoint and template (alertmanager/), so the tests exercise the
 * appliance's routing, not a test copy of it.
 */

const ROOT = path.resolve(__dirname, '../../..');
const RULES_DIR = path.join(ROOT, 'prometheus/rules');

/** Prometheus durations take no decimals: 0.5 s is `500ms`. */
function promDuration(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}

export interface RunningService {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  dir: string;
  /** stdout + stderr so far */
  log(): string;
  /** SIGHUP: both binaries read their configuration (and Prometheus its rule files) again. */
  reload(): void;
  stop(): Promise<void>;
}

export interface ScrapeTarget {
  /** the `role` label the target gets (as prometheus/prometheus.yml gives each role) */
  role: string;
  /** the metrics URL, e.g. http://127.0.0.1:9464/metrics (path defaults to /metrics) */
  url: string;
}

export interface PrometheusOptions {
  rulesFiles: string[];
  scrapeTargets: ScrapeTarget[];
  scrapeIntervalS?: number;
  /** default: the scrape interval */
  scrapeTimeoutMs?: number;
  evaluationIntervalS?: number;
  /** a port chosen beforehand (a role that queries Prometheus may need its URL before it starts) */
  port?: number;
  /**
   * --rules.alert.resend-delay (Prometheus' default 1m). Alerts sent while Prometheus knows no
   * Alertmanager (the first seconds after a start or a reload) are dropped and only sent again
   * after this delay.
   */
  resendDelayS?: number;
  /** where alerts go, e.g. startAlertmanager(...).url; none = alerts are only evaluated */
  alertmanagerUrl?: string;
}

export interface AlertmanagerOptions {
  /** the agent's webhook (AGENT_WEBHOOK_URL of the entrypoint) */
  webhookUrl: string;
  /** sent as `Authorization: Bearer <bearer>` (through credentials_file); none = no header */
  bearer?: string;
  groupWaitS?: number;
  groupIntervalS?: number;
  /** Alertmanager's resolve_timeout, e.g. '10s' (default 5m) */
  resolveTimeout?: string;
  /** the owner's own webhook (ALERTMANAGER_WEBHOOK_URL) */
  ownerWebhookUrl?: string;
}

const running = new Set<ChildProcess>();
const ruleDirs = new Set<string>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  for (const d of ruleDirs) rmSync(d, { recursive: true, force: true });
});

async function startService(what: string, dir: string, port: number, command: string, args: string[], env?: NodeJS.ProcessEnv, alsoRemove: string[] = []): Promise<RunningService> {
  const child = spawn(command, args, { cwd: dir, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    running.delete(child);
    for (const d of [dir, ...alsoRemove]) rmSync(d, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `${what} ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}`);
        return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok;
      },
      30_000,
      100,
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  }
  return { url, port, dir, log: () => output, reload: () => void child.kill('SIGHUP'), stop };
}

export async function startPrometheus(opts: PrometheusOptions): Promise<RunningService> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-prometheus-'));
  const port = opts.port ?? (await freePort());
  const config = {
    global: { scrape_interval: `${opts.scrapeIntervalS ?? 1}s`, scrape_timeout: opts.scrapeTimeoutMs ? `${opts.scrapeTimeoutMs}ms` : `${opts.scrapeIntervalS ?? 1}s`, evaluation_interval: promDuration(opts.evaluationIntervalS ?? 1) },
    rule_files: opts.rulesFiles,
    ...(opts.alertmanagerUrl ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(opts.alertmanagerUrl).host] }] }] } } : {}),
    scrape_configs: [
      {
        job_name: 'podbrain',
        honor_labels: true,
        static_configs: opts.scrapeTargets.map((t) => {
          const u = new URL(t.url);
          return { targets: [u.host], labels: { role: t.role, __metrics_path__: u.pathname === '/' ? '/metrics' : u.pathname, __scheme__: u.protocol.replace(':', '') } };
        }),
      },
    ],
  };
  writeFileSync(path.join(dir, 'prometheus.yml'), toYaml(config));
  // testRules' copies go with this Prometheus
  const copies = [...new Set(opts.rulesFiles.map((f) => path.dirname(f)))].filter((d) => ruleDirs.has(d));
  return startService(
    'prometheus',
    dir,
    port,
    'prometheus',
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', ...(opts.resendDelayS ? [`--rules.alert.resend-delay=${opts.resendDelayS}s`] : [])],
    undefined,
    copies,
  );
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<RunningService> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-alertmanager-'));
  const port = await freePort();
  mkdirSync(path.join(dir, 'data'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ALERTMANAGER_RENDER_DIR: path.join(dir, 'config'),
    AGENT_WEBHOOK_URL: opts.webhookUrl,
    AGENT_WEBHOOK_TOKEN: opts.bearer ?? '',
    ALERTMANAGER_WEBHOOK_URL: opts.ownerWebhookUrl ?? '',
    ALERTMANAGER_GROUP_WAIT: `${opts.groupWaitS ?? 1}s`,
    ALERTMANAGER_GROUP_INTERVAL: `${opts.groupIntervalS ?? 1}s`,
    ALERTMANAGER_RESOLVE_TIMEOUT: opts.resolveTimeout ?? '5m',
  };
  // the compose entrypoint renders the config and execs the binary with these flags
  return startService(
    'alertmanager',
    dir,
    port,
    'sh',
    [
      path.join(ROOT, 'alertmanager/entrypoint.sh'),
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=', // no gossip port: one instance, and none to collide with
      '--log.level=warn',
    ],
    env,
  );
}

/**
 * prometheus/rules copied with every `for:` set to `forOverride` (rules without one stay
 * instant), so a test sees an alert fire in seconds. Returns the copies' paths (rulesFiles);
 * the Prometheus started with them removes them when it stops.
 */
export function testRules(forOverride = '10s'): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-rules-'));
  ruleDirs.add(dir);
  return readdirSync(RULES_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => {
      const doc = parseYaml(readFileSync(path.join(RULES_DIR, f), 'utf8')) as { groups: { rules: { for?: string }[] }[] };
      for (const g of doc.groups) for (const r of g.rules) if (r.for) r.for = forOverride;
      const file = path.join(dir, f);
      writeFileSync(file, toYaml(doc));
      return file;
    });
}
