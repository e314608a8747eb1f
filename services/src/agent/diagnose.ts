import { readCapped } from '../net/read-capped';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import { PodbrainError, errorMessage } from '../core/errors';
import type { Database } from '../db/database';
import type { Queues } from '../queue/queues';
import { isAdminRead, runAdminRead, ADMIN_READS } from './diagnose-admin';
import { fillTemplate, type FillSyntax } from './diagnose-fill';
import { DIAGNOSE_KINDS, type DiagnoseKind } from './runbooks';

export { ADMIN_READS, type AdminRead } from './diagnose-admin';
export { SAFE_LABEL_VALUE, escapeForQuoted, fillTemplate } from './diagnose-fill';

/**
 * A runbook's diagnose steps, run for real when an incident opens (issue 14): PromQL against
 * Prometheus, a role's /healthz, an admin read in-process, LogQL against Loki; a `command` is
 * only shown to a human. Steps run one after the other, each bounded by a timeout; one that
 * fails is recorded and the next still runs. Outputs are truncated and stripped of control
 * characters: they hold whatever logs and metrics said and are untrusted downstream (llm-advisor).
 */

export { DIAGNOSE_KINDS, type DiagnoseKind };

/**
 * One diagnose step: as written in the YAML (`{step, query: …}`) or as agent/runbooks.ts loads it
 * (`{step, kind, text}`); both are accepted.
 */
export type DiagnoseStep = ({ step: string } & { [K in DiagnoseKind]?: string }) | { step: string; kind: DiagnoseKind; text: string };

/**
 * ok: the step ran and produced its output (a health answer of "unhealthy" is ok: the step worked).
 * skipped: nothing configured to ask (no PROMETHEUS_URL / LOKI_URL); refused: a label value
 * was unsafe to put into it; for-human: a command, never run.
 */
export type DiagnoseStatus = 'ok' | 'failed' | 'skipped' | 'refused' | 'for-human';

export interface DiagnoseRecord {
  step: string;
  kind: DiagnoseKind;
  /** The filled query, URL or read (the template as written when it could not be filled). */
  target: string;
  ok: boolean;
  status: DiagnoseStatus;
  output: string;
  ms: number;
}

export interface DiagnoseDeps {
  config: Config;
  redis: Redis;
  queues: Queues;
  database: Database;
  /** Per step (default 5 s). */
  stepTimeoutMs?: number;
  /** Stops the remaining steps (each is then recorded as failed). */
  signal?: AbortSignal;
}

export const DEFAULT_STEP_TIMEOUT_MS = 5000;
export const MAX_OUTPUT_CHARS = 4000;
const TRUNCATED = '…(truncated)';
/** Bytes read from any HTTP answer; more is cut off (the output is truncated far below this anyway). */
const MAX_BODY_BYTES = 2 * 1024 * 1024;
const LOKI_WINDOW_MS = 15 * 60_000;
const LOKI_LIMIT = 100;

/** Keeps at most `max` characters, marking the cut. */
export function truncateOutput(text: string, max = MAX_OUTPUT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - TRUNCATED.length))}${TRUNCATED}`;
}

/** Control characters (terminal escapes, NUL…) removed; newlines and tabs stay. */
export function stripControl(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, '');
}

// ---------------------------------------------------------------------------------------------
// HTTP

export class DiagnoseHttpError extends PodbrainError {}

async function readCappedText(res: Response, maxBytes: number): Promise<string> {
  return (await readCapped(res.body, maxBytes)).bytes.toString('utf8');
}

/** A GET bounded by a timeout (headers and body) and a body size; network errors become DiagnoseHttpError. */
async function getText(what: string, url: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<{ status: number; body: string }> {
  const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) : AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await fetch(url, { signal, headers: { accept: 'application/json' }, redirect: 'error' });
    return { status: res.status, body: await readCappedText(res, MAX_BODY_BYTES) };
  } catch (e) {
    const timedOut = signal.aborted && !opts.signal?.aborted;
    throw new DiagnoseHttpError(timedOut ? 'diagnose_timeout' : 'diagnose_unreachable', timedOut ? `${what} did not answer within ${opts.timeoutMs} ms` : `${what} cannot be reached: ${errorMessage(e)}`, { url });
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus

export class PrometheusError extends PodbrainError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('prometheus_query_failed', message, details);
    this.name = 'PrometheusError';
  }
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
  /** Unix seconds. */
  ts: number;
}

export type PromResult =
  | { resultType: 'vector'; series: PromSample[] }
  | { resultType: 'scalar'; value: number; ts: number }
  | { resultType: 'matrix'; series: { metric: Record<string, string>; values: { value: number; ts: number }[] }[] }
  | { resultType: 'string'; value: string; ts: number };

type RawPair = [number, string];
const pair = (p: RawPair) => ({ ts: Number(p[0]), value: Number(p[1]) });

/** An instant query (GET /api/v1/query); an error answer, a timeout or an unreadable body throws PrometheusError. */
export async function queryPrometheus(baseUrl: string, promql: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<PromResult> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/query?${new URLSearchParams({ query: promql })}`;
  let answer: { status: number; body: string };
  try {
    answer = await getText('Prometheus', url, opts);
  } catch (e) {
    throw new PrometheusError(errorMessage(e), { url });
  }
  let json: { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } };
  try {
    json = JSON.parse(answer.body) as typeof json;
  } catch {
    throw new PrometheusError(`Prometheus answered ${answer.status} with a body that is not JSON: ${JSON.stringify(answer.body.slice(0, 200))}`, { status: answer.status });
  }
  if (json.status !== 'success') throw new PrometheusError(`Prometheus refused the query (${answer.status} ${json.errorType ?? 'error'}): ${json.error ?? 'no error message'}`, { status: answer.status, error_type: json.errorType });
  const result = json.data?.result;
  switch (json.data?.resultType) {
    case 'vector':
      return { resultType: 'vector', series: (result as { metric: Record<string, string>; value: RawPair }[]).map((s) => ({ metric: s.metric, ...pair(s.value) })) };
    case 'scalar':
      return { resultType: 'scalar', ...pair(result as RawPair) };
    case 'matrix':
      return { resultType: 'matrix', series: (result as { metric: Record<string, string>; values: RawPair[] }[]).map((s) => ({ metric: s.metric, values: s.values.map(pair) })) };
    case 'string':
      return { resultType: 'string', ts: Number((result as RawPair)[0]), value: String((result as RawPair)[1]) };
    default:
      throw new PrometheusError(`Prometheus answered an unknown result type ${JSON.stringify(json.data?.resultType)}`);
  }
}

