import { PodbrainError } from '../core/errors';

/** Raised when an HTTP answer is larger than the cap; the body is never held in full. */
export class AnswerTooLargeError extends PodbrainError {
  constructor(readonly limitBytes: number) {
    super('llm_answer_too_large', `the LLM server's answer is larger than ${limitBytes} bytes (LLM_MAX_ANSWER_BYTES); it was cut off and discarded`, {
      limit_bytes: limitBytes,
    });
    this.name = 'AnswerTooLargeError';
  }
}

/**
 * A fetch for the openai SDK that reads at most `maxBytes` of a response body.
 * The SDK itself would buffer any size, so a runaway server could exhaust memory.
 */
export function cappedFetch(maxBytes: number, inner: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new AnswerTooLargeError(maxBytes);
    }
    if (!res.body) return res;
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new AnswerTooLargeError(maxBytes);
      }
      chunks.push(value);
    }
    const headers = new Headers(res.headers);
    headers.delete('content-encoding'); // already decoded by fetch
    headers.set('content-length', String(size));
    return new Response(Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers });
  };
}
