import { isIP } from 'node:net';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { Agent, buildConnector } from 'undici';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { allowHint, policyRefusal, type AddressPolicy } from './address-policy';
import { createGuardedLookup, type Resolver } from './guarded-lookup';

/**
 * The one HTTP client for everything fetched from the outside (feeds, enclosures,
 * publisher transcripts): http/https only, bounded redirects (each hop re-checked),
 * internal addresses refused after DNS and pinned (see guarded-lookup.ts), timeouts,
 * gzip/deflate/br decoding and a byte cap on the decoded body.
 */

export interface HttpClientOptions {
  allowPrivateNetwork: boolean;
  /** Link-local addresses (cloud metadata) are refused unless this is set, whatever allowPrivateNetwork says. */
  allowLinkLocalNetwork?: boolean;
  /** Connect, response-headers and body-idle timeout. */
  timeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  resolve?: Resolver;
  /** Tests only, see GuardedLookupOptions.dial. */
  dial?: (address: string) => string;
}

export interface GetOptions {
  headers?: Record<string, string>;
  /** Decoded bytes allowed; more aborts the transfer with `http_too_large`. */
  maxBytes: number;
  /** Wall-clock limit for the whole exchange (redirects and body included). */
  overallTimeoutMs?: number;
  signal?: AbortSignal;
  /** Ask for and decode gzip/deflate/br (default true). Off for ranged downloads. */
  decompress?: boolean;
  /** What is fetched, for error messages ("feed", "enclosure"). */
  what?: string;
}

export interface RedirectHop {
  status: number;
  from: string;
  to: string;
}

export interface HttpResponse {
  /** Final URL after redirects. */
  url: string;
  status: number;
  headers: Record<string, string>;
  redirects: RedirectHop[];
  /** Content-Length as announced (encoded bytes), or null. */
  contentLength: number | null;
  /** The decoded body, capped at maxBytes. Consume it or call `dump()`. */
  body: Readable;
  buffer(): Promise<Buffer>;
  dump(): Promise<void>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export function httpClientOptionsFrom(config: Config, extra: Partial<HttpClientOptions> = {}): HttpClientOptions {
  return {
    allowPrivateNetwork: config.net.allowPrivateNetwork,
    allowLinkLocalNetwork: config.net.allowLinkLocalNetwork,
    timeoutMs: config.net.timeoutMs,
    maxRedirects: config.net.maxRedirects,
    userAgent: config.net.userAgent,
    ...extra,
  };
}

const shared = new WeakMap<Config, HttpClient>();

/** One client (and connection pool) per config object; idle sockets never keep the process alive. */
export function httpClientFor(config: Config): HttpClient {
  let c = shared.get(config);
  if (!c) shared.set(config, (c = new HttpClient(httpClientOptionsFrom(config))));
  return c;
}

function checkUrl(raw: string, opts: AddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PodbrainError('url_invalid', `not a valid URL: ${JSON.stringify(raw)}`, { url: raw, retryable: false });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PodbrainError('url_scheme_unsupported', `refusing ${raw}: only http and https URLs are fetched (got ${url.protocol.slice(0, -1)})`, {
      url: raw,
      retryable: false,
    });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const refusal = policyRefusal(host, opts);
    if (refusal) {
      throw new PodbrainError('url_refused', `refusing ${raw}: ${host} is ${refusal.reason}; ${allowHint(refusal)}`, {
        url: raw,
        address: host,
        reason: refusal.reason,
        retryable: false,
      });
    }
  }
  return url;
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function findPodbrainError(e: unknown): PodbrainError | null {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (cur instanceof PodbrainError) return cur;
  }
  return null;
}

function errCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Turns transport failures into PodbrainErrors with `details.retryable`. */
function toNetworkError(e: unknown, url: string, what: string, timeoutMs?: number): unknown {
  const own = findPodbrainError(e);
  if (own) return own;
  const name = (e as { name?: string })?.name;
  const code = errCode(e);
  if (name === 'TimeoutError' || (code && TIMEOUT_CODES.has(code))) {
    return new PodbrainError('http_timeout', `timed out fetching ${what} ${url}${timeoutMs ? ` (limit ${timeoutMs} ms)` : ''}`, { url, code, retryable: true }, { cause: e });
  }
  if (name === 'AbortError') return e;
  if (code === 'ENOTFOUND') return new PodbrainError('http_network', `cannot resolve the host of ${url}`, { url, code, retryable: false }, { cause: e });
  return new PodbrainError(
    'http_network',
    `network error fetching ${what} ${url}: ${(e as Error)?.message ?? String(e)}${code ? ` (${code})` : ''}`,
    { url, code, retryable: code ? RETRYABLE_CODES.has(code) : true },
    { cause: e },
  );
}

class ByteCap extends Transform {
  seen = 0;
  constructor(
    private readonly max: number,
    private readonly describe: () => string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) cb(tooLarge(this.describe(), this.max, `more than ${this.max} bytes received`));
    else cb(null, chunk);
  }
}

export function tooLarge(subject: string, max: number, why: string): PodbrainError {
  return new PodbrainError('http_too_large', `${subject} is larger than the limit of ${max} bytes (${why}); raise the limit if this is expected`, {
    limit: max,
    retryable: false,
  });
}

function decoders(encoding: string | undefined): Transform[] {
  if (!encoding) return [];
  const steps = encoding
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s && s !== 'identity')
    .reverse();
  return steps.map((enc) => {
    if (enc === 'gzip' || enc === 'x-gzip') return zlib.createGunzip();
    if (enc === 'deflate') return zlib.createInflate();
    if (enc === 'br') return zlib.createBrotliDecompress();
    throw new PodbrainError('http_encoding', `unsupported Content-Encoding ${JSON.stringify(enc)}`, { retryable: false });
  });
}

export class HttpClient {
  private readonly agent: Agent;

