import { stringify } from 'yaml';

/**
 * Markdown as podbrain exports it (issue 17): Obsidian-friendly notes with YAML front matter,
 * quotes as block quotes, and timestamp links back to the moment in the viewer
 * (`<viewer>/episodes/<key>?t=<seconds>`). Shared by the episode, digest and saved-search exports.
 */

/** A YAML front matter block; undefined values are left out, strings are quoted when YAML needs it. */
export function frontMatter(fields: Record<string, unknown>): string {
  const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  return `---\n${stringify(clean, { lineWidth: 0 }).trimEnd()}\n---\n`;
}

/** `h:mm:ss` (or `m:ss` under an hour) of a time in milliseconds. */
export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The viewer's path to a moment: `/episodes/<key>?t=<seconds>`, to a tenth off the whole second (the viewer's momentParam), so a quote at 1203.5 s opens on its own line. */
export function momentPath(episodeKey: string, startMs?: number | null): string {
  const at = startMs != null && startMs >= 0 ? `?t=${Math.round(startMs / 100) / 10}` : '';
  return `/episodes/${encodeURIComponent(episodeKey)}${at}`;
}

/** The viewer's link to a moment of an episode; `viewerBase` is PUBLIC_URL (or the request's origin), no trailing slash needed. */
export function momentUrl(viewerBase: string, episodeKey: string, startMs?: number | null): string {
  return `${viewerBase.replace(/\/+$/, '')}${momentPath(episodeKey, startMs)}`;
}

/** Text safe inside Markdown inline context: no accidental headings, links, emphasis or HTML. */
export function mdEscape(text: string): string {
  return text
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/[\\`*_{}[\]<>#|]/g, (c) => `\\${c}`)
    .replace(/\s+/g, ' ')
    .trim();
}

/** A verbatim quote as a block quote, then its timestamp link: `> text` / `> — [12:34](url)`. */
export function blockQuote(text: string, link?: { label: string; url: string }): string {
  const lines = text.trim().split(/\r?\n/).map((l) => `> ${mdEscape(l)}`);
  if (link) lines.push(`> — [${mdEscape(link.label)}](${link.url.replace(/[()\s]/g, encodeURIComponent)})`);
  return `${lines.join('\n')}\n`;
}

/** A file name safe on every OS (Obsidian notes are files): no separators, controls or reserved characters, at most 120 characters. */
export function safeFileName(title: string, fallback = 'untitled'): string {
  const cleaned = title
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f<>:"/\\|?*]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+|\.+$/g, '')
    .slice(0, 120)
    .trim();
  return cleaned || fallback;
}
