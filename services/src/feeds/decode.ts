import { PodbrainError } from '../core/errors';

/** Bytes → text, honouring a BOM or the XML declaration's encoding (UTF-8 when neither says otherwise). */
export function decodeFeedBytes(bytes: Buffer): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString('utf8');
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  const head = bytes.subarray(0, 200).toString('latin1');
  const declared = /^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1]?.toLowerCase();
  if (!declared || declared === 'utf-8' || declared === 'utf8') return bytes.toString('utf8');
  try {
    return new TextDecoder(declared).decode(bytes);
  } catch {
    throw new PodbrainError('feed_parse', `feed declares an unsupported character encoding "${declared}"`);
  }
}