  constructor(readonly options: HttpClientOptions) {
    this.agent = new Agent({
      connect: buildConnector({
        timeout: options.timeoutMs,
        lookup: createGuardedLookup({
          allowPrivateNetwork: options.allowPrivateNetwork,
          allowLinkLocalNetwork: options.allowLinkLocalNetwork,
          resolve: options.resolve,
          dial: options.dial,
        }),
      }),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 32,
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** GET with redirects followed; any final status is returned (the caller decides what it means). */
  async get(rawUrl: string, opts: GetOptions): Promise<HttpResponse> {
    const what = opts.what ?? 'resource';
    const decompress = opts.decompress ?? true;
    const signals = [opts.signal, opts.overallTimeoutMs ? AbortSignal.timeout(opts.overallTimeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const headers: Record<string, string> = {
      'user-agent': this.options.userAgent,
      'accept-encoding': decompress ? 'gzip, deflate, br' : 'identity',
      ...opts.headers,
    };
    const redirects: RedirectHop[] = [];
    const visited = new Set<string>();
    let current = rawUrl;

    for (;;) {
      const url = checkUrl(current, this.options);
      visited.add(url.href);
      let res;
      try {
        res = await this.agent.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers, signal });
      } catch (e) {
        throw toNetworkError(e, url.href, what, opts.overallTimeoutMs ?? this.options.timeoutMs);
      }
      const resHeaders = flatHeaders(res.headers);
      const location = resHeaders.location;
      if (REDIRECTS.has(res.statusCode) && location) {
        await res.body.dump().catch(() => undefined);
        let next: string;
        try {
          next = new URL(location, url).href;
        } catch {
          throw new PodbrainError('http_bad_redirect', `${url.href} redirects to an invalid location ${JSON.stringify(location)}`, { url: url.href, retryable: false });
        }
        redirects.push({ status: res.statusCode, from: url.href, to: next });
        if (visited.has(new URL(next).href)) {
          const chain = [...redirects.map((r) => r.from), next].join(' → ');
          throw new PodbrainError('http_redirect_loop', `redirect loop fetching ${what}: ${chain}`, { url: rawUrl, redirects, retryable: false });
        }
        if (redirects.length > this.options.maxRedirects) {
          throw new PodbrainError(
            'http_too_many_redirects',
            `more than ${this.options.maxRedirects} redirects fetching ${what} ${rawUrl} (last: ${next}); HTTP_MAX_REDIRECTS sets the limit`,
            { url: rawUrl, redirects, retryable: false },
          );
        }
        current = next;
        continue;
      }

      const finalUrl = url.href;
      const cl = resHeaders['content-length'];
      const contentLength = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : null;
      const subject = `the ${what} at ${finalUrl}`;
      if (contentLength !== null && contentLength > opts.maxBytes && res.statusCode < 300) {
        discardBody(res.body);
        throw tooLarge(subject, opts.maxBytes, `Content-Length announces ${contentLength} bytes`);
      }
      let steps: Transform[];
      try {
        steps = decompress ? decoders(resHeaders['content-encoding']) : [];
      } catch (e) {
        discardBody(res.body);
        throw e;
      }
      const cap = new ByteCap(opts.maxBytes, () => subject);
      const timeoutMs = opts.overallTimeoutMs ?? this.options.timeoutMs;
      const body = pipeline([res.body, ...steps, cap], () => undefined) as unknown as Readable;
      // Errors surface on `body`; translate them so consumers see PodbrainErrors.
      const translated = new Transform({
        transform: (chunk, _e, cb) => cb(null, chunk),
      });
      body.on('error', (e) => translated.destroy(toNetworkError(e, finalUrl, what, timeoutMs) as Error));
      // A transfer that fails while its reader is between two reads (awaiting a disk write, a
      // reset) must fail that reader, not the process: without a listener an 'error' event
      // throws. The error stays on the stream; reading it (for await, buffer()) still rejects.
      translated.on('error', () => undefined);
      body.pipe(translated);
      translated.on('close', () => {
        if (!body.destroyed && !body.readableEnded) body.destroy();
      });
      return {
        url: finalUrl,
        status: res.statusCode,
        headers: resHeaders,
        redirects,
        contentLength,
        body: translated,
        buffer: async () => {
          const chunks: Buffer[] = [];
          for await (const c of translated) chunks.push(c as Buffer);
          return Buffer.concat(chunks);
        },
        dump: async () => {
          translated.destroy();
          await res.body.dump().catch(() => undefined);
        },
      };
    }
  }

  /**
   * POST once: redirects are not followed (a 3xx is returned like any status — re-sending a
   * body to wherever a server points is not something a notification should do).
   */
  async post(rawUrl: string, opts: PostOptions): Promise<PostResponse> {
    const what = opts.what ?? 'resource';
    const url = checkUrl(rawUrl, this.options);
    const timeoutMs = opts.overallTimeoutMs ?? this.options.timeoutMs;
    const signals = [opts.signal, opts.overallTimeoutMs ? AbortSignal.timeout(opts.overallTimeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    try {
      const res = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { 'user-agent': this.options.userAgent, ...opts.headers },
        body: opts.body,
        signal,
      });
      const chunks: Buffer[] = [];
      let kept = 0;
      for await (const c of res.body) {
        const chunk = c as Buffer;
        if (kept < opts.maxBytes) chunks.push(chunk.subarray(0, opts.maxBytes - kept));
        kept += chunk.length;
      }
      return { url: url.href, status: res.statusCode, headers: flatHeaders(res.headers), body: Buffer.concat(chunks) };
    } catch (e) {
      throw toNetworkError(e, url.href, what, timeoutMs);
    }
  }
}

export interface PostOptions {
  headers?: Record<string, string>;
  body: string | Buffer;
  /** Bytes of the answer kept; the rest is discarded (the answer of a POST is only for error messages). */
  maxBytes: number;
  overallTimeoutMs?: number;
  signal?: AbortSignal;
  what?: string;
}

export interface PostResponse {
  url: string;
  status: number;
  headers: Record<string, string>;
  /** At most maxBytes of the answer. */
  body: Buffer;
}

export function statusError(res: Pick<HttpResponse, 'status' | 'url'>, what: string): PodbrainError {
  const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
  return new PodbrainError('http_status', `the ${what} at ${res.url} returned HTTP ${res.status}`, { url: res.url, status: res.status, retryable });
}

/** undici's body emits an AbortError when destroyed; nobody is reading it, so swallow that. */
function discardBody(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}
