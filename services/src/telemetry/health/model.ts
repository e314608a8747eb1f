import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../core/errors';
import { metrics } from '../metrics';

/**
 * The `/healthz` model (blueprint E.6.1): what a check is, how one runs (timeout, throw =
 * unhealthy) and how a role's checks add up to one status. The ready-made checks live in
 * ./checks.ts, the nvidia-smi sampling in ../gpu.ts.
 *
 * A check resolves to healthy, degraded or unhealthy; a throw or a timeout counts as
 * unhealthy. How a failing check affects the role depends on its `impact`:
 *  - `critical`: the role cannot process work without it → an unhealthy check makes the
 *    role unhealthy (Docker restarts it, alert fires);
 *  - `degrading`: the role keeps working with less capability (search off, slow DB,
 *    low disk) → an unhealthy check makes the role at most degraded.
 * A degraded check always makes the role (at least) degraded.
 */

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface CheckOutcome {
  status: HealthStatus;
  detail?: string;
}

export interface CheckResult extends CheckOutcome {
  latency_ms: number;
}

/** A probe; it must honour `signal` (aborted at its timeout). */
export type HealthCheck = (signal: AbortSignal) => Promise<CheckOutcome>;

export interface CheckSpec {
  name: string;
  check: HealthCheck;
  impact: 'critical' | 'degrading';
  /** Default 2000 ms. */
  timeoutMs?: number;
  /**
   * A service every role shares (Postgres, Redis): its outage makes all roles unhealthy at once
   * and a restart cannot fix it, so it does not count toward the unhealthy-exit rule (./unhealthy-exit.ts).
   */
  dependency?: boolean;
}

export interface HealthReport {
  status: HealthStatus;
  role: string;
  checks: Record<string, CheckResult>;
  uptime_seconds: number;
  version: string;
  git_sha: string;
}

const STATUS_VALUE: Record<HealthStatus, number> = { healthy: 2, degraded: 1, unhealthy: 0 };

/**
 * The running image's version and commit. Not settings (config.ts): they are the identity
 * the image was built with (deploy/Dockerfile bakes PODBRAIN_VERSION / GIT_SHA into its
 * environment; compose deliberately passes neither), so they are read from the process
 * environment, falling back to services/package.json's version.
 */
export function buildInfo(env: NodeJS.ProcessEnv = process.env): { version: string; gitSha: string } {
  return { version: env.PODBRAIN_VERSION || packageVersion(), gitSha: env.GIT_SHA || 'unknown' };
}

function packageVersion(): string {
  // src/telemetry/health and dist/telemetry/health both sit three levels below services/package.json
  const file = path.resolve(__dirname, '../../../package.json');
  try {
    return existsSync(file) ? String((JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0') : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export async function runCheck(spec: CheckSpec): Promise<CheckResult> {
  const timeoutMs = spec.timeoutMs ?? 2000;
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ status: 'unhealthy', detail: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
  });
  let outcome: CheckOutcome;
  try {
    outcome = await Promise.race([spec.check(controller.signal), timeout]);
  } catch (e) {
    outcome = { status: 'unhealthy', detail: errorMessage(e) };
  } finally {
    clearTimeout(timer);
  }
  return { ...outcome, latency_ms: Math.round((performance.now() - started) * 10) / 10 };
}

export function aggregate(specs: readonly CheckSpec[], results: Record<string, CheckResult>): HealthStatus {
  let status: HealthStatus = 'healthy';
  for (const spec of specs) {
    const r = results[spec.name];
    if (!r || r.status === 'healthy') continue;
    if (r.status === 'unhealthy' && spec.impact === 'critical') return 'unhealthy';
    status = 'degraded';
  }
  return status;
}

export interface HealthModel {
  report(): Promise<HealthReport>;
  /** The checks behind report(). */
  readonly checks?: readonly CheckSpec[];
}

export function createHealth(opts: {
  role: string;
  checks: readonly CheckSpec[];
  env?: NodeJS.ProcessEnv;
  startedAt?: number;
}): HealthModel {
  const { version, gitSha } = buildInfo(opts.env);
  const startedAt = opts.startedAt ?? Date.now();
  const names = new Set<string>();
  for (const c of opts.checks) {
    if (names.has(c.name)) throw new Error(`duplicate health check name: ${c.name}`);
    names.add(c.name);
  }
  return {
    checks: opts.checks,
    async report() {
      const entries = await Promise.all(opts.checks.map(async (spec) => [spec.name, await runCheck(spec)] as const));
      const checks = Object.fromEntries(entries);
      const status = aggregate(opts.checks, checks);
      metrics.healthStatus.set(STATUS_VALUE[status]);
      for (const [name, r] of entries) metrics.healthCheckStatus.set({ check: name }, STATUS_VALUE[r.status]);
      return {
        status,
        role: opts.role,
        checks,
        uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
        version,
        git_sha: gitSha,
      };
    },
  };
}

/** 200 while the role can work (healthy or degraded), 503 when unhealthy. */
export function httpStatusFor(report: Pick<HealthReport, 'status'>): number {
  return report.status === 'unhealthy' ? 503 : 200;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
