import { context, INVALID_SPAN_CONTEXT, propagation, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { tracing } from '@opentelemetry/sdk-node';
import { correlationIdOfJob, currentLogContext, withCorrelationData, withLogContext, type LogContext } from './correlation';
import { heartbeat } from './heartbeat';
import { metrics } from './metrics';
import { redactSecretPath } from './redact-path';

/**
 * OpenTelemetry traces (ARCHITECTURE §9). The SDK starts only when an OTLP endpoint is
 * configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), so a box
 * without a collector pays nothing: the API calls below are then OpenTelemetry's no-ops,
 * and the correlation id still travels through job data and log lines (correlation.ts).
 *
 * Exporter, protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`), headers and sampling follow the
 * standard OTEL_* variables, read by the SDK itself.
 */

const TRACER_NAME = 'podbrain';

export interface TracingHandle {
  enabled: boolean;
  /** Exports every finished span now (export is asynchronous otherwise). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (String(env.OTEL_SDK_DISABLED).toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

const IGNORED_PATHS = ['/healthz', '/metrics'];

let active: TracingHandle | undefined;

/**
 * Starts the NodeSDK once per process (a second call returns the first handle). Call it
 * before the modules it instruments are loaded (http, pg, ioredis): the image does so with
 * `node --require services/dist/telemetry/register.js`.
 * `spanExporter` replaces OTLP (tests use an in-memory exporter) and forces the SDK on.
 */
export function startTracing(opts: {
  serviceName?: string;
  role: string;
  version?: string;
  env?: NodeJS.ProcessEnv;
  spanExporter?: tracing.SpanExporter;
}): TracingHandle {
  if (active) return active;
  const env = opts.env ?? process.env;
  if (!opts.spanExporter && !tracingEnabled(env)) {
    return { enabled: false, flush: async () => {}, shutdown: async () => {} };
  }
  // Loaded only when tracing starts: the SDK takes ~350 ms to load, and the queue producers
  // (imported by the CLI too) need only @opentelemetry/api from this module.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeSDK, resources, tracing: sdkTracing } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || opts.serviceName || `podbrain-${opts.role}`,
    resource: resources.resourceFromAttributes({
      'service.namespace': 'podbrain',
      'podbrain.role': opts.role,
      ...(opts.version ? { 'service.version': opts.version } : {}),
    }),
    ...(opts.spanExporter ? { spanProcessors: [new sdkTracing.SimpleSpanProcessor(opts.spanExporter)] } : {}),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => IGNORED_PATHS.some((p) => (req.url ?? '').startsWith(p)),
        // A re-feed token in the path is a credential: the span keeps the path without it.
        startIncomingSpanHook: (req) => {
          const path = ('url' in req ? (req.url ?? '') : '').split('?')[0];
          const redacted = redactSecretPath(path);
          return redacted === path ? {} : { 'url.path': redacted };
        },
      }),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
    ],
  });
  sdk.start();
  const handle: TracingHandle = {
    enabled: true,
    async flush() {
      const provider = trace.getTracerProvider() as { getDelegate?: () => unknown };
      const delegate = (provider.getDelegate?.() ?? provider) as { forceFlush?: () => Promise<void> };
      await delegate.forceFlush?.();
    },
    async shutdown() {
      if (active === handle) active = undefined;
      cachedTracer = undefined;
      await sdk.shutdown();
    },
  };
  active = handle;
  return handle;
}

let cachedTracer: Tracer | undefined;

function tracer(): Tracer {
  return (cachedTracer ??= trace.getTracer(TRACER_NAME));
}

// Handed to `withSpan` callbacks when tracing is off: every method is a no-op.
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

function contextAttributes(ctx: LogContext | undefined): Attributes {
  if (!ctx) return {};
  const attrs: Attributes = { correlation_id: ctx.correlation_id };
  if (ctx.episode_key) attrs.episode_key = ctx.episode_key;
  if (ctx.queue) attrs['messaging.destination.name'] = ctx.queue;
  if (ctx.worker_id) attrs.worker_id = ctx.worker_id;
  return attrs;
}

/**
 * Runs `fn` in an active span carrying the current correlation id (and episode/queue). A
 * throw marks the span as an error and is rethrown.
 */
export async function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  // Without an SDK even OpenTelemetry's no-op spans cost ~10 µs per call (context, attributes):
  // the default appliance (no OTLP endpoint) skips them.
  if (!active) return fn(NOOP_SPAN);
  return tracer().startActiveSpan(name, { attributes: { ...contextAttributes(currentLogContext()), ...attributes } }, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** W3C trace context (`traceparent`, `tracestate`) as stored in job data. */
export type TraceCarrier = Record<string, string>;

/**
 * Job data as enqueued: `correlation_id` (kept or inherited from the current context) and the
 * current trace context under `otel`, so the worker's span continues the API request's trace.
 */
export function jobDataWithTrace<T extends object>(data: T, correlationId?: string): T & { correlation_id: string; otel?: TraceCarrier } {
  const carrier: TraceCarrier = {};
  if (active) propagation.inject(context.active(), carrier);
  const withId = withCorrelationData(data, correlationId);
  return Object.keys(carrier).length ? { ...withId, otel: carrier } : withId;
}

export interface JobLike {
  id?: string;
  name: string;
  queueName: string;
  data: unknown;
}

/**
 * Runs a queue job: continues the enqueuer's trace, opens span `<queue> process` and a log
 * context (correlation_id, episode_key, queue, worker_id), and times it into
 * podbrain_queue_processing_seconds{queue}.
 */
export async function runJobWithTelemetry<T>(job: JobLike, opts: { workerId?: string }, fn: () => Promise<T>): Promise<T> {
  const data = (job.data && typeof job.data === 'object' ? job.data : {}) as { otel?: TraceCarrier; episodeKey?: string; episode_key?: string };
  const parent = active && data.otel ? propagation.extract(context.active(), data.otel) : context.active();
  const episodeKey = typeof data.episodeKey === 'string' ? data.episodeKey : typeof data.episode_key === 'string' ? data.episode_key : undefined;
  const endTimer = metrics.queueProcessingSeconds.startTimer({ queue: job.queueName });
  try {
    return await withLogContext(
      { correlation_id: correlationIdOfJob(job.data), episode_key: episodeKey, queue: job.queueName, worker_id: opts.workerId },
      () =>
        context.with(parent, () =>
          withSpan(`${job.queueName} process`, { 'messaging.system': 'bullmq', 'messaging.operation': 'process', 'messaging.message.id': job.id ?? '', 'job.name': job.name }, fn),
        ),
    );
  } finally {
    endTimer();
    heartbeat();
  }
}
