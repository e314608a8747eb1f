import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/config/config';
import { PodbrainError } from '../src/core/errors';
import { silentLogger } from '../src/core/logger';
import { OpenAiEmbeddings } from '../src/index/embeddings/openai';
import { LlmProvider } from '../src/llm/provider';
import { isRetryableStatus, retryAfterMs, retryDelayMs, withRetries, type RetryVerdict } from '../src/net/retry';
import { startFakeOpenAi, type FakeOpenAi } from './support/fake-openai';

/** An HTTP-ish failure, as the clients' SDK errors look: a status and response headers. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

const classify = (e: unknown): RetryVerdict & { status?: number } =>
  e instanceof HttpError ? { status: e.status, retryable: isRetryableStatus(e.status), retryAfterMs: retryAfterMs(e.headers) } : { retryable: true };

/** Fails with the given errors in turn, then answers 'ok'; records when each attempt ran (fake clock). */
function script(...errors: unknown[]) {
  const at: number[] = [];
  const attempt = async (n: number) => {
    at.push(Date.now());
    if (n <= errors.length) throw errors[n - 1];
    return 'ok';
  };
  return { attempt, at };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');

  it('reads delta-seconds, fractions included', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(retryAfterMs(new Headers({ 'retry-after': ' 0.25 ' }), now)).toBe(250);
    expect(retryAfterMs({ 'Retry-After': '3' }, now)).toBe(3000);
  });

  it('reads an HTTP date, a past one as 0', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': 'Sun, 06 Dec 2026 12:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Sun, 06 Dec 2026 11:59:00 GMT' }), now)).toBe(0);
  });

  it('prefers retry-after-ms, and ignores what it cannot read', () => {
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' }), now)).toBe(1500);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': 'soon', 'retry-after': '2' }), now)).toBe(2000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'later' }), now)).toBeNull();
    expect(retryAfterMs(new Headers({ 'retry-after': '-5' }), now)).toBeNull();
    expect(retryAfterMs(new Headers(), now)).toBeNull();
    expect(retryAfterMs(undefined, now)).toBeNull();
  });
});

describe('isRetryableStatus', () => {
  it('retries 408, 409, 429 and 5xx only', () => {
    for (const s of [408, 409, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 413, 422]) expect(isRetryableStatus(s)).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it('doubles per attempt, jittered to 50–100 %, capped', () => {
    const opts = { baseMs: 100, maxDelayMs: 1000 };
    expect(retryDelayMs(1, null, { ...opts, random: () => 0 })).toBe(50);
    expect(retryDelayMs(1, null, { ...opts, random: () => 1 })).toBe(100);
    expect(retryDelayMs(3, null, { ...opts, random: () => 1 })).toBe(400);
    expect(retryDelayMs(10, null, { ...opts, random: () => 1 })).toBe(1000);
    expect(retryDelayMs(10, null, { ...opts, random: () => 0 })).toBe(500);
  });

  it('waits at least what the server asked, up to the cap', () => {
    const opts = { baseMs: 100, maxDelayMs: 1000, random: () => 0 };
    expect(retryDelayMs(1, 700, opts)).toBe(700);
    expect(retryDelayMs(1, 10, opts)).toBe(50);
    expect(retryDelayMs(1, 3_600_000, opts)).toBe(1000);
  });
});

describe('withRetries', () => {
  const base = { retries: 3, baseMs: 10, maxDelayMs: 60_000, random: () => 0, classify };

  it('honours Retry-After in seconds', async () => {
    vi.useFakeTimers();
    const s = script(new HttpError(429, { 'retry-after': '5' }));
    const done = withRetries(s.attempt, base);
    await vi.advanceTimersByTimeAsync(4999);
    expect(s.at).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(done).resolves.toBe('ok');
    expect(s.at[1] - s.at[0]).toBe(5000);
  });

  it('honours Retry-After as an HTTP date', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-06T12:00:00Z') });
    const s = script(new HttpError(503, { 'retry-after': 'Sun, 06 Dec 2026 12:00:08 GMT' }));
    const done = withRetries(s.attempt, base);
    await vi.advanceTimersByTimeAsync(8000);
    await expect(done).resolves.toBe('ok');
    expect(s.at[1] - s.at[0]).toBe(8000);
  });

  it('caps the wait at maxDelayMs, for Retry-After and backoff alike', async () => {
    vi.useFakeTimers();
    const s = script(new HttpError(429, { 'retry-after': '3600' }), new HttpError(500));
    const delays: number[] = [];
    const done = withRetries(s.attempt, { ...base, baseMs: 5000, maxDelayMs: 2000, random: () => 1, onRetry: (f) => delays.push(f.delayMs) });
    await vi.advanceTimersByTimeAsync(4000);
    await expect(done).resolves.toBe('ok');
    expect(delays).toEqual([2000, 2000]);
    expect(s.at[2] - s.at[0]).toBe(4000);
  });

  it('backs off exponentially when the server names no wait', async () => {
    vi.useFakeTimers();
    const s = script(new HttpError(500), new HttpError(502), new Error('socket hang up'));
    const done = withRetries(s.attempt, { ...base, baseMs: 100, random: () => 1 });
    await vi.advanceTimersByTimeAsync(700);
    await expect(done).resolves.toBe('ok');
    expect(s.at.slice(1).map((t, i) => t - s.at[i])).toEqual([100, 200, 400]);
  });

  it('does not retry a 400, and gives up with the caller’s error', async () => {
    const s = script(new HttpError(400), new HttpError(400));
    const onRetry = vi.fn();
    const onError = vi.fn();
    const err = await withRetries(s.attempt, { ...base, onRetry, onError, giveUp: (f) => new Error(`gave up at ${f.attempt}: ${f.verdict.status}`) }).catch((e) => e);
    expect(err.message).toBe('gave up at 1: 400');
    expect(s.at).toHaveLength(1);
    expect(onRetry).not.toHaveBeenCalled();
    expect(onError).toHaveBeenCalledTimes(1);
  });

  it('stops after retries + 1 attempts', async () => {
    const s = script(...Array.from({ length: 9 }, () => new HttpError(503)));
    const onError = vi.fn();
    const err = await withRetries(s.attempt, { ...base, baseMs: 1, retries: 2, onError }).catch((e) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(s.at).toHaveLength(3);
    expect(onError).toHaveBeenCalledTimes(3);
  });

  it('throws what classify leaves alone as it is, uncounted', async () => {
    const bad = new PodbrainError('bad_answer', 'not a transport failure');
    const onError = vi.fn();
    await expect(withRetries(script(bad).attempt, { ...base, classify: (e) => (e instanceof PodbrainError ? null : classify(e)), onError })).rejects.toBe(bad);
    expect(onError).not.toHaveBeenCalled();
  });

  it('stops waiting as soon as the signal aborts, with its reason', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const s = script(new HttpError(429, { 'retry-after': '30' }));
    const done = withRetries(s.attempt, { ...base, signal: ac.signal });
    const settled = expect(done).rejects.toThrow('cancelled');
    await vi.advanceTimersByTimeAsync(1000);
    ac.abort(new Error('cancelled'));
    await settled;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.at).toHaveLength(1);
  });

  it('does not retry a failure caused by the abort, nor start after it', async () => {
    const ac = new AbortController();
    let calls = 0;
    const attempt = async () => {
      calls++;
      ac.abort(new Error('stop'));
      throw new Error('request aborted');
    };
    await expect(withRetries(attempt, { ...base, signal: ac.signal })).rejects.toThrow('stop');
    await expect(withRetries(attempt, { ...base, signal: ac.signal })).rejects.toThrow('stop');
    expect(calls).toBe(1);
  });
});

