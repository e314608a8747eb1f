import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { backfillSpecSchema, type Backfill } from '../feeds/policy';
import { audioRetentionSchema, type AudioRetention } from '../audio/retention-policy';
import { digestCron } from '../digest/cron';

/**
 * The one config model shared by the CLI and every role.
 *
 * Precedence (lowest → highest): built-in defaults < YAML file (`--config FILE` or
 * `PODBRAIN_CONFIG`) < environment variables < CLI flags.
 *
 * Every setting has exactly one env name (ARCHITECTURE §10a) and one dotted path in the
 * YAML file (e.g. `feeds.maxBytes`). A bad value fails at start naming the env key, the
 * YAML path and what was expected.
 */

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])]).transform((v) =>
  typeof v === 'boolean' ? v : ['true', '1', 'yes'].includes(v),
);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const list = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(values)).min(1));

export const ASR_ENGINES = ['feed', 'whisper-cpp', 'openai'] as const;
export const EMBEDDING_PROVIDERS = ['auto', 'hash', 'openai', 'onnx'] as const;
const ROLES = ['api', 'scheduler', 'worker-io', 'worker-gpu', 'worker-ml', 'worker', 'cli'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** env name → [dotted path, schema, default]. The single source of truth for settings. */
const SETTINGS = {
  PODBRAIN_ROLE: ['role', z.enum(ROLES), 'cli'],
  LOG_LEVEL: ['logLevel', z.enum(LOG_LEVELS), 'info'],
  DATA_DIR: ['dataDir', z.string().min(1), './data'],
  MODELS_DIR: ['modelsDir', z.string().min(1), './models'],
  DATABASE_URL: ['databaseUrl', z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL'), 'postgres://postgres@127.0.0.1:5432/podbrain'],
  REDIS_URL: ['redisUrl', z.string().regex(/^rediss?:\/\//, 'a redis:// URL'), 'redis://127.0.0.1:6379'],
  API_PORT: ['apiPort', int(1, 65535), 8100],
  HEALTH_PORT: ['healthPort', int(0, 65535), 0],
  AUTH_API_KEY: ['authApiKey', z.string(), ''],
  AUTH_READS: ['authReads', z.enum(['auto', 'true', 'false']), 'auto'],
  AUTH_SESSION_DAYS: ['authSessionDays', int(1, 365), 30],
  DOMAIN: ['domain', z.string(), ''],
  API_HEALTH_TARGETS: ['apiHealthTargets', z.string(), ''],
  WEB_DIST_DIR: ['web.distDir', z.string().trim().min(1), 'auto'],
  ALLOW_PRIVATE_NETWORK: ['net.allowPrivateNetwork', bool, false],
  ALLOW_LINK_LOCAL_NETWORK: ['net.allowLinkLocalNetwork', bool, false],
  HTTP_TIMEOUT_MS: ['net.timeoutMs', int(100), 30_000],
  HTTP_MAX_REDIRECTS: ['net.maxRedirects', int(0, 20), 5],
  HTTP_USER_AGENT: ['net.userAgent', z.string().min(1), 'podbrain/0.1 (+https://github.com/podbrain/podbrain)'],
  FEED_MAX_BYTES: ['feeds.maxBytes', int(1024), 20 * 1024 * 1024],
  FEED_POLL_CONCURRENCY: ['feeds.pollConcurrency', int(1, 256), 16],
  FEED_MAX_NEW_EPISODES_PER_POLL: ['feeds.maxNewEpisodesPerPoll', int(1, 100_000), 50],
  FEED_BACKFILL_DEFAULT: ['feeds.backfillDefault', backfillSpecSchema, 'newest:3'],
  AUDIO_MAX_BYTES: ['audio.maxBytes', int(1024), 2 * 1024 * 1024 * 1024],
  DOWNLOAD_RETRIES: ['audio.downloadRetries', int(0, 10), 3],
  DOWNLOAD_TIMEOUT_BASE_MS: ['audio.downloadTimeoutBaseMs', int(1000), 120_000],
  DOWNLOAD_MIN_BYTES_PER_S: ['audio.downloadMinBytesPerS', int(0), 64 * 1024],
  AUDIO_DOWNLOAD: ['audio.download', z.enum(['always', 'when-needed']), 'when-needed'],
  AUDIO_RETENTION: ['retention.audio', audioRetentionSchema, 'keep-all'],
  DATA_MAX_GB: ['retention.dataMaxGb', z.coerce.number().min(0), 0],
  ASR_ENGINES: ['asr.engines', list(ASR_ENGINES), 'feed,whisper-cpp'],
  WHISPER_MODEL: ['asr.whisperModel', z.string().min(1), 'base.en'],
  WHISPER_THREADS: ['asr.threads', int(1, 256), 4],
  WHISPER_LANGUAGE: ['asr.language', z.string().min(2), 'auto'],
  WHISPER_BEAM_SIZE: ['asr.beamSize', int(1, 16), 5],
  WHISPER_VAD: ['asr.vad', bool, true],
  WHISPER_VAD_MODEL: ['asr.vadModel', z.string(), ''],
  WHISPER_CLI: ['asr.whisperCli', z.string(), ''],
  WHISPER_MODEL_PATH: ['asr.whisperModelPath', z.string(), ''],
  WHISPER_TEMPERATURE_FALLBACK: ['asr.temperatureFallback', bool, true],
  AUDIO_NORMALIZE: ['audio.normalize', z.enum(['dynaudnorm', 'none']), 'dynaudnorm'],
  FFMPEG_PATH: ['audio.ffmpegPath', z.string(), ''],
  ASR_MIN_COVERAGE: ['asr.minCoverage', z.coerce.number().min(0).max(1), 0.9],
  OPENAI_API_KEY: ['openai.apiKey', z.string(), ''],
  OPENAI_BASE_URL: ['openai.baseUrl', z.string().url().or(z.literal('')), ''],
  OPENAI_ASR_MODEL: ['openai.asrModel', z.string().min(1), 'whisper-1'],
  OPENAI_ASR_MAX_BYTES: ['openai.asrMaxBytes', int(1024), 25 * 1024 * 1024],
  OPENAI_ASR_UPLOAD_FORMAT: ['openai.asrUploadFormat', z.enum(['mp3', 'flac', 'ogg', 'wav']), 'mp3'],
  OPENAI_ASR_TIMEOUT_MS: ['openai.asrTimeoutMs', int(1000), 600_000],
  OPENAI_ASR_RETRIES: ['openai.asrRetries', int(0, 10), 4],
  OPENAI_ASR_RETRY_BASE_MS: ['openai.asrRetryBaseMs', int(0, 600_000), 1000],
  ASR_MAX_REPETITION: ['asr.maxRepetition', z.coerce.number().min(0).max(1), 0.5],
  FEED_TRANSCRIPT_MAX_BYTES: ['asr.feedTranscriptMaxBytes', int(1024), 10 * 1024 * 1024],
  LLM_MODEL: ['llm.model', z.string(), ''],
  LLM_CONTEXT_TOKENS: ['llm.contextTokens', int(512), 8192],
  LLM_MAX_RETRIES: ['llm.maxRetries', int(0, 10), 3],
  LLM_RETRY_BASE_MS: ['llm.retryBaseMs', int(0, 600_000), 500],
  LLM_TIMEOUT_MS: ['llm.timeoutMs', int(1000), 180_000],
  LLM_MAX_OUTPUT_TOKENS: ['llm.maxOutputTokens', int(64, 131_072), 2048],
  LLM_MAX_ANSWER_BYTES: ['llm.maxAnswerBytes', int(1024), 1024 * 1024],
  ENRICH_DEGRADED_TRANSCRIPTS: ['llm.enrichDegraded', bool, false],
  EMBEDDINGS_PROVIDER: ['embeddings.provider', z.enum(EMBEDDING_PROVIDERS), 'auto'],
  EMBEDDINGS_MODEL: ['embeddings.model', z.string(), ''],
  EMBEDDINGS_MODEL_PATH: ['embeddings.modelPath', z.string(), ''],
  EMBEDDINGS_MODEL_SHA256: ['embeddings.modelSha256', z.string().regex(/^([0-9a-f]{64})?$/, '64 lower-case hex digits or empty'), 'afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1'],
  EMBEDDINGS_MODEL_URL: ['embeddings.modelUrl', z.string(), 'https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/751bff37182d3f1213fa05d7196b954e230abad9'],
  EMBEDDINGS_DIM: ['embeddings.dim', int(8, 8192), 384],
  EMBEDDINGS_BATCH: ['embeddings.batchSize', int(1, 4096), 64],
  EMBEDDINGS_THREADS: ['embeddings.threads', int(0, 256), 0],
  EMBEDDINGS_RETRIES: ['embeddings.retries', int(0, 10), 4],
  EMBEDDINGS_RETRY_BASE_MS: ['embeddings.retryBaseMs', int(0, 600_000), 500],
  EMBEDDINGS_TIMEOUT_MS: ['embeddings.timeoutMs', int(1000), 120_000],
  CHUNK_TOKENS: ['index.chunkTokens', int(20, 8192), 300],
  CHUNK_OVERLAP_TOKENS: ['index.chunkOverlapTokens', int(0, 4096), 50],
  VECTOR_INDEX_TYPE: ['index.type', z.enum(['auto', 'flat', 'hnsw', 'ivf']), 'auto'],
  VECTOR_INDEX_ANN_THRESHOLD: ['index.annThreshold', int(1), 50_000],
  VECTOR_INDEX_HNSW_M: ['index.hnswM', int(4, 128), 32],
  VECTOR_INDEX_EF_CONSTRUCTION: ['index.efConstruction', int(8, 2048), 64],
  VECTOR_INDEX_EF_SEARCH: ['index.efSearch', int(8, 4096), 128],
  VECTOR_INDEX_IVF_NPROBE: ['index.nprobe', int(0, 65536), 0],
  SEARCH_DEFAULT_K: ['search.defaultK', int(1, 1000), 10],
  QUEUE_PREFIX: ['queue.prefix', z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ or -'), 'podbrain'],
  QUEUE_LOCK_MS: ['queue.lockMs', int(1000), 30_000],
  QUEUE_BACKOFF_MS: ['queue.backoffMs', int(0), 0],
  WORKER_QUEUES: ['worker.queues', z.string().min(1), 'all'],
  SHUTDOWN_GRACE_MS: ['worker.shutdownGraceMs', int(0), 30_000],
  FEED_POLL_INTERVAL_S: ['feeds.pollIntervalS', int(10), 3600],
  SCHEDULER_TICK_MS: ['scheduler.tickMs', int(100), 5000],
  SCHEDULER_LEASE_MS: ['scheduler.leaseMs', int(1000), 15_000],
  RECONCILE_GRACE_MS: ['scheduler.reconcileGraceMs', int(0), 30_000],
  STUCK_EPISODE_S: ['scheduler.stuckAfterS', int(1), 6 * 3600],
  AUDIT_RETENTION_DAYS: ['scheduler.auditRetentionDays', int(0, 36_500), 90],
  GPU_REQUIRED: ['telemetry.gpuRequired', bool, false],
  GPU_METRICS_INTERVAL_S: ['telemetry.gpuMetricsIntervalS', int(0, 3600), 0],
  API_REQUEST_METRICS: ['telemetry.apiRequestMetrics', bool, true],
  HEALTH_CHECK_INTERVAL_S: ['telemetry.healthCheckIntervalS', int(1, 3600), 15],
  UNHEALTHY_EXIT_AFTER: ['telemetry.unhealthyExitAfter', int(0, 10_000), 5],
  EVENT_LOOP_WATCHDOG_S: ['telemetry.eventLoopWatchdogS', int(0, 86_400), 60],
  PUBLIC_URL: ['notify.publicUrl', z.string().url().or(z.literal('')), ''],
  NOTIFY_TIMEOUT_MS: ['notify.timeoutMs', int(100, 120_000), 10_000],
  NOTIFY_REPEAT_WINDOW_S: ['notify.repeatWindowS', int(0), 600],
  NOTIFY_NTFY_URL: ['notify.ntfy.url', z.string().url().or(z.literal('')), ''],
  NOTIFY_NTFY_TOPIC: ['notify.ntfy.topic', z.string(), ''],
  NOTIFY_NTFY_TOKEN: ['notify.ntfy.token', z.string(), ''],
  NOTIFY_WEBHOOK_URL: ['notify.webhook.url', z.string().url().or(z.literal('')), ''],
  NOTIFY_WEBHOOK_TOKEN: ['notify.webhook.token', z.string(), ''],
  NOTIFY_WEBHOOK_SECRET: ['notify.webhook.secret', z.string(), ''],
  SMTP_HOST: ['notify.email.host', z.string(), ''],
  SMTP_PORT: ['notify.email.port', int(1, 65535), 587],
  SMTP_SECURITY: ['notify.email.security', z.enum(['starttls', 'tls', 'none']), 'starttls'],
  SMTP_USER: ['notify.email.user', z.string(), ''],
  SMTP_PASSWORD: ['notify.email.password', z.string(), ''],
  SMTP_FROM: ['notify.email.from', z.string(), ''],
  NOTIFY_EMAIL_TO: ['notify.email.to', z.string(), ''],
  AGENT_MODE: ['agent.mode', z.enum(['off', 'shadow', 'auto']), 'shadow'],
  AGENT_WEBHOOK_TOKEN: ['agent.webhookToken', z.string(), ''],
  RUNBOOKS_DIR: ['agent.runbooksDir', z.string().min(1), './runbooks'],
  PROMETHEUS_URL: ['agent.prometheusUrl', z.string().url().or(z.literal('')), ''],
  LOKI_URL: ['agent.lokiUrl', z.string().url().or(z.literal('')), ''],
  AGENT_VERIFY_S: ['agent.verifyS', int(1, 86_400), 300],
  AGENT_TICK_MS: ['agent.tickMs', int(100, 60_000), 2000],
  RUNTIME_SETTINGS_REFRESH_S: ['settingsRefreshS', int(1, 3600), 30],
  RESTART_ACK_S: ['control.restartAckS', int(1, 600), 20],
  DOCKER_PROXY_URL: ['control.dockerProxyUrl', z.string().url().or(z.literal('')), ''],
  REPROCESS_AUTO: ['reprocess.auto', bool, false],
  REPROCESS_WINDOW: ['reprocess.window', z.string().regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM-HH:MM (local time, e.g. 01:00-06:00)'), '01:00-06:00'],
  REPROCESS_BATCH: ['reprocess.batch', int(1, 10_000), 50],
  DIGEST_SCHEDULE: [
    'digest.schedule',
    z.string().trim().min(1).superRefine((v, ctx) => {
      try {
        digestCron(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
      }
    }),
    '0 6 * * 1',
  ],
  DIGEST_WINDOW_DAYS: ['digest.windowDays', int(1, 366), 7],
  DIGEST_MAX_CLUSTERS: ['digest.maxClusters', int(1, 100), 12],
  SAVED_SEARCH_MIN_INTERVAL_S: ['savedSearches.minIntervalS', int(0, 30 * 86_400), 3600],
  SAVED_SEARCH_MAX: ['savedSearches.maxPerTenant', int(1, 10_000), 200],
  CHAPTERS_GENERATE: ['chapters.generate', bool, true],
  CHAPTERS_MAX_BYTES: ['chapters.maxBytes', int(1024, 64 * 2 ** 20), 2 ** 20],
  COMPOSE_PROJECT_NAME: ['control.composeProject', z.string().regex(/^[a-z0-9][a-z0-9_-]*$|^$/, 'a compose project name (lower-case letters, digits, _ or -)'), ''],
} as const satisfies Record<string, readonly [string, z.ZodTypeAny, unknown]>;

export type SettingKey = keyof typeof SETTINGS;

type Out<K extends SettingKey> = z.output<(typeof SETTINGS)[K][1]>;

export interface Config {
  role: Out<'PODBRAIN_ROLE'>;
  logLevel: Out<'LOG_LEVEL'>;
  dataDir: string;
  modelsDir: string;
  databaseUrl: string;
  redisUrl: string;
  apiPort: number;
  healthPort: number;
  authApiKey: string;
  /** Whether reads need a key or a session too: auto = yes when DOMAIN is set (api/private-reads.ts). */
  authReads: 'auto' | 'true' | 'false';
  /** Lifetime of a viewer session cookie (POST /api/session). */
  authSessionDays: number;
  /** The public host name Caddy serves (deploy/Caddyfile); '' or a bare ":port" = LAN only. */
  domain: string;
  /** GET /api/health also asks these roles: `role=http://host:port/healthz` comma list ('' = only this api process). */
  apiHealthTargets: string;
  /**
   * The viewer the api serves on its own port (api/static/viewer-static.ts): `auto` = web/dist next
   * to services/ when built (a checkout, `podbrain serve`; not the appliance image, where Caddy
   * serves it); `off`; or a directory with an index.html.
   */
  web: { distDir: string };
  /** allowLinkLocalNetwork: 169.254.0.0/16 and fe80::/10 (cloud metadata), refused even under allowPrivateNetwork unless set. */
  net: { allowPrivateNetwork: boolean; allowLinkLocalNetwork: boolean; timeoutMs: number; maxRedirects: number; userAgent: string };
  /**
   * maxNewEpisodesPerPoll: new episodes one poll adds and enqueues, newest first; the older rest
   * waits for the following polls (a 50,000-item feed is not 50,000 downloads at once).
   */
  /** backfillDefault: the back catalogue a feed added without a backfill policy gets processed (feeds/policy.ts). */
  feeds: { maxBytes: number; pollConcurrency: number; pollIntervalS: number; maxNewEpisodesPerPoll: number; backfillDefault: Backfill };
  audio: {
    maxBytes: number;
    downloadRetries: number;
    /**
     * One download attempt may take downloadTimeoutBaseMs + size / downloadMinBytesPerS (the size the
     * server announces, else the bytes received so far); 0 B/s: no overall limit (the idle timeout stays).
     */
    downloadTimeoutBaseMs: number;
    downloadMinBytesPerS: number;
    /** Loudness normalisation in preprocess. */
    normalize: 'dynaudnorm' | 'none';
    /** ffmpeg binary ('' = `ffmpeg` on PATH); fluent-ffmpeg reads the same FFMPEG_PATH variable itself. */
    ffmpegPath: string;
    /**
     * when-needed: an episode whose publisher transcript comes first (ASR_ENGINES starts with `feed`)
     * is not downloaded (the player streams the enclosure; transcribe downloads only if it must fall
     * back to ASR); always: every episode's audio is downloaded into its ingest artifact.
     */
    download: 'always' | 'when-needed';
  };
  /**
   * Deleting downloaded audio of done episodes (control/retention.ts, the scheduler leader, hourly):
   * audio: the policy; dataMaxGb: a budget for DATA_DIR in GiB (0 = none) — above it the oldest
   * episodes' audio goes first until usage is under the budget with a margin.
   */
  retention: { audio: AudioRetention; dataMaxGb: number };
  asr: {
    engines: (typeof ASR_ENGINES)[number][];
    whisperModel: string;
    threads: number;
    language: string;
    beamSize: number;
    vad: boolean;
    /** Silero VAD model (ggml); '' = the first ggml-silero-*.bin in MODELS_DIR. */
    vadModel: string;
    /** whisper-cli binary; '' = services/native/whisper/build/bin/whisper-cli. */
    whisperCli: string;
    /** Model file that overrides MODELS_DIR/ggml-<WHISPER_MODEL>.bin. */
    whisperModelPath: string;
    /** false passes --no-fallback (no re-decoding at higher temperatures). */
    temperatureFallback: boolean;
    minCoverage: number;
    /** Above this repetition ratio a transcript counts as a repetition loop (degraded). */
    maxRepetition: number;
    /** Byte cap for one publisher transcript (podcast:transcript). */
    feedTranscriptMaxBytes: number;
  };
  openai: {
    apiKey: string;
    baseUrl: string;
    asrModel: string;
    asrMaxBytes: number;
    asrUploadFormat: 'mp3' | 'flac' | 'ogg' | 'wav';
    asrTimeoutMs: number;
    asrRetries: number;
    asrRetryBaseMs: number;
  };
  llm: {
    model: string;
    contextTokens: number;
    maxRetries: number;
    retryBaseMs: number;
    timeoutMs: number;
    maxOutputTokens: number;
    /** Larger HTTP answers from the LLM server are cut off and treated as invalid output. */
    maxAnswerBytes: number;
    /** Summaries and insights also for transcripts the quality gate calls garbage (default false: not generated, reason shown). */
    enrichDegraded: boolean;
  };
  embeddings: {
    /** auto: onnx when the model files are in place, else hash (said in the log, doctor and /healthz). */
    provider: (typeof EMBEDDING_PROVIDERS)[number];
    /** openai: the server's model name; onnx: the directory name under MODELS_DIR/embeddings ('' = all-MiniLM-L6-v2). */
    model: string;
    /** onnx: a model directory (model.onnx, tokenizer.json, config.json) that overrides MODELS_DIR/embeddings/<model>. */
    modelPath: string;
    /** onnx: expected SHA-256 of model.onnx (fetch script; at run time checked for the fetched model only). */
    modelSha256: string;
    /** onnx: download base of the fetch script (onnx/model_quantized.onnx, tokenizer.json, config.json under it). */
    modelUrl: string;
    /** onnx: inference threads; 0 = cores − 1 (at least 1), so the role's event loop keeps a core. */
    threads: number;
    dim: number;
    batchSize: number;
    retries: number;
    retryBaseMs: number;
    timeoutMs: number;
  };
  /** Chunking and the FAISS vector index (ARCHITECTURE §7). */
  index: {
    chunkTokens: number;
    chunkOverlapTokens: number;
    /** `auto`: Flat below annThreshold vectors, IVF from there on (see vector-store.ts). */
    type: 'auto' | 'flat' | 'hnsw' | 'ivf';
    annThreshold: number;
    hnswM: number;
    efConstruction: number;
    efSearch: number;
    nprobe: number;
  };
  search: { defaultK: number };
  queue: { prefix: string; lockMs: number; /** 0: each queue's own backoff (QUEUE_SETTINGS). */ backoffMs: number };
  worker: { queues: string; shutdownGraceMs: number };
  /** auditRetentionDays: admin_audit rows older than this are deleted by the scheduler (0 = kept forever). */
  scheduler: { tickMs: number; leaseMs: number; reconcileGraceMs: number; stuckAfterS: number; auditRetentionDays: number };
  /** worker-gpu: a missing GPU is unhealthy; nvidia-smi sampled every N s into podbrain_gpu_* (0 = only on /healthz). */
  /** apiRequestMetrics: the api's podbrain_api_request_* histogram and counters (false: /metrics keeps the rest). */
  /**
   * unhealthyExitAfter: the role exits (code 3) after this many unhealthy health evaluations in a
   * row, one every healthCheckIntervalS, Postgres/Redis outages not counted (0 = off);
   * eventLoopWatchdogS: a worker thread ends the process (status 140) when the event loop has
   * been blocked this long (0 = off).
   */
  telemetry: { gpuRequired: boolean; gpuMetricsIntervalS: number; apiRequestMetrics: boolean; healthCheckIntervalS: number; unhealthyExitAfter: number; eventLoopWatchdogS: number };
  /**
   * Outgoing notifications (notifications/): each channel is on when its address is set.
   * publicUrl: the viewer's address, for links in notifications ('' = no links).
   * repeatWindowS: an identical notification (same kind + key) within this window is dropped.
   * email.security: `tls` = TLS from the first byte (port 465), `starttls` = upgrade required, `none` = plain.
   */
  notify: {
    publicUrl: string;
    timeoutMs: number;
    repeatWindowS: number;
    ntfy: { url: string; topic: string; token: string };
    webhook: { url: string; token: string; secret: string };
    email: { host: string; port: number; security: 'starttls' | 'tls' | 'none'; user: string; password: string; from: string; to: string };
  };
  /**
   * The on-call agent (scheduler leader, agent/). mode: the initial mode (the runtime setting
   * agent.mode overrides it); webhookToken: a bearer accepted at POST /api/admin/alerts besides the
   * API key ('' = API key only); prometheusUrl/lokiUrl: where diagnose steps run PromQL/LogQL
   * ('' = those steps are skipped and say so); verifyS: how long after an action the agent waits
   * for recovery before it escalates; tickMs: how often the leader looks for work.
   */
  agent: { mode: 'off' | 'shadow' | 'auto'; webhookToken: string; runbooksDir: string; prometheusUrl: string; lokiUrl: string; verifyS: number; tickMs: number };
  /** How often every role reads runtime_settings again (a settings-changed control message makes it read at once). */
  settingsRefreshS: number;
  /**
   * restart-role's forced path (control/role-restarter.ts): restartAckS: how long the processes of a
   * role get to stop after the cooperative message before their containers are restarted through
   * the engine; dockerProxyUrl: the socket proxy (control/socket-proxy.ts; '' = no forced path);
   * composeProject: the compose project whose containers are restarted ('' = the proxy's own).
   */
  control: { restartAckS: number; dockerProxyUrl: string; composeProject: string };
  /**
   * Reprocessing stale work (control/stale-work.ts): auto: the scheduler leader queues stale
   * episodes by itself (the runtime setting reprocess.auto overrides it), only inside window
   * (HH:MM-HH:MM, local time of TZ) and only while no new or interactive job waits; batch: the most
   * stale episodes one call or tick queues (the window adds more as the queued ones drain).
   */
  reprocess: { auto: boolean; window: string; batch: number };
  /**
   * The digest (digest/): schedule: when the scheduler leader generates one (5-field cron in the
   * TZ of the process, e.g. `0 6 * * 1` = Mondays 06:00; `off` = only on demand); windowDays: the
   * default window (the last N days); maxClusters: story clusters kept per digest.
   */
  digest: { schedule: string; windowDays: number; maxClusters: number };
  /** Saved searches (standing alerts): minIntervalS: the default least time between two notifications of one search; maxPerTenant: how many a tenant may keep. */
  savedSearches: { minIntervalS: number; maxPerTenant: number };
  /** Chapters: generate: episodes without publisher chapters get chapters from topic shifts; maxBytes: the largest publisher chapters document fetched. */
  chapters: { generate: boolean; maxBytes: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env?: NodeJS.ProcessEnv;
  /** Path of a YAML file; falls back to env PODBRAIN_CONFIG. */
  file?: string;
  /** Highest precedence, keyed by env name or dotted path (CLI flags). */
  overrides?: Record<string, unknown>;
}

function getPath(obj: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys[keys.length - 1]] = value;
}

const PATH_TO_ENV = new Map<string, SettingKey>(Object.entries(SETTINGS).map(([env, [p]]) => [p, env as SettingKey]));

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`config file ${file}: cannot read (${(e as Error).message})`]);
  }
  const doc = parseYaml(text) ?? {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError([`config file ${file}: expected a mapping at top level`]);
  return doc as Record<string, unknown>;
}

function describe(schema: z.ZodTypeAny, issue: z.core.$ZodIssue): string {
  if (schema instanceof z.ZodEnum) return `one of ${schema.options.join(', ')}`;
  const i = issue as { code: string; expected?: string; minimum?: unknown; maximum?: unknown; origin?: string };
  if (i.code === 'invalid_type' && i.expected === 'number') return 'a number';
  if (i.code === 'invalid_type' && i.expected === 'int') return 'a whole number';
  if (i.code === 'too_small' && i.origin === 'number') return `a number ≥ ${String(i.minimum)}`;
  if (i.code === 'too_big' && i.origin === 'number') return `a number ≤ ${String(i.maximum)}`;
  return issue.message;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env.PODBRAIN_CONFIG;
  const yamlDoc = file ? readYaml(file) : {};
  const problems: string[] = [];

  if (file) {
    // Unknown YAML keys are almost always typos; say so instead of ignoring them.
    const walk = (o: Record<string, unknown>, prefix: string) => {
      for (const [k, v] of Object.entries(o)) {
        const p = prefix ? `${prefix}.${k}` : k;
        if (PATH_TO_ENV.has(p)) continue;
        if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, p);
        else problems.push(`${p} (config file): unknown setting`);
      }
    };
    walk(yamlDoc, '');
  }

  const overrides = new Map<SettingKey, unknown>();
  for (const [k, v] of Object.entries(sources.overrides ?? {})) {
    if (v === undefined) continue;
    const key = (k in SETTINGS ? k : PATH_TO_ENV.get(k)) as SettingKey | undefined;
    if (!key) problems.push(`${k}: unknown setting`);
    else overrides.set(key, v);
  }

  const out: Record<string, unknown> = {};
  for (const [envName, [dotted, schema, dflt]] of Object.entries(SETTINGS) as [SettingKey, readonly [string, z.ZodTypeAny, unknown]][]) {
    let raw: unknown = dflt;
    let from = 'default';
    const y = getPath(yamlDoc, dotted);
    if (y !== undefined && y !== null) [raw, from] = [y, 'config file'];
    if (env[envName] !== undefined && env[envName] !== '') [raw, from] = [env[envName], 'env'];
    if (overrides.has(envName)) [raw, from] = [overrides.get(envName), 'flag'];
    const parsed = schema.safeParse(raw);
    if (parsed.success) setPath(out, dotted, parsed.data);
    else problems.push(`${envName} (${dotted}, from ${from}): expected ${describe(schema, parsed.error.issues[0])}, got ${JSON.stringify(raw)}`);
  }
  if (problems.length) throw new ConfigError(problems);

  const cfg = out as unknown as Config;
  cfg.dataDir = path.resolve(cfg.dataDir);
  cfg.modelsDir = path.resolve(cfg.modelsDir);
  return cfg;
}

/** The documented list of settings (used by `.env.example` generation and docs). */
export function describeSettings(): { env: SettingKey; path: string; default: unknown }[] {
  return Object.entries(SETTINGS).map(([env, [p, , d]]) => ({ env: env as SettingKey, path: p, default: d }));
}
