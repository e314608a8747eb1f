/**
 * A fake OpenAI-compatible server for tests (node:http on 127.0.0.1, random port).
 *
 *   const ai = await startFakeOpenAi({
 *     chat: (body, n) => ({ title: 'x', bullets: [] }),      // object → JSON content of a chat completion
 *     // or: (body, n) => n === 1 ? { status: 429, body: { error: { message: 'slow down' } } } : {...}
 *     // or: (body, n) => ({ content: 'raw text, not JSON' })  via raw()
 *   });
 *   process.env.OPENAI_BASE_URL = ai.url;                     // "http://127.0.0.1:PORT/v1"
 *   ai.requests   // every request: { method, path, body }
 *   await ai.close();
 *
 * Chat answers:
 *   - a plain object/array           → JSON.stringify'd as the assistant message content
 *   - raw(text)                      → that exact text as the content (non-JSON, empty, huge, ...)
 *   - { status, body, headers? }     → sent as-is (use for 429/500, malformed envelopes); mark with httpStatus()
 *   - a Promise of any of the above  → awaited (use delay() for slow answers)
 * Usage tokens: prompt = ceil(chars of all messages / 4), completion = ceil(content chars / 4).
 *
 * Embeddings: deterministic hash-based unit vectors of `embeddingDim` (default 384) per input
 * string, or `opts.embed(input) → number[]`. Honours `encoding_format: 'base64'` (little-endian
 * float32, what the openai SDK asks for by default) and `'float'`.
 *
 * Scripted failures: `failFirst: { status: 429|500, times: N, path?: 'chat'|'embeddings' }`
 * answers the first N matching requests with that status before normal behaviour;
 * `delayMs` delays every answer.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const RAW = Symbol('raw');
const HTTP = Symbol('http');

export interface RawAnswer {
  [RAW]: true;
  content: string;
  finishReason?: string;
}
export interface HttpAnswer {
  [HTTP]: true;
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}
export type ChatAnswer = RawAnswer | HttpAnswer | Record<string, unknown> | unknown[];

/** The exact text as the assistant content (may be non-JSON, empty or huge). */
export function raw(content: string, finishReason = 'stop'): RawAnswer {
  return { [RAW]: true, content, finishReason };
}
/** A raw HTTP answer (status + JSON or string body), e.g. httpStatus(429, {error:{message:'rate'}}). */
export function httpStatus(status: number, body: unknown = { error: { message: `status ${status}` } }, headers?: Record<string, string>): HttpAnswer {
  return { [HTTP]: true, status, body, headers };
}
export function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((r) => setTimeout(() => r(value), ms));
}

export interface ChatRequestBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  response_format?: { type: string; json_schema?: { name: string; schema: unknown; strict?: boolean } };
  [k: string]: unknown;
}

export interface FakeOpenAiOptions {
  /** n = 1-based count of chat requests so far (including this one). */
  chat?: (body: ChatRequestBody, n: number) => ChatAnswer | Promise<ChatAnswer>;
  embed?: (input: string) => number[];
  embeddingDim?: number;
  models?: string[];
  failFirst?: { status: number; times: number; path?: 'chat' | 'embeddings'; retryAfter?: string };
  delayMs?: number;
  /** When true, a chat request with response_format.type === 'json_schema' gets a 400 (old servers). */
  rejectJsonSchema?: boolean;
}

/** A parsed JSON request body (or the raw text when it was not JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary request fields
type JsonBody = any;

export interface FakeRequest {
  method: string;
  path: string;
  body: JsonBody;
}

export interface FakeOpenAi {
  /** Base URL including /v1, ready for OPENAI_BASE_URL. */
  url: string;
  port: number;
  requests: FakeRequest[];
  chatRequests(): ChatRequestBody[];
  close(): Promise<void>;
}

