/**
 * Reads a response body up to `maxBytes` without ever holding more: the chunk that would cross the
 * cap is dropped and the stream cancelled. `overflow` says whether that happened; the caller decides
 * whether a cut answer is an error (the LLM client) or fine to show truncated (diagnose output).
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<{ bytes: Buffer; size: number; overflow: boolean }> {
  if (!body) return { bytes: Buffer.alloc(0), size: 0, overflow: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return { bytes: Buffer.concat(chunks), size, overflow: true };
    }
    size += value.byteLength;
    chunks.push(value);
  }
  return { bytes: Buffer.concat(chunks), size, overflow: false };
}
