import { blockQuote, clock, frontMatter, mdEscape, momentUrl, safeFileName } from './markdown';

/**
 * One episode as an Obsidian-friendly Markdown note (issue 17): YAML front matter (title, show,
 * date, duration, url, podbrain link, tags from its topics), the summary, the key insights each
 * with its verbatim quotes as block quotes linking back to the moment in the viewer, chapters with
 * timestamp links, people and organisations as [[wikilinks]], and optionally the transcript.
 * Everything podbrain or the publisher wrote is escaped: a note never carries their markup.
 */
export interface EpisodeNoteData {
  key: string;
  title: string;
  show: string | null;
  published: Date | string | null;
  durationS: number | null;
  /** The publisher's page of the episode (else its enclosure). */
  url: string | null;
  summary: string[];
  insights: { text: string; insight_type: string; quotes: { text: string; start_ms: number }[] }[];
  topics: string[];
  entities: { label: string; type: string }[];
  chapters: { start_ms: number; title: string }[];
  /** Transcript segments, when asked for. */
  transcript?: { start_ms: number; text: string; speaker: string | null }[] | null;
}

/** An Obsidian tag: letters, digits, `-`, `_`, `/`; not only digits. */
export function tagOf(topic: string): string | null {
  const t = topic
    .normalize('NFC')
    .toLowerCase()
    .trim()
    .replace(/\s+/g, '-')
    .replace(/[^\p{L}\p{N}_/-]/gu, '')
    .replace(/-+/g, '-')
    .replace(/^[-/]+|[-/]+$/g, '');
  return t && !/^\d+$/.test(t) ? t.slice(0, 60) : null;
}

/** A [[wikilink]] target: without the characters Obsidian reads as link syntax or forbids in a note name. */
export function wikiTarget(label: string): string | null {
  const t = safeFileName(label.replace(/[[\]|#^]/g, ' '), '');
  return t || null;
}

const dateOf = (d: Date | string | null): string | undefined => {
  if (!d) return undefined;
  const date = d instanceof Date ? d : new Date(d);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString().slice(0, 10);
};

const httpUrl = (raw: string | null): string | undefined => {
  if (!raw) return undefined;
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
};

/** A Markdown link target that cannot end the link early. */
const target = (url: string) => url.replace(/[()\s<>]/g, encodeURIComponent);

/** Consecutive segments as paragraphs of about a minute, each led by its timestamp link. */
function transcriptParagraphs(segments: NonNullable<EpisodeNoteData['transcript']>, link: (ms: number) => string): string[] {
  const out: string[] = [];
  let start = -1;
  let speaker: string | null = null;
  let words: string[] = [];
  const flush = () => {
    if (words.length) out.push(`[${clock(start)}](${target(link(start))}) ${speaker ? `**${mdEscape(speaker)}:** ` : ''}${mdEscape(words.join(' '))}`);
    words = [];
  };
  for (const s of segments) {
    const text = s.text.trim();
    if (!text) continue;
    if (words.length && (s.start_ms - start >= 60_000 || s.speaker !== speaker)) flush();
    if (!words.length) {
      start = s.start_ms;
      speaker = s.speaker;
    }
    words.push(text);
  }
  flush();
  return out;
}

export function episodeNote(d: EpisodeNoteData, viewerBase: string): string {
  const link = (ms?: number | null) => momentUrl(viewerBase, d.key, ms);
  const tags = [...new Set(d.topics.map(tagOf).filter((t): t is string => t !== null))];
  const parts: string[] = [
    frontMatter({
      title: d.title,
      show: d.show ?? undefined,
      date: dateOf(d.published),
      duration: d.durationS ? clock(d.durationS * 1000) : undefined,
      url: httpUrl(d.url),
      podbrain: link(),
      episode_key: d.key,
      tags: tags.length ? tags : undefined,
    }),
    `# ${mdEscape(d.title) || 'Untitled episode'}\n`,
    [d.show ? `**${mdEscape(d.show)}**` : null, dateOf(d.published), d.durationS ? clock(d.durationS * 1000) : null, `[Open in podbrain](${target(link())})`].filter(Boolean).join(' · ') + '\n',
  ];
  if (d.summary.length) parts.push(`## Summary\n\n${d.summary.map((b) => `- ${mdEscape(b)}`).join('\n')}\n`);
  if (d.insights.length) {
    const lines = ['## Key insights', ''];
    for (const i of d.insights) {
      lines.push(`### ${mdEscape(i.text)}`, '');
      if (i.insight_type) lines.push(`*${mdEscape(i.insight_type)}*`, '');
      for (const q of i.quotes) lines.push(blockQuote(q.text, { label: clock(q.start_ms), url: link(q.start_ms) }));
    }
    parts.push(`${lines.join('\n')}\n`);
  }
  if (d.chapters.length) parts.push(`## Chapters\n\n${d.chapters.map((c) => `- [${clock(c.start_ms)}](${target(link(c.start_ms))}) ${mdEscape(c.title)}`).join('\n')}\n`);
  const entities = [...new Set(d.entities.map((e) => wikiTarget(e.label)).filter((t): t is string => t !== null))];
  if (entities.length) parts.push(`## People and organisations\n\n${entities.map((e) => `[[${e}]]`).join(' · ')}\n`);
  if (d.transcript?.length) parts.push(`## Transcript\n\n${transcriptParagraphs(d.transcript, link).join('\n\n')}\n`);
  return parts.join('\n');
}

/** The note's file name: `<date> <title>.md`, also a valid [[wikilink]] target (unique per export: see uniqueName). */
export function noteFileName(d: Pick<EpisodeNoteData, 'title' | 'published'>): string {
  const date = dateOf(d.published);
  return `${wikiTarget(`${date ? `${date} ` : ''}${d.title}`) ?? 'episode'}.md`;
}

/** `name` made unique among `taken` (case-insensitively, as on macOS and Windows): `name (2).md`, … */
export function uniqueName(name: string, taken: Set<string>): string {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : '';
  let candidate = name;
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem} (${n})${ext}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}
