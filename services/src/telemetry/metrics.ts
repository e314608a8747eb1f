import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one Prometheus registry of a podbrain process (ARCHITECTURE §9).
 *
 * Every podbrain metric is prefixed `podbrain_`; the default process metrics
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `nodejs_*`) keep their
 * standard names so stock dashboards and alerts work. Default labels `service` and
 * `role` are set once by `initMetrics(role)` at start of a role. Dashboards
 * (grafana/dashboards) and alert rules (prometheus/rules) use exactly these names.
 */
export const registry = new Registry();

const registers = [registry];

const SECONDS_SHORT = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SECONDS_LONG = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

export const metrics = {
  // --- queues (set by whoever samples BullMQ: scheduler / api) ---
  queueDepth: new Gauge({
    name: 'podbrain_queue_depth',
    help: 'Jobs per queue and state (waiting, active, delayed, failed, completed, paused).',
    labelNames: ['queue', 'state'] as const,
    registers,
  }),
  queuePaused: new Gauge({
    name: 'podbrain_queue_paused',
    help: 'Whether a queue is paused (1) or not (0); with waiting jobs it drives the queue-paused alert.',
    labelNames: ['queue'] as const,
    registers,
  }),
  queueProcessingSeconds: new Histogram({
    name: 'podbrain_queue_processing_seconds',
    help: 'Time a worker spent on one job, by queue.',
    labelNames: ['queue'] as const,
    buckets: SECONDS_LONG,
    registers,
  }),

  // --- pipeline ---
  episodesProcessedTotal: new Counter({
    name: 'podbrain_episodes_processed_total',
    help: 'Stage executions per stage and outcome (ok, skipped, failed, degraded).',
    labelNames: ['stage', 'status'] as const,
    registers,
  }),
  episodeStageDurationSeconds: new Histogram({
    name: 'podbrain_episode_stage_duration_seconds',
    help: 'Wall time of one stage for one episode.',
    labelNames: ['stage'] as const,
    buckets: SECONDS_LONG,
    registers,
  }),
  episodesInState: new Gauge({
    name: 'podbrain_episodes_in_state',
    help: 'Episodes per lifecycle state (pending … done, failed, skipped), sampled from Postgres.',
    labelNames: ['state'] as const,
    registers,
  }),
  episodeOldestInStateSeconds: new Gauge({
    name: 'podbrain_episode_oldest_in_state_seconds',
    help: 'Age of the oldest episode still in a given running state (0 when none); drives the episode-stuck alert.',
    labelNames: ['state'] as const,
    registers,
  }),
  transcriptsDegradedTotal: new Counter({
    name: 'podbrain_transcripts_degraded_total',
    help: 'Transcripts accepted with a degraded status (low speech coverage, CPU fallback, …).',
    labelNames: ['reason'] as const,
    registers,
  }),
  transcriptionRealtimeFactor: new Histogram({
    name: 'podbrain_transcription_realtime_factor',
    help: 'Transcription wall time divided by audio duration (lower is faster; < 1 is faster than real time).',
    labelNames: ['engine'] as const,
    buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 5, 10],
    registers,
  }),
  corpusArtifacts: new Gauge({
    name: 'podbrain_corpus_artifacts',
    help: 'Committed artifact sets in the corpus by kind, i.e. the stage that made them (ingest, transcribe, enrich, index, project), sampled by the scheduler.',
    labelNames: ['kind'] as const,
    registers,
  }),
  dataBytes: new Gauge({
    name: 'podbrain_data_bytes',
    help: 'Bytes of the files under DATA_DIR (artifacts, audio, index), measured by the active scheduler every few minutes (control/retention.ts).',
    registers,
  }),
  dataBudgetBytes: new Gauge({
    name: 'podbrain_data_budget_bytes',
    help: 'The DATA_MAX_GB budget for DATA_DIR in bytes (0 = no budget); above it the oldest audio of done episodes is deleted.',
    registers,
  }),
  audioDeletedBytesTotal: new Counter({
    name: 'podbrain_audio_deleted_bytes_total',
    help: 'Bytes of downloaded audio deleted by retention, by reason (policy: AUDIO_RETENTION, budget: DATA_MAX_GB).',
    labelNames: ['reason'] as const,
    registers,
  }),

  // --- models and GPU ---
  modelLoadSeconds: new Histogram({
    name: 'podbrain_model_load_seconds',
    help: 'Time to load a model into memory.',
    labelNames: ['model'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  }),
  modelLoadFailuresTotal: new Counter({
    name: 'podbrain_model_load_failures_total',
    help: 'Failed model loads (missing file, bad header, out of memory).',
    labelNames: ['model'] as const,
    registers,
  }),
  gpuUtilizationPercent: new Gauge({
    name: 'podbrain_gpu_utilization_percent',
    help: 'GPU utilisation from nvidia-smi (first GPU).',
    registers,
  }),
  gpuMemoryUsedBytes: new Gauge({
    name: 'podbrain_gpu_memory_used_bytes',
    help: 'GPU memory in use from nvidia-smi (first GPU).',
    registers,
  }),
  gpuMemoryTotalBytes: new Gauge({
    name: 'podbrain_gpu_memory_total_bytes',
    help: 'GPU memory total from nvidia-smi (first GPU).',
    registers,
  }),

  // --- API ---
  apiRequestDurationSeconds: new Histogram({
    name: 'podbrain_api_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS_SHORT,
    registers,
  }),
  apiSseConnections: new Gauge({
    name: 'podbrain_api_sse_connections',
    help: 'Open server-sent-event connections on this api instance.',
    registers,
  }),
  vectorIndexSize: new Gauge({
    name: 'podbrain_vector_index_size',
    help: 'Vectors in the FAISS index.',
    registers,
  }),

  // --- providers (LLM, embeddings, remote ASR) ---
  providerTokensTotal: new Counter({
    name: 'podbrain_provider_tokens_total',
    help: 'Tokens consumed per provider and task (summary, gi, kg, embeddings, asr).',
    labelNames: ['provider', 'task'] as const,
    registers,
  }),
  providerErrorsTotal: new Counter({
    name: 'podbrain_provider_errors_total',
    help: 'Provider call failures per provider and error type (http_5xx, http_4xx, rate_limited, timeout, network, invalid_output).',
    labelNames: ['provider', 'error_type'] as const,
    registers,
  }),
  enrichLlmFallbackTotal: new Counter({
    name: 'podbrain_enrich_llm_fallback_total',
    help: 'Enrich tasks that fell back from the LLM to the extractive path, by reason: unreachable (the server failed after retries: the whole episode) or invalid_output (one task stayed invalid after the repair round).',
    labelNames: ['reason'] as const,
    registers,
  }),
  providerRetriesTotal: new Counter({
    name: 'podbrain_provider_retries_total',
    help: 'Provider call retries.',
    labelNames: ['provider'] as const,
    registers,
  }),
  providerRateLimitedTotal: new Counter({
    name: 'podbrain_provider_rate_limited_total',
    help: 'Provider responses with HTTP 429.',
    labelNames: ['provider'] as const,
    registers,
  }),

  // --- process / role health ---
  up: new Gauge({
    name: 'podbrain_up',
    help: 'Always 1 while the role process runs (label role comes from the default labels).',
    registers,
  }),
  heartbeatTimestampSeconds: new Gauge({
    name: 'podbrain_heartbeat_timestamp_seconds',
    help: 'Unix time of the last worker/scheduler loop heartbeat.',
    registers,
  }),
  healthStatus: new Gauge({
    name: 'podbrain_health_status',
    help: 'Last /healthz result of this role: 2 healthy, 1 degraded, 0 unhealthy.',
    registers,
  }),
  healthCheckStatus: new Gauge({
    name: 'podbrain_health_check_status',
    help: 'Last result per health check: 2 healthy, 1 degraded, 0 unhealthy.',
    labelNames: ['check'] as const,
    registers,
  }),
  diskFreeBytes: new Gauge({
    name: 'podbrain_disk_free_bytes',
    help: 'Free bytes available to podbrain on the filesystem holding a path (DATA_DIR, MODELS_DIR).',
    labelNames: ['path'] as const,
    registers,
  }),
  diskTotalBytes: new Gauge({
    name: 'podbrain_disk_total_bytes',
    help: 'Size of the filesystem holding a path.',
    labelNames: ['path'] as const,
    registers,
  }),
  buildInfo: new Gauge({
    name: 'podbrain_build_info',
    help: 'Always 1; labels carry the running version and git sha.',
    labelNames: ['version', 'git_sha'] as const,
    registers,
  }),
} as const;

export type Metrics = typeof metrics;

let initialised = false;

/**
 * Sets the default labels and starts the default process metrics. Call once when a role
 * (or the CLI) starts; a second call only updates the labels.
 */
export function initMetrics(opts: { role: string; service?: string; version?: string; gitSha?: string }): void {
  registry.setDefaultLabels({ service: opts.service ?? 'podbrain', role: opts.role });
  if (!initialised) {
    collectDefaultMetrics({ register: registry });
    initialised = true;
  }
  metrics.up.set(1);
  if (opts.version !== undefined) {
    metrics.buildInfo.reset();
    metrics.buildInfo.set({ version: opts.version, git_sha: opts.gitSha ?? 'unknown' }, 1);
  }
}

/** Prometheus text exposition of the registry (for `/metrics`). */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