describe('the OpenAI clients use it', () => {
  let ai: FakeOpenAi | null = null;
  afterEach(async () => {
    await ai?.close();
    ai = null;
  });

  it('embeddings wait for Retry-After and retry a 409', async () => {
    ai = await startFakeOpenAi({ failFirst: { status: 429, times: 1, path: 'embeddings', retryAfter: '0.3' } });
    const provider = (url: string) =>
      new OpenAiEmbeddings({ baseUrl: url, apiKey: '', model: 'fake-embed', dim: 384, batchSize: 4, retries: 3, retryBaseMs: 1, timeoutMs: 5000 });
    const t0 = Date.now();
    await provider(ai.url).embed(['one']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(ai.requests).toHaveLength(2);

    await ai.close();
    ai = await startFakeOpenAi({ failFirst: { status: 409, times: 1, path: 'embeddings' } });
    await provider(ai.url).embed(['one']);
    expect(ai.requests).toHaveLength(2);
  });

  it('the LLM waits for a Retry-After HTTP date, and does not retry a 400', async () => {
    ai = await startFakeOpenAi({ failFirst: { status: 503, times: 1, path: 'chat', retryAfter: new Date(Date.now() + 2000).toUTCString() } });
    const provider = (url: string) =>
      new LlmProvider(loadConfig({ env: { OPENAI_BASE_URL: url, LLM_MODEL: 'fake-model', LLM_RETRY_BASE_MS: '0', LLM_MAX_RETRIES: '3' } }), {
        logger: silentLogger,
        random: () => 0,
      });
    const request = { task: 'summary', schemaName: 'summary', schema: z.object({ ok: z.boolean() }), system: 's', user: 'u' };
    const t0 = Date.now();
    const res = await provider(ai.url).completeJson(request);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // the date has whole seconds: 1–2 s from now
    expect(res.ok).toBe(true);
    expect(ai.requests).toHaveLength(2);

    await ai.close();
    ai = await startFakeOpenAi({ failFirst: { status: 400, times: 5, path: 'chat' } });
    await expect(provider(ai.url).completeJson(request)).rejects.toMatchObject({ code: 'llm_provider_failed', details: { status: 400, attempts: 1 } });
    expect(ai.requests).toHaveLength(1);
  });
});
