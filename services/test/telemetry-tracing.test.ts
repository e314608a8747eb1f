import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { context, propagation, trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/logger';
import {
  correlationIdFromHeaders,
  correlationIdOfJob,
  currentCorrelationId,
  withCorrelationData,
  withLogContext,
} from '../src/telemetry/correlation';
import { metrics } from '../src/telemetry/metrics';
import { jobDataWithTrace, runJobWithTelemetry, startTracing, tracingEnabled, withSpan } from '../src/telemetry/tracing';

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: createLogger({ service: 'test', level: 'info', destination }), lines };
}

describe('correlation ids', () => {
  it('puts the current correlation id, episode and queue on every log line inside a context and none outside', () => {
    const { log, lines } = captureLogger();
    log.info('outside');
    withLogContext({ correlation_id: 'req-12345678' }, () => {
      log.info('request');
      withLogContext({ episode_key: 'ep1', queue: 'transcribe' }, () => log.info('job'));
    });
    expect(lines[0]).not.toHaveProperty('correlation_id');
    expect(lines[1]).toMatchObject({ msg: 'request', correlation_id: 'req-12345678', service: 'test', level: 'info' });
    expect(lines[1]).not.toHaveProperty('episode_key');
    expect(lines[2]).toMatchObject({ msg: 'job', correlation_id: 'req-12345678', episode_key: 'ep1', queue: 'transcribe' });
  });

  it('keeps a well-formed caller id from headers and replaces a malformed one', () => {
    expect(correlationIdFromHeaders({ 'x-correlation-id': 'abc-123-def-456' })).toBe('abc-123-def-456');
    expect(correlationIdFromHeaders({ 'x-request-id': ['rid-00000001'] })).toBe('rid-00000001');
    const fresh = correlationIdFromHeaders({ 'x-correlation-id': 'bad id\n{"level":"fatal"}' });
    expect(fresh).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('job data inherits the current id, keeps an existing one, and a job without one gets a fresh id', () => {
    withLogContext({ correlation_id: 'ctx-00000042' }, () => {
      expect(withCorrelationData({ episodeKey: 'e' })).toEqual({ episodeKey: 'e', correlation_id: 'ctx-00000042' });
      expect(withCorrelationData({ correlation_id: 'own-00000001' }).correlation_id).toBe('own-00000001');
    });
    expect(currentCorrelationId()).toBeUndefined();
    expect(correlationIdOfJob({ correlation_id: 'job-00000007' })).toBe('job-00000007');
    expect(correlationIdOfJob({})).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('tracing', () => {
  afterAll(() => {
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('is off without an OTLP endpoint and on with one', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(startTracing({ role: 'api', env: {} }).enabled).toBe(false);
  });

  it('one trace and one correlation id from the API request through the queue to the worker span and log line', async () => {
    const exporter = new tracing.InMemorySpanExporter();
    const handle = startTracing({ role: 'test', spanExporter: exporter, env: {} });
    expect(handle.enabled).toBe(true);
    const { log, lines } = captureLogger();

    // API side: a request span; the enqueued job data carries the id and the trace context.
    const jobData = await withLogContext({ correlation_id: 'corr-api-0001' }, () =>
      withSpan('POST /api/feeds/:id/refresh', {}, async () => jobDataWithTrace({ episodeKey: 'feed1:guid1' })),
    );
    expect(jobData.correlation_id).toBe('corr-api-0001');
    expect(jobData.otel?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    // Worker side (a BullMQ job is plain JSON): continue the trace, log inside it.
    const before = (await metrics.queueProcessingSeconds.get()).values.find(
      (v) => v.metricName === 'podbrain_queue_processing_seconds_count' && v.labels.queue === 'transcribe',
    )?.value ?? 0;
    const job = { id: 'transcribe.feed1:guid1.abc', name: 'transcribe', queueName: 'transcribe', data: JSON.parse(JSON.stringify(jobData)) };
    await runJobWithTelemetry(job, { workerId: 'worker-gpu-1' }, async () => {
      await withSpan('whisper.cpp', { model: 'base.en' }, async () => log.info('transcribing'));
    });
    await expect(
      runJobWithTelemetry({ ...job, id: 'j2' }, {}, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');

    await handle.flush();
    const spans = exporter.getFinishedSpans();
    const api = spans.find((s) => s.name === 'POST /api/feeds/:id/refresh')!;
    const worker = spans.find((s) => s.name === 'transcribe process' && s.attributes['messaging.message.id'] === job.id)!;
    const inner = spans.find((s) => s.name === 'whisper.cpp')!;
    const failed = spans.find((s) => s.attributes['messaging.message.id'] === 'j2')!;
    expect(api && worker && inner && failed).toBeTruthy();
    const traceId = api.spanContext().traceId;
    expect(worker.spanContext().traceId).toBe(traceId);
    expect(inner.spanContext().traceId).toBe(traceId);
    expect(worker.parentSpanContext?.spanId).toBe(api.spanContext().spanId);
    for (const s of [api, worker, inner]) expect(s.attributes.correlation_id).toBe('corr-api-0001');
    expect(worker.attributes.episode_key).toBe('feed1:guid1');
    expect(failed.status.code).toBe(2); // ERROR
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'transcribing', correlation_id: 'corr-api-0001', episode_key: 'feed1:guid1', queue: 'transcribe', worker_id: 'worker-gpu-1' });

    const after = (await metrics.queueProcessingSeconds.get()).values.find(
      (v) => v.metricName === 'podbrain_queue_processing_seconds_count' && v.labels.queue === 'transcribe',
    )!.value;
    expect(after - before).toBe(2);
    await handle.shutdown();
  });

  it('exports spans over OTLP/HTTP to the endpoint named by OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    trace.disable();
    context.disable();
    propagation.disable();
    const bodies: string[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    const saved = { ...process.env };
    Object.assign(process.env, env); // the SDK reads the standard OTEL_* variables itself
    try {
      const handle = startTracing({ role: 'worker-io', env });
      expect(handle.enabled).toBe(true);
      await withLogContext({ correlation_id: 'corr-otlp-0001' }, () => withSpan('ingest process', {}, async () => undefined));
      await handle.shutdown(); // flushes the batch
    } finally {
      process.env = saved;
      await new Promise<void>((r) => receiver.close(() => r()));
    }
    const all = bodies.join('\n');
    expect(all).toContain('ingest process');
    expect(all).toContain('corr-otlp-0001');
    expect(all).toContain('podbrain-worker-io');
  });
});
