#!/usr/bin/env node
// Generates grafana/dashboards/*.json (the six dashboards of blueprint E.5) from the specs
// below, so every panel has one PromQL/LogQL source of truth that the CI test
// (services/test/deploy-grafana.test.ts) can run against a real Prometheus.
//   node grafana/scripts/build-dashboards.mjs          # write
//   node grafana/scripts/build-dashboards.mjs --check  # exit 1 when the JSON is stale
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dashboards');
const PROM = { type: 'prometheus', uid: 'prometheus' };
const LOKI = { type: 'loki', uid: 'loki' };
const RI = '$__rate_interval';

/** Panel helpers: w/h in grid units (24 wide). */
const ts = (title, targets, o = {}) => ({ type: 'timeseries', title, targets, unit: o.unit ?? 'short', w: o.w ?? 12, h: o.h ?? 8, description: o.description });
const stat = (title, targets, o = {}) => ({ type: 'stat', title, targets, unit: o.unit ?? 'short', w: o.w ?? 6, h: o.h ?? 4, description: o.description, thresholds: o.thresholds });
const table = (title, targets, o = {}) => ({ type: 'table', title, targets, unit: o.unit ?? 'short', w: o.w ?? 12, h: o.h ?? 8, description: o.description, instant: true });
const bar = (title, targets, o = {}) => ({ type: 'bargauge', title, targets, unit: o.unit ?? 's', w: o.w ?? 12, h: o.h ?? 8, description: o.description, instant: true });
const logs = (title, expr, o = {}) => ({ type: 'logs', title, targets: [{ expr }], w: o.w ?? 24, h: o.h ?? 10, description: o.description, datasource: LOKI });
const q = (expr, legendFormat = '') => ({ expr, legendFormat });

const roleVar = {
  name: 'role',
  label: 'Role',
  type: 'query',
  datasource: PROM,
  query: { query: 'label_values(up{job="podbrain"}, role)', refId: 'role' },
  definition: 'label_values(up{job="podbrain"}, role)',
  includeAll: true,
  multi: true,
  allValue: '.*',
  current: { selected: true, text: ['All'], value: ['$__all'] },
  refresh: 2,
};