function seriesName(metric: Record<string, string>): string {
  const { __name__: name = '', ...rest } = metric;
  const labels = Object.entries(rest)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return `${name}{${labels}}`;
}

/** The result as text: one series a line, `name{labels} => value`. */
export function formatPromResult(r: PromResult): string {
  switch (r.resultType) {
    case 'vector':
      return r.series.length ? r.series.map((s) => `${seriesName(s.metric)} => ${s.value}`).join('\n') : '(empty result: no series matched)';
    case 'scalar':
      return `scalar => ${r.value}`;
    case 'string':
      return `string => ${JSON.stringify(r.value)}`;
    case 'matrix':
      return r.series.length ? r.series.map((s) => `${seriesName(s.metric)} => ${s.values.map((v) => `${v.value}@${v.ts}`).join(' ')}`).join('\n') : '(empty result: no series matched)';
  }
}

// ---------------------------------------------------------------------------------------------
// Loki

/** The last 15 minutes of a LogQL query (newest first, at most 100 lines), as text. */
export async function queryLoki(baseUrl: string, logql: string, opts: { timeoutMs: number; signal?: AbortSignal; now?: number }): Promise<string> {
  const endMs = opts.now ?? Date.now();
  const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
  const params = new URLSearchParams({ query: logql, start: ns(endMs - LOKI_WINDOW_MS), end: ns(endMs), limit: String(LOKI_LIMIT), direction: 'backward' });
  const { status, body } = await getText('Loki', `${baseUrl.replace(/\/+$/, '')}/loki/api/v1/query_range?${params}`, opts);
  let json: { status?: string; error?: string; data?: { resultType?: string; result?: unknown[] } };
  try {
    json = JSON.parse(body) as typeof json;
  } catch {
    throw new DiagnoseHttpError('loki_query_failed', `Loki answered ${status}: ${body.slice(0, 300) || '(empty body)'}`);
  }
  if (status >= 400 || json.status !== 'success') throw new DiagnoseHttpError('loki_query_failed', `Loki refused the query (${status}): ${json.error ?? body.slice(0, 300)}`);
  const result = json.data?.result ?? [];
  if (json.data?.resultType === 'streams') {
    const lines = (result as { stream: Record<string, string>; values: [string, string][] }[]).flatMap((s) => s.values.map(([t, text]) => ({ t: BigInt(t), text, labels: s.stream })));
    lines.sort((a, b) => (a.t === b.t ? 0 : a.t < b.t ? 1 : -1));
    if (!lines.length) return '(no log lines in the last 15 minutes)';
    return lines
      .slice(0, LOKI_LIMIT)
      .map((l) => `${new Date(Number(l.t / 1_000_000n)).toISOString()} ${seriesName(l.labels)} ${l.text}`)
      .join('\n');
  }
  // A metric query (count_over_time…) answers a matrix.
  const series = result as { metric: Record<string, string>; values: RawPair[] }[];
  return series.length ? series.map((s) => `${seriesName(s.metric)} => ${s.values.map((v) => `${v[1]}@${v[0]}`).join(' ')}`).join('\n') : '(empty result)';
}

// ---------------------------------------------------------------------------------------------
// Health

