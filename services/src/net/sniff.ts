/** What the first bytes of a download say it is (magic numbers), and whether it is text. */

export interface SniffedAudio {
  format: string;
  ext: string;
}

/** Bytes needed for a verdict. */
export const SNIFF_BYTES = 16;

export function sniffAudio(head: Buffer): SniffedAudio | null {
  const ascii = (start: number, s: string) => head.subarray(start, start + s.length).toString('latin1') === s;
  if (ascii(0, 'ID3')) return { format: 'mp3 (ID3)', ext: 'mp3' };
  if (ascii(4, 'ftyp')) {
    const brand = head.subarray(8, 12).toString('latin1');
    if (/^(M4A |M4B |M4P )/.test(brand)) return { format: `m4a (${brand.trim()})`, ext: 'm4a' };
    if (/^(qt  )/.test(brand)) return { format: 'quicktime', ext: 'mov' };
    return { format: `mp4 (${brand.trim()})`, ext: 'mp4' };
  }
  if (ascii(0, 'OggS')) return { format: 'ogg', ext: 'ogg' };
  if (ascii(0, 'RIFF') && ascii(8, 'WAVE')) return { format: 'wav', ext: 'wav' };
  if (ascii(0, 'fLaC')) return { format: 'flac', ext: 'flac' };
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return { format: 'webm/matroska (EBML)', ext: 'webm' };
  if (ascii(0, 'FORM') && (ascii(8, 'AIFF') || ascii(8, 'AIFC'))) return { format: 'aiff', ext: 'aiff' };
  if (head.length >= 2 && head[0] === 0xff) {
    // ADTS AAC: 12-bit sync, layer bits 00. MPEG audio frame: 11-bit sync, layer != 00.
    if ((head[1] & 0xf6) === 0xf0) return { format: 'aac (ADTS)', ext: 'aac' };
    if ((head[1] & 0xe0) === 0xe0 && (head[1] & 0x06) !== 0) return { format: 'mpeg audio', ext: 'mp3' };
  }
  return null;
}

/** True when the bytes look like text (HTML error pages, XML, JSON, plain text): printable, no NULs. */
export function looksLikeText(head: Buffer): boolean {
  if (!head.length) return false;
  let printable = 0;
  for (const b of head) {
    if (b === 0) return false;
    if (b === 9 || b === 10 || b === 13 || (b >= 0x20 && b < 0x7f) || b >= 0x80) printable++;
  }
  const start = head.subarray(0, 64).toString('utf8').trimStart().toLowerCase();
  if (/^(<\?xml|<!doctype|<html|<head|<body|\{|\[|<rss|<feed)/.test(start) || start.startsWith('\ufeff<')) return true;
  return printable / head.length > 0.95 && head.subarray(0, 32).every((b) => b < 0x80);
}

const TYPE_EXT: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/flac': 'flac',
  'audio/webm': 'webm',
  'video/mp4': 'mp4',
  'video/webm': 'webm',
  'video/quicktime': 'mov',
};

/** Extension from Content-Type, then from the URL path, else `bin`. */
export function extensionFor(contentType: string | null, url: string): string {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  if (type && TYPE_EXT[type]) return TYPE_EXT[type];
  try {
    const m = new URL(url).pathname.match(/\.([a-z0-9]{2,5})$/i);
    if (m) return m[1].toLowerCase();
  } catch {
    /* not a URL */
  }
  return 'bin';
}

/** Content types that can never be audio. audio/*, video/*, octet-stream and unknown ones go on to the byte check. */
export function isTextContentType(contentType: string | null): boolean {
  const type = contentType?.split(';')[0].trim().toLowerCase() ?? '';
  return type.startsWith('text/') || /(html|xml|json|javascript)/.test(type);
}