const dashboards = [
  {
    uid: 'podbrain-pipeline',
    file: 'pipeline-overview.json',
    title: 'podbrain · Pipeline Overview',
    description: 'At-a-glance health: queues, throughput, workers, errors.',
    panels: [
      stat('Roles up', [q('sum(up{job="podbrain"})')], { description: 'Roles whose /metrics answered the last scrape.' }),
      stat('Roles unhealthy', [q('count(podbrain_health_status == 0) or vector(0)')], { thresholds: [0, 1] }),
      stat('Jobs waiting', [q('sum(podbrain_queue_depth{state=~"waiting|prioritized"})')]),
      stat('Jobs failed (kept)', [q('sum(podbrain_queue_depth{state="failed"})')], { thresholds: [0, 1] }),
      ts('Queue depth (waiting)', [q('sum by (queue) (podbrain_queue_depth{state=~"waiting|prioritized"})', '{{queue}}')]),
      ts('Active jobs', [q('sum by (queue) (podbrain_queue_depth{state="active"})', '{{queue}}')]),
      ts('Episodes processed per hour', [q('sum by (stage) (increase(podbrain_episodes_processed_total{status=~"ok|degraded"}[1h]))', '{{stage}}')]),
      ts('Stage error rate', [q(`sum by (stage) (rate(podbrain_episodes_processed_total{status="failed"}[${RI}])) / clamp_min(sum by (stage) (rate(podbrain_episodes_processed_total[${RI}])), 1e-9)`, '{{stage}}')], { unit: 'percentunit' }),
      table('Role health (2 healthy, 1 degraded, 0 unhealthy)', [q('max by (role) (podbrain_health_status)', '{{role}}')]),
      table('Firing alerts', [q('ALERTS{alertstate="firing"}', '{{alertname}}')]),
      logs('Errors, all roles', '{service=~".+"} | json | level=~"error|fatal"'),
    ],
  },
  {
    uid: 'podbrain-gpu-workers',
    file: 'gpu-worker-health.json',
    title: 'podbrain · GPU & Worker Health',
    description: 'Hardware saturation: GPU, VRAM, CPU and memory per role, model loads.',
    variables: [roleVar],
    panels: [
      ts('GPU utilisation', [q('max by (role) (podbrain_gpu_utilization_percent)', '{{role}}')], { unit: 'percent' }),
      ts('VRAM', [q('max(podbrain_gpu_memory_used_bytes)', 'used'), q('max(podbrain_gpu_memory_total_bytes)', 'total')], { unit: 'bytes' }),
      ts('CPU per role', [q(`sum by (role) (rate(process_cpu_seconds_total{job="podbrain",role=~"$role"}[${RI}]))`, '{{role}}')], { unit: 'percentunit' }),
      ts('Resident memory per role', [q('sum by (role) (process_resident_memory_bytes{job="podbrain",role=~"$role"})', '{{role}}')], { unit: 'bytes' }),
      ts('Event-loop lag p99', [q('max by (role) (nodejs_eventloop_lag_p99_seconds{job="podbrain",role=~"$role"})', '{{role}}')], { unit: 's' }),
      ts('Job processing time p95', [q(`histogram_quantile(0.95, sum by (le, queue) (rate(podbrain_queue_processing_seconds_bucket{role=~"$role"}[${RI}])))`, '{{queue}}')], { unit: 's' }),
      ts('Model load time p95', [q(`histogram_quantile(0.95, sum by (le, model) (rate(podbrain_model_load_seconds_bucket[${RI}])))`, '{{model}}')], { unit: 's' }),
      ts('Model load failures (1h)', [q('sum by (model) (increase(podbrain_model_load_failures_total[1h]))', '{{model}}')]),
      table('Health checks (2 healthy, 1 degraded, 0 unhealthy)', [q('max by (role, check) (podbrain_health_check_status{role=~"$role"})', '{{role}} {{check}}')], { w: 12 }),
      table('Seconds since last heartbeat', [q('time() - max by (role) (podbrain_heartbeat_timestamp_seconds)', '{{role}}')], { unit: 's' }),
      logs('worker-gpu log', '{service="worker-gpu"}'),
    ],
  },
  {
    uid: 'podbrain-episodes',
    file: 'episode-lifecycle.json',
    title: 'podbrain · Episode Lifecycle',
    description: 'Where episodes are, how long each stage takes, what failed; trace one episode by correlation id.',
    variables: [{ name: 'correlation_id', label: 'correlation_id', type: 'textbox', query: '', current: { text: '', value: '' } }],
    panels: [
      ts('Episodes by state', [q('sum by (state) (podbrain_episodes_in_state)', '{{state}}')]),
      bar('Mean stage duration (1h)', [q('sum by (stage) (rate(podbrain_episode_stage_duration_seconds_sum[1h])) / sum by (stage) (rate(podbrain_episode_stage_duration_seconds_count[1h]))', '{{stage}}')], { description: 'The per-episode waterfall, averaged: ingest → transcribe → enrich → index → project.' }),
      ts('Stage duration p50 / p95 / p99', [
        q(`histogram_quantile(0.5, sum by (le, stage) (rate(podbrain_episode_stage_duration_seconds_bucket[${RI}])))`, 'p50 {{stage}}'),
        q(`histogram_quantile(0.95, sum by (le, stage) (rate(podbrain_episode_stage_duration_seconds_bucket[${RI}])))`, 'p95 {{stage}}'),
        q(`histogram_quantile(0.99, sum by (le, stage) (rate(podbrain_episode_stage_duration_seconds_bucket[${RI}])))`, 'p99 {{stage}}'),
      ], { unit: 's' }),
      ts('Oldest episode per running state', [q('max by (state) (podbrain_episode_oldest_in_state_seconds)', '{{state}}')], { unit: 's', description: 'Above 2 h fires PodbrainEpisodeStuck.' }),
      ts('Failed stage executions (1h)', [q('sum by (stage) (increase(podbrain_episodes_processed_total{status="failed"}[1h]))', '{{stage}}')]),
      ts('Transcription real-time factor p50', [q(`histogram_quantile(0.5, sum by (le, engine) (rate(podbrain_transcription_realtime_factor_bucket[${RI}])))`, '{{engine}}')], { description: 'Wall time / audio duration; < 1 is faster than real time.' }),
      ts('Degraded transcripts (1h)', [q('sum by (reason) (increase(podbrain_transcripts_degraded_total[1h]))', '{{reason}}')]),
      ts('Failed jobs kept per queue', [q('sum by (queue) (podbrain_queue_depth{state="failed"})', '{{queue}}')]),
      logs('One episode across all roles (set correlation_id above)', '{service=~".+"} | correlation_id="$correlation_id"'),
    ],
  },
  {
    uid: 'podbrain-api',
    file: 'api-viewer.json',
    title: 'podbrain · API & Viewer',
    description: 'Latency and errors per route, SSE connections, search latency, proxy logs.',
    panels: [
      ts('Requests per second by route', [q(`sum by (route) (rate(podbrain_api_request_duration_seconds_count[${RI}]))`, '{{route}}')], { unit: 'reqps' }),
      ts('Latency p95 by route', [q(`histogram_quantile(0.95, sum by (le, route) (rate(podbrain_api_request_duration_seconds_bucket[${RI}])))`, '{{route}}')], { unit: 's' }),
      ts('Error rate (5xx)', [q(`(sum(rate(podbrain_api_request_duration_seconds_count{status=~"5.."}[${RI}])) or vector(0)) / clamp_min(sum(rate(podbrain_api_request_duration_seconds_count[${RI}])), 1e-9)`, '5xx')], { unit: 'percentunit' }),
      ts('Client errors (4xx) per second', [q(`sum by (route) (rate(podbrain_api_request_duration_seconds_count{status=~"4.."}[${RI}]))`, '{{route}}')], { unit: 'reqps' }),
      stat('Open SSE connections', [q('sum(podbrain_api_sse_connections)')]),
      stat('API p95 (5m)', [q('histogram_quantile(0.95, sum by (le) (rate(podbrain_api_request_duration_seconds_bucket[5m])))')], { unit: 's', thresholds: [0, 5] }),
      ts('Search latency p95', [q(`histogram_quantile(0.95, sum by (le) (rate(podbrain_api_request_duration_seconds_bucket{route=~"/api/search.*"}[${RI}])))`, 'search')], { unit: 's' }),
      logs('api warnings and errors', '{service="api"} | json | level=~"warn|error|fatal"', { w: 12 }),
      logs('caddy access log', '{service="caddy"}', { w: 12 }),
    ],
  },
  {
    uid: 'podbrain-providers',
    file: 'provider-costs.json',
    title: 'podbrain · Provider Costs',
    description: 'Tokens and estimated cost per provider, errors, retries, rate limits.',
    variables: [{ name: 'usd_per_1k_tokens', label: 'USD per 1k tokens', type: 'textbox', query: '0.002', current: { text: '0.002', value: '0.002' } }],
    panels: [
      ts('Tokens per day by provider and task', [q('sum by (provider, task) (increase(podbrain_provider_tokens_total[1d]))', '{{provider}} {{task}}')]),
      stat('Estimated cost today (USD)', [q('sum(increase(podbrain_provider_tokens_total[1d])) * $usd_per_1k_tokens / 1000')], { unit: 'currencyUSD', w: 6 }),
      stat('Tokens in the last hour', [q('sum(increase(podbrain_provider_tokens_total[1h]))')], { w: 6 }),
      ts('Estimated cost per day by provider (USD)', [q('sum by (provider) (increase(podbrain_provider_tokens_total[1d])) * $usd_per_1k_tokens / 1000', '{{provider}}')], { unit: 'currencyUSD' }),
      ts('Errors per second by provider and type', [q(`sum by (provider, error_type) (rate(podbrain_provider_errors_total[${RI}]))`, '{{provider}} {{error_type}}')]),
      ts('Retries per second', [q(`sum by (provider) (rate(podbrain_provider_retries_total[${RI}]))`, '{{provider}}')]),
      ts('Rate-limited answers (429) per hour', [q('sum by (provider) (increase(podbrain_provider_rate_limited_total[1h]))', '{{provider}}')]),
    ],
  },
  {
    uid: 'podbrain-corpus',
    file: 'corpus-growth.json',
    title: 'podbrain · Corpus Growth',
    description: 'Capacity planning: episodes, vectors, artifacts, storage.',
    panels: [
      stat('Episodes (all states)', [q('sum(podbrain_episodes_in_state)')]),
      stat('Episodes done', [q('sum(podbrain_episodes_in_state{state="done"})')]),
      stat('Vectors in the index', [q('max(podbrain_vector_index_size)')]),
      stat('Free space, smallest volume', [q('min(podbrain_disk_free_bytes)')], { unit: 'bytes' }),
      ts('Episodes over time', [q('sum(podbrain_episodes_in_state)', 'all'), q('sum(podbrain_episodes_in_state{state="done"})', 'done')]),
      ts('Artifacts by kind', [q('sum by (kind) (podbrain_corpus_artifacts)', '{{kind}}')]),
      ts('Storage used per volume', [q('max by (path) (podbrain_disk_total_bytes - podbrain_disk_free_bytes)', '{{path}}')], { unit: 'bytes' }),
      ts('Free space per volume', [q('min by (path) (podbrain_disk_free_bytes)', '{{path}}')], { unit: 'bytes' }),
      ts('Episodes indexed per day', [q('sum(increase(podbrain_episodes_processed_total{stage="index",status=~"ok|degraded"}[1d]))', 'indexed')]),
      ts('Postgres database size', [q('max by (datname) (pg_database_size_bytes)', '{{datname}}')], { unit: 'bytes' }),
    ],
  },
];

