import OpenAI, { APIConnectionTimeoutError, APIError } from 'openai';
import { z } from 'zod';
import type { Config } from '../config/config';
import { PodbrainError, errorMessage } from '../core/errors';
import { createLogger, type Logger } from '../core/logger';
import { isRetryableStatus, retryAfterMs, withRetries } from '../net/retry';
import { metrics } from '../telemetry/metrics';
import { AnswerTooLargeError, cappedFetch } from './capped-fetch';

/**
 * Structured-output chat calls against any OpenAI-compatible server (OpenAI, Ollama,
 * llama.cpp server, vLLM) via the openai SDK and OPENAI_BASE_URL.
 *
 * - Output is requested with `response_format: json_schema` (strict) and validated with zod;
 *   a server that rejects json_schema is asked again with `json_object` (remembered).
 * - Invalid output (not JSON, wrong shape, empty, larger than LLM_MAX_ANSWER_BYTES) gets one
 *   repair attempt that sends the problem back; after that the caller gets `ok: false` and
 *   falls back to the extractive result (`degraded`).
 * - 408 / 409 / 429 / 5xx / timeouts / network errors are retried (net/retry.ts: exponential
 *   backoff with jitter, Retry-After honoured; LLM_MAX_RETRIES); every retry, error and token
 *   is counted in the provider metrics.
 */

const LLM_PROVIDER = 'openai';
const MAX_BACKOFF_MS = 30_000;
/** How much of a bad answer is echoed back in the repair request. */
const REPAIR_ECHO_CHARS = 4000;

export interface JsonRequest<T> {
  /** Metrics label and log field: summary, gi, kg, summary-reduce … */
  task: string;
  schemaName: string;
  schema: z.ZodType<T>;
  system: string;
  user: string;
}

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  calls: number;
}

export type JsonResult<T> =
  | { ok: true; value: T; repaired: boolean; usage: LlmUsage }
  | { ok: false; problem: string; usage: LlmUsage };

type ErrorType = 'rate_limited' | 'http_5xx' | 'http_4xx' | 'timeout' | 'network' | 'invalid_output';

interface Classified {
  type: ErrorType;
  retryable: boolean;
  status?: number;
  message: string;
  retryAfterMs?: number | null;
}

function findCause<E>(e: unknown, ctor: abstract new (...a: never[]) => E): E | null {
  for (let cur: unknown = e, i = 0; cur && i < 6; cur = (cur as { cause?: unknown }).cause, i++) {
    if (cur instanceof ctor) return cur;
  }
  return null;
}

function classify(e: unknown): Classified {
  if (e instanceof APIConnectionTimeoutError) return { type: 'timeout', retryable: true, message: 'the LLM server did not answer in time (LLM_TIMEOUT_MS)' };
  if (e instanceof APIError && typeof e.status === 'number') {
    const status = e.status;
    const wait = retryAfterMs(e.headers);
    if (status === 429) return { type: 'rate_limited', retryable: true, status, message: `rate limited (429): ${e.message}`, retryAfterMs: wait };
    if (status >= 500) return { type: 'http_5xx', retryable: true, status, message: `server error ${status}: ${e.message}`, retryAfterMs: wait };
    return { type: 'http_4xx', retryable: isRetryableStatus(status), status, message: `request refused (${status}): ${e.message}`, retryAfterMs: wait };
  }
  return { type: 'network', retryable: true, message: `cannot reach the LLM server: ${errorMessage(e)}` };
}

/** Pulls one JSON value out of a model answer (tolerates ```json fences and leading prose). */
export function extractJson(content: string): unknown {
  const text = content.trim();
  if (!text) throw new Error('the answer is empty');
  try {
    return JSON.parse(text);
  } catch {
    const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(text);
    if (fenced) return JSON.parse(fenced[1]);
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start >= 0 && end > start) return JSON.parse(text.slice(start, end + 1));
    throw new Error(`the answer is not JSON (starts with ${JSON.stringify(text.slice(0, 60))})`);
  }
}

