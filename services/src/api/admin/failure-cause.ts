/**
 * The cause of a failure, for grouping: the error message with what differs from one episode
 * to the next taken out, so "cannot resolve the host of https://cdn.example.com/ep1.mp3" and
 * "… /ep2.mp3" are one cause ("cannot resolve the host of https://cdn.example.com/…") that
 * the Admin page shows once, with a "retry all" for the group.
 *  - URLs keep their origin (the host is usually the cause), not their path or query;
 *  - file paths keep their last part (artifact directories are per episode);
 *  - long quoted text (a body preview), long hex ids and numbers of 4+ digits become "…"/"N";
 *  - only the first line counts (no stacks), whitespace is collapsed, 240 characters at most.
 */
export function failureCause(message: string | null | undefined): string {
  if (!message) return 'unknown (no error message)';
  const firstLine = message.split('\n').find((l) => l.trim()) ?? message;
  const kept: string[] = [];
  const keep = (s: string) => `\u0001${kept.push(s) - 1}\u0001`;
  let s = firstLine
    .trim()
    .replace(/^(Error|PodbrainError|TypeError):\s*/, '')
    .replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (u) => keep(urlCause(u)))
    .replace(/"[^"]{25,}"/g, '"…"')
    .replace(/(^|[\s(=])(?:\/[^\s/:;,()]+)+\/([^\s/:;,()]+)/g, (_m, lead: string, base: string) => `${lead}…/${base}`)
    .replace(/\b[0-9a-f]{12,}\b/gi, '…')
    .replace(/\b\d{4,}\b/g, 'N')
    .replace(/\s+/g, ' ');
  s = s.replace(/\u0001(\d+)\u0001/g, (_m, i: string) => kept[Number(i)]);
  return s.length > 240 ? `${s.slice(0, 239)}…` : s;
}

function urlCause(raw: string): string {
  const trimmed = raw.replace(/[.,;:)\]]+$/, '');
  const tail = raw.slice(trimmed.length);
  try {
    const u = new URL(trimmed);
    const more = (u.pathname && u.pathname !== '/') || u.search ? '/…' : '';
    return `${u.origin}${more}${tail}`;
  } catch {
    return '<url>';
  }
}
