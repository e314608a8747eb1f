import { readCapped } from '../net/read-capped';
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
    const { bytes, size, overflow } = await readCapped(res.body, maxBytes);
    if (overflow) throw new AnswerTooLargeError(maxBytes);
    const headers = new Headers(res.headers);
    headers.delete('content-encoding'); // already decoded by fetch
    headers.set('content-length', String(size));
    return new Response(bytes, { status: res.status, statusText: res.statusText, headers });
  };
}