function describeZodError(err: z.ZodError): string {
  return err.issues
    .slice(0, 8)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Size limits are checked by zod here; servers get none (OpenAI strict mode refuses some, llama.cpp grammars blow up on maxItems). */
const LOCAL_ONLY_KEYWORDS = new Set(['minLength', 'maxLength', 'minItems', 'maxItems', '$schema']);

function stripKeywords(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripKeywords);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).filter(([k]) => !LOCAL_ONLY_KEYWORDS.has(k)).map(([k, v]) => [k, stripKeywords(v)]));
}

/** The JSON schema sent as response_format (and shown in the prompt). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return stripKeywords(z.toJSONSchema(schema, { target: 'draft-7' })) as Record<string, unknown>;
}

export interface LlmProviderDeps {
  logger?: Logger;
  random?: () => number;
  fetch?: typeof fetch;
}

export class LlmProvider {
  private client: OpenAI;
  private readonly log: Logger;
  private readonly random: () => number;
  /** Set once a server refused json_schema; later calls go straight to json_object. */
  private jsonObjectOnly = false;
  readonly baseUrl: string;

  constructor(
    private readonly config: Config,
    deps: LlmProviderDeps = {},
  ) {
    this.log = deps.logger ?? createLogger({ service: 'llm', level: config.logLevel });
    this.random = deps.random ?? Math.random;
    this.baseUrl = (config.openai.baseUrl || 'https://api.openai.com/v1').replace(/\/+$/, '');
    this.client = new OpenAI({
      apiKey: config.openai.apiKey || 'not-needed', // local servers need none, the SDK insists on one
      baseURL: this.baseUrl,
      maxRetries: 0, // retried here so every retry is counted
      timeout: config.llm.timeoutMs,
      fetch: cappedFetch(config.llm.maxAnswerBytes, deps.fetch),
    });
  }

  get model(): string {
    return this.config.llm.model;
  }

  async completeJson<T>(req: JsonRequest<T>, signal?: AbortSignal): Promise<JsonResult<T>> {
    const usage: LlmUsage = { promptTokens: 0, completionTokens: 0, calls: 0 };
    const jsonSchema = jsonSchemaOf(req.schema);
    const system = `${req.system}\n\nAnswer with exactly one JSON object that matches this JSON schema, and nothing else:\n${JSON.stringify(jsonSchema)}`;
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: system },
      { role: 'user', content: req.user },
    ];

    let problem = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      let content: string;
      try {
        content = await this.chat(req, jsonSchema, messages, usage, signal);
      } catch (e) {
        if (!(e instanceof AnswerTooLargeError)) throw e;
        content = '';
        problem = e.message;
      }
      if (!problem) {
        try {
          const parsed = req.schema.safeParse(extractJson(content));
          if (parsed.success) return { ok: true, value: parsed.data, repaired: attempt > 1, usage };
          problem = `the JSON does not match the schema: ${describeZodError(parsed.error)}`;
        } catch (e) {
          problem = errorMessage(e);
        }
      }
      metrics.providerErrorsTotal.inc({ provider: LLM_PROVIDER, error_type: 'invalid_output' });
      this.log.warn({ provider: LLM_PROVIDER, task: req.task, attempt, problem }, attempt === 1 ? 'invalid LLM output, asking for a repair' : 'invalid LLM output after repair');
      if (attempt === 1) {
        messages.push(
          { role: 'assistant', content: content.slice(0, REPAIR_ECHO_CHARS) || '(empty)' },
          {
            role: 'user',
            content: `Your previous answer was not usable: ${problem}. Answer again with only one JSON object that matches the schema, keep it short, no prose.`,
          },
        );
        problem = '';
      }
    }
    return { ok: false, problem, usage };
  }

  /** One chat call with transport retries; returns the assistant content. */
  private async chat(
    req: JsonRequest<unknown>,
    jsonSchema: Record<string, unknown>,
    messages: OpenAI.Chat.ChatCompletionMessageParam[],
    usage: LlmUsage,
    signal?: AbortSignal,
  ): Promise<string> {
    const call = async (): Promise<string> => {
      const responseFormat: OpenAI.Chat.ChatCompletionCreateParams['response_format'] = this.jsonObjectOnly
        ? { type: 'json_object' }
        : { type: 'json_schema', json_schema: { name: req.schemaName, schema: jsonSchema, strict: true } };
      const res = await this.client.chat.completions.create(
        {
          model: this.model,
          messages,
          temperature: 0,
          max_tokens: this.config.llm.maxOutputTokens,
          response_format: responseFormat,
        },
        { signal },
      );
      usage.calls++;
      const pt = res.usage?.prompt_tokens ?? 0;
      const ct = res.usage?.completion_tokens ?? 0;
      usage.promptTokens += pt;
      usage.completionTokens += ct;
      if (pt + ct > 0) metrics.providerTokensTotal.inc({ provider: LLM_PROVIDER, task: req.task }, pt + ct);
      const choice = res.choices?.[0];
      if (choice?.finish_reason === 'length') {
        // Cut at max_tokens: the text still goes to validation and usually fails it.
        this.log.warn({ provider: LLM_PROVIDER, task: req.task, max_tokens: this.config.llm.maxOutputTokens }, 'LLM answer hit the output token limit');
      }
      return choice?.message?.content ?? '';
    };
    // An answer over LLM_MAX_ANSWER_BYTES goes back to completeJson as it is (a repair, not a retry).
    const once = () =>
      call().catch((e: unknown) => {
        throw findCause(e, AnswerTooLargeError) ?? e;
      });
    return withRetries(
      async () => {
        try {
          return await once();
        } catch (e) {
          // A server that refuses json_schema is asked again with json_object at once (remembered; not a retry).
          if (!this.jsonObjectOnly && !signal?.aborted && !(e instanceof AnswerTooLargeError)) {
            const err = classify(e);
            if (err.status === 400 && /response_format|json_schema/i.test(err.message)) {
              this.jsonObjectOnly = true;
              this.log.info({ provider: LLM_PROVIDER, base_url: this.baseUrl }, 'server refused json_schema output; using json_object');
              return once();
            }
          }
          throw e;
        }
      },
      {
        retries: this.config.llm.maxRetries,
        baseMs: this.config.llm.retryBaseMs,
        maxDelayMs: MAX_BACKOFF_MS,
        signal,
        random: this.random,
        classify: (e) => (e instanceof AnswerTooLargeError ? null : classify(e)),
        onError: ({ verdict: err }) => {
          metrics.providerErrorsTotal.inc({ provider: LLM_PROVIDER, error_type: err.type });
          if (err.type === 'rate_limited') metrics.providerRateLimitedTotal.inc({ provider: LLM_PROVIDER });
        },
        onRetry: ({ verdict: err, attempt, delayMs }) => {
          metrics.providerRetriesTotal.inc({ provider: LLM_PROVIDER });
          this.log.warn(
            { provider: LLM_PROVIDER, task: req.task, error_type: err.type, status: err.status, attempt, delay_ms: Math.round(delayMs) },
            `LLM call failed, retrying: ${err.message}`,
          );
        },
        giveUp: ({ error, verdict: err, attempt }) =>
          new PodbrainError(
            'llm_provider_failed',
            `LLM call (${req.task}) to ${this.baseUrl} failed: ${err.message}${err.retryable ? ` (gave up after ${attempt} attempts)` : ''}`,
            { provider: LLM_PROVIDER, task: req.task, error_type: err.type, status: err.status, attempts: attempt, retryable: err.retryable },
            { cause: error },
          ),
      },
    );
  }
}

/** Whether enrich should call an LLM: a model is named and a server (or the OpenAI key) is set. */
export function llmConfigured(config: Config): boolean {
  return config.llm.model !== '' && (config.openai.baseUrl !== '' || config.openai.apiKey !== '');
}