function buildPanel(p, id, pos) {
  const datasource = p.datasource ?? PROM;
  const panel = {
    id,
    type: p.type,
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource,
    gridPos: { x: pos.x, y: pos.y, w: p.w, h: p.h },
    targets: p.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource,
      expr: t.expr,
      ...(p.type === 'logs' ? { queryType: 'range' } : { legendFormat: t.legendFormat || '__auto', range: !p.instant, instant: Boolean(p.instant) }),
    })),
  };
  if (p.type !== 'logs') {
    panel.fieldConfig = {
      defaults: {
        unit: p.unit,
        thresholds: {
          mode: 'absolute',
          steps: (p.thresholds ?? [0]).map((v, i) => ({ color: ['green', 'red', 'dark-red'][i] ?? 'red', value: i === 0 ? null : v })),
        },
      },
      overrides: [],
    };
    panel.options = p.type === 'timeseries' ? { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } } : {};
  } else {
    panel.options = { showTime: true, wrapLogMessage: true, sortOrder: 'Descending', enableLogDetails: true, prettifyLogMessage: false };
  }
  return panel;
}

function buildDashboard(d) {
  let x = 0;
  let y = 0;
  let rowH = 0;
  const panels = d.panels.map((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const panel = buildPanel(p, i + 1, { x, y });
    x += p.w;
    rowH = Math.max(rowH, p.h);
    return panel;
  });
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ['podbrain'],
    timezone: 'browser',
    editable: false,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    templating: { list: d.variables ?? [] },
    annotations: { list: [] },
    links: [{ title: 'podbrain dashboards', type: 'dashboards', tags: ['podbrain'], asDropdown: true, includeVars: false, keepTime: true }],
    panels,
  };
}

const check = process.argv.includes('--check');
let stale = 0;
for (const d of dashboards) {
  const file = path.join(outDir, d.file);
  const json = `${JSON.stringify(buildDashboard(d), null, 2)}\n`;
  if (check) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      /* missing counts as stale */
    }
    if (current !== json) {
      console.error(`stale: ${path.relative(process.cwd(), file)} (run node grafana/scripts/build-dashboards.mjs)`);
      stale++;
    }
  } else {
    writeFileSync(file, json);
    console.log(`wrote ${path.relative(process.cwd(), file)} (${d.panels.length} panels)`);
  }
}
process.exit(stale ? 1 : 0);