/** Deterministic unit vector from a string: sha256 stream → floats in [-1,1] → normalised. */
export function hashEmbedding(text: string, dim = 384): number[] {
  const out = new Array<number>(dim);
  let block = Buffer.alloc(0);
  let counter = 0;
  for (let i = 0; i < dim; i++) {
    if (block.length < 2) {
      block = createHash('sha256').update(`${counter++}\u0000${text}`).digest();
    }
    out[i] = block.readUInt16LE(0) / 32767.5 - 1;
    block = block.subarray(2);
  }
  const norm = Math.sqrt(out.reduce((s, v) => s + v * v, 0)) || 1;
  return out.map((v) => v / norm);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<JsonBody> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isHttp(a: unknown): a is HttpAnswer {
  return typeof a === 'object' && a !== null && (a as Partial<HttpAnswer>)[HTTP] === true;
}
function isRaw(a: unknown): a is RawAnswer {
  return typeof a === 'object' && a !== null && (a as Partial<RawAnswer>)[RAW] === true;
}

export async function startFakeOpenAi(opts: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let chatCount = 0;
  let failed = 0;
  const dim = opts.embeddingDim ?? 384;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    const body = await readBody(req);
    requests.push({ method: req.method ?? 'GET', path, body });
    if (opts.delayMs) await delay(opts.delayMs, null);

    const kind = path.endsWith('/chat/completions') ? 'chat' : path.endsWith('/embeddings') ? 'embeddings' : 'other';
    if (opts.failFirst && failed < opts.failFirst.times && kind !== 'other' && (!opts.failFirst.path || opts.failFirst.path === kind)) {
      failed++;
      const headers: Record<string, string> = opts.failFirst.retryAfter ? { 'retry-after': opts.failFirst.retryAfter } : {};
      send(res, opts.failFirst.status, { error: { message: `scripted failure ${failed}`, type: 'server_error' } }, headers);
      return;
    }

    if (req.method === 'GET' && path.endsWith('/models')) {
      send(res, 200, { object: 'list', data: (opts.models ?? ['fake-model']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })) });
      return;
    }

    if (req.method === 'POST' && kind === 'embeddings') {
      const inputs: string[] = Array.isArray(body?.input) ? body.input : [body?.input ?? ''];
      const base64 = body?.encoding_format === 'base64';
      let tokens = 0;
      const data = inputs.map((input, index) => {
        tokens += Math.ceil(String(input).length / 4);
        const vec = opts.embed ? opts.embed(String(input)) : hashEmbedding(String(input), dim);
        if (!base64) return { object: 'embedding', index, embedding: vec };
        const buf = Buffer.alloc(vec.length * 4);
        vec.forEach((v, i) => buf.writeFloatLE(v, i * 4));
        return { object: 'embedding', index, embedding: buf.toString('base64') };
      });
      send(res, 200, { object: 'list', data, model: body?.model ?? 'fake-embed', usage: { prompt_tokens: tokens, total_tokens: tokens } });
      return;
    }

    if (req.method === 'POST' && kind === 'chat') {
      chatCount++;
      if (opts.rejectJsonSchema && body?.response_format?.type === 'json_schema') {
        send(res, 400, { error: { message: "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", type: 'invalid_request_error' } });
        return;
      }
      const answer = await (opts.chat ? opts.chat(body as ChatRequestBody, chatCount) : { ok: true });
      if (isHttp(answer)) {
        send(res, answer.status, answer.body, answer.headers);
        return;
      }
      const content = isRaw(answer) ? answer.content : JSON.stringify(answer);
      const finish = isRaw(answer) ? (answer.finishReason ?? 'stop') : 'stop';
      const promptChars = ((body?.messages ?? []) as { content?: unknown }[]).reduce((s, m) => s + String(m?.content ?? '').length, 0);
      const prompt_tokens = Math.ceil(promptChars / 4);
      const completion_tokens = Math.ceil(content.length / 4);
      send(res, 200, {
        id: `chatcmpl-fake-${chatCount}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body?.model ?? 'fake-model',
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: finish, logprobs: null }],
        usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
      });
      return;
    }

    send(res, 404, { error: { message: `no route ${req.method} ${path}` } });
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(e) } });
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    chatRequests: () => requests.filter((r) => r.path.endsWith('/chat/completions')).map((r) => r.body as ChatRequestBody),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