/** `role=url` pairs of API_HEALTH_TARGETS (the api's aggregate /api/health reads the same). */
export function healthTargets(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

async function roleHealth(url: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string> {
  const { status, body } = await getText(`the health endpoint ${url}`, url, opts);
  try {
    const r = JSON.parse(body) as { status?: unknown; checks?: Record<string, { status?: unknown; detail?: unknown }>; uptime_seconds?: unknown; version?: unknown };
    const checks = Object.entries(r.checks ?? {}).map(([name, c]) => `  ${name}: ${String(c?.status)}${c?.detail ? ` (${String(c.detail)})` : ''}`);
    return [`HTTP ${status}: ${String(r.status ?? 'no status')}, version ${String(r.version ?? '?')}, up ${String(r.uptime_seconds ?? '?')} s`, ...checks].join('\n');
  } catch {
    return `HTTP ${status}, not JSON: ${body.slice(0, 500)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The steps

function kindOf(step: DiagnoseStep): { kind: DiagnoseKind; template: string } | null {
  if ('kind' in step && 'text' in step) return (DIAGNOSE_KINDS as readonly string[]).includes(step.kind) && typeof step.text === 'string' ? { kind: step.kind, template: step.text } : null;
  const yaml = step as { [K in DiagnoseKind]?: unknown };
  const kinds = DIAGNOSE_KINDS.filter((k) => typeof yaml[k] === 'string');
  return kinds.length === 1 ? { kind: kinds[0], template: yaml[kinds[0]] as string } : null;
}

const SYNTAX: Record<DiagnoseKind, FillSyntax> = { query: 'query', logql: 'logql', health: 'text', admin: 'text', command: 'command' };

class StepTimeout extends Error {}

/** Runs `fn` with a signal that aborts after `ms`; the promise settles by then even if `fn` ignores the signal. */
async function bounded<T>(ms: number, outer: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (outer?.aborted) throw new Error('stopped before it ran');
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(controller.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort(new StepTimeout());
          reject(new StepTimeout(`no answer within ${ms} ms`));
        }, ms);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason instanceof Error ? controller.signal.reason : new Error('stopped')), { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

async function runStep(step: DiagnoseStep, labels: Readonly<Record<string, string>>, deps: DiagnoseDeps): Promise<DiagnoseRecord> {
  const started = performance.now();
  const name = String(step.step ?? '(unnamed step)');
  const record = (kind: DiagnoseKind, target: string, status: DiagnoseStatus, output: string): DiagnoseRecord => ({
    step: name,
    kind,
    target,
    ok: status === 'ok' || status === 'for-human',
    status,
    output: truncateOutput(stripControl(output)),
    ms: Math.round(performance.now() - started),
  });

  const which = kindOf(step);
  if (!which) return record('command', '', 'failed', `a diagnose step needs exactly one of ${DIAGNOSE_KINDS.join(', ')}`);
  const { kind, template } = which;
  const filled = fillTemplate(template, labels, SYNTAX[kind]);
  if (!filled.ok) return record(kind, template, 'refused', filled.problem);
  const target = filled.text;
  const { config } = deps;
  const timeoutMs = deps.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;

  if (kind === 'command') return record(kind, target, 'for-human', `for a human: ${target}`);
  if (kind === 'query' && !config.agent.prometheusUrl) return record(kind, target, 'skipped', 'skipped: PROMETHEUS_URL is not set');
  if (kind === 'logql' && !config.agent.lokiUrl) return record(kind, target, 'skipped', 'skipped: LOKI_URL is not set');
  if (kind === 'admin' && !isAdminRead(target)) return record(kind, target, 'failed', `unknown admin read ${JSON.stringify(target)}: one of ${ADMIN_READS.join(', ')}`);
  let healthUrl = '';
  if (kind === 'health') {
    const targets = healthTargets(config.apiHealthTargets);
    healthUrl = targets.get(target) ?? '';
    if (!healthUrl) return record(kind, target, 'failed', `no health URL for role ${JSON.stringify(target)} in API_HEALTH_TARGETS (${[...targets.keys()].join(', ') || 'empty'})`);
  }

  const shownTarget = kind === 'health' ? `${target} ${healthUrl}` : target;
  try {
    const output = await bounded(timeoutMs, deps.signal, async (signal) => {
      const http = { timeoutMs, signal };
      switch (kind) {
        case 'query':
          return formatPromResult(await queryPrometheus(config.agent.prometheusUrl, target, http));
        case 'logql':
          return queryLoki(config.agent.lokiUrl, target, http);
        case 'health':
          return roleHealth(healthUrl, http);
        case 'admin':
          return runAdminRead(target as Parameters<typeof runAdminRead>[0], deps);
      }
    });
    return record(kind, shownTarget, 'ok', output);
  } catch (e) {
    const why = e instanceof StepTimeout ? `timed out: no answer within ${timeoutMs} ms` : errorMessage(e);
    return record(kind, shownTarget, 'failed', `failed: ${why}`);
  }
}

/** Runs every step in order with the alert's labels; never throws (a step that fails is recorded as failed). */
export async function runDiagnose(steps: readonly DiagnoseStep[], labels: Readonly<Record<string, string>>, deps: DiagnoseDeps): Promise<DiagnoseRecord[]> {
  const out: DiagnoseRecord[] = [];
  for (const step of steps) out.push(await runStep(step, labels, deps));
  return out;
}
