export function formatTime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * The `t` of a moment link (`/episodes/<key>?t=<seconds>`): seconds, to a tenth where the moment
 * is not on a whole second (a quote at 1203.5 s must not open on the line before it).
 */
export function momentParam(ms: number): string {
  return String(Math.round(Math.max(0, ms) / 100) / 10);
}

/** The longest moment a link may name: the api's longest playback position (7 days). */
const MAX_MOMENT_S = 7 * 86_400;

/**
 * `?t=` of a moment link as milliseconds: seconds (`83`, `5.5`) or a clock (`1:02:03`, `2:03`:
 * minutes and seconds under 60, a fraction only on the seconds); null when it is not one
 * (`-5`, `1e309`, `NaN`, `99:99:99`, beyond 7 days), so the episode opens as without it.
 */
export function parseMomentParam(t: unknown): number | null {
  const v = Array.isArray(t) ? t[0] : t;
  if (typeof v !== 'string' || !v.trim()) return null;
  const parts = v.trim().split(':');
  if (parts.length > 3 || !parts.every((p) => /^\d+(\.\d+)?$/.test(p))) return null;
  if (parts.slice(0, -1).some((p) => p.includes('.')) || parts.slice(1).some((p) => Number(p) >= 60)) return null;
  const s = parts.reduce((acc, p) => acc * 60 + Number(p), 0);
  return Number.isFinite(s) && s <= MAX_MOMENT_S ? Math.round(s * 1000) : null;
}

// One formatter each, made on first use. The first date a page formats loads the browser's locale
// data (30–80 ms in Chromium): main.ts does that while the first page still waits on the network.
let dateFormat: Intl.DateTimeFormat | undefined;
let dateTimeFormat: Intl.DateTimeFormat | undefined;

export function formatDate(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  dateFormat ??= new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
  return dateFormat.format(d);
}

export function warmUpDateFormats(): void {
  formatDate('2000-01-01T00:00:00Z');
}

export function formatDuration(s: number | null): string {
  return s === null ? '' : formatTime(s * 1000);
}

/** Index of the segment playing at `ms` (segments sorted by start), or -1. Binary search: 3-hour episodes have ~2,500. */
export function segmentAt(segments: { start_ms: number; end_ms: number }[], ms: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (segments[mid].start_ms <= ms) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** A moment to the second in the reader's locale ('—' for none). */
export function formatDateTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  dateTimeFormat ??= new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return dateTimeFormat.format(d);
}
