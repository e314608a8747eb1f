import { stripInvalidXmlChars } from '../feeds/xml';
import { PODCAST_CHAPTERS_CONTENT_TYPE } from '../chapters/podcast-json';
import { clock } from '../export/markdown';

/**
 * The private re-feed's RSS 2.0 document (issue 17), with the iTunes, content and Podcasting 2.0
 * namespaces. Every text goes through `xml()`: characters XML forbids are dropped and the five
 * special ones are entities, so hostile titles and show notes (`]]>`, `</item>`, NUL …) stay text
 * and the document stays well-formed. Show notes are HTML as text (entity-escaped, not CDATA).
 */

export const PODCAST_NAMESPACE = 'https://podcastindex.org/namespace/1.0';

export const TRANSCRIPT_TYPES = { vtt: 'text/vtt', srt: 'application/x-subrip', json: 'application/json' } as const;

export interface RefeedChannel {
  title: string;
  /** The viewer. */
  link: string;
  /** This document's own URL (atom:link rel=self). */
  selfUrl: string;
  description: string;
  image: string | null;
  language: string | null;
}

export interface RefeedItem {
  title: string;
  guid: string;
  link: string;
  published: Date | null;
  durationS: number | null;
  enclosure: { url: string; type: string; length: number } | null;
  /** HTML (description and content:encoded). */
  showNotes: string;
  transcripts: { url: string; type: string; language: string | null }[];
  chaptersUrl: string | null;
  image: string | null;
}

/** Text safe as XML character data or an attribute value. */
export function xml(text: string | number | null | undefined): string {
  return stripInvalidXmlChars(String(text ?? ''))
    .text.replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Text safe inside HTML (podbrain's own words in show notes: never markup). */
export function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const el = (name: string, text: string | number | null | undefined) => (text === null || text === undefined || text === '' ? '' : `<${name}>${xml(text)}</${name}>`);

function item(i: RefeedItem): string {
  const parts = [
    el('title', i.title),
    `<guid isPermaLink="false">${xml(i.guid)}</guid>`,
    el('link', i.link),
    i.published && !Number.isNaN(i.published.getTime()) ? el('pubDate', i.published.toUTCString()) : '',
    i.durationS != null && i.durationS > 0 ? el('itunes:duration', Math.round(i.durationS)) : '',
    i.enclosure ? `<enclosure url="${xml(i.enclosure.url)}" length="${Math.max(0, Math.floor(i.enclosure.length))}" type="${xml(i.enclosure.type)}"/>` : '',
    i.image ? `<itunes:image href="${xml(i.image)}"/>` : '',
    el('description', i.showNotes),
    el('content:encoded', i.showNotes),
    ...i.transcripts.map((t) => `<podcast:transcript url="${xml(t.url)}" type="${xml(t.type)}"${t.language ? ` language="${xml(t.language)}"` : ''}${t.type === TRANSCRIPT_TYPES.vtt || t.type === TRANSCRIPT_TYPES.srt ? ' rel="captions"' : ''}/>`),
    i.chaptersUrl ? `<podcast:chapters url="${xml(i.chaptersUrl)}" type="${PODCAST_CHAPTERS_CONTENT_TYPE}"/>` : '',
  ];
  return `    <item>\n${parts
    .filter(Boolean)
    .map((p) => `      ${p}`)
    .join('\n')}\n    </item>`;
}

function newest(items: readonly RefeedItem[]): Date | null {
  let max: Date | null = null;
  for (const i of items) if (i.published && !Number.isNaN(i.published.getTime()) && (!max || i.published > max)) max = i.published;
  return max;
}

export function renderRss(channel: RefeedChannel, items: readonly RefeedItem[]): string {
  const head = [
    el('title', channel.title),
    el('link', channel.link),
    `<atom:link href="${xml(channel.selfUrl)}" rel="self" type="application/rss+xml"/>`,
    el('description', channel.description),
    el('language', channel.language),
    el('generator', 'podbrain'),
    // The newest item's date, not now: the same content gives the same document (and ETag: apps' conditional GET).
    el('lastBuildDate', newest(items)?.toUTCString()),
    // A private feed: directories must not list it.
    '<itunes:block>Yes</itunes:block>',
    channel.image ? `<image><url>${xml(channel.image)}</url><title>${xml(channel.title)}</title><link>${xml(channel.link)}</link></image>` : '',
    channel.image ? `<itunes:image href="${xml(channel.image)}"/>` : '',
  ]
    .filter(Boolean)
    .map((p) => `    ${p}`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:podcast="${PODCAST_NAMESPACE}">`,
    '  <channel>',
    ...head,
    ...items.map(item),
    '  </channel>',
    '</rss>',
    '',
  ].join('\n');
}

/** What podbrain adds under the publisher's show notes. */
export interface ShowNotesExtra {
  summary: string[];
  insights: { text: string; start_ms: number | null; url: string | null }[];
  viewerUrl: string;
}

/**
 * The show notes: the publisher's description as published (their HTML; apps sanitise it as they
 * do for the original feed), then podbrain's summary and key insights, escaped (podbrain's text is
 * never markup), each insight with its timestamp linking to the moment in the viewer.
 */
export function showNotes(original: string | null, extra: ShowNotesExtra): string {
  const out: string[] = [];
  if (original?.trim()) out.push(original.trim());
  if (extra.summary.length) out.push(`<h3>Summary (podbrain)</h3>\n<ul>${extra.summary.map((b) => `<li>${html(b)}</li>`).join('')}</ul>`);
  if (extra.insights.length) {
    const li = extra.insights.map((i) => {
      const at = i.start_ms != null ? clock(i.start_ms) : null;
      const stamp = at ? (i.url ? `<a href="${html(i.url)}">${at}</a> ` : `${at} `) : '';
      return `<li>${stamp}${html(i.text)}</li>`;
    });
    out.push(`<h3>Key insights (podbrain)</h3>\n<ul>${li.join('')}</ul>`);
  }
  out.push(`<p><a href="${html(extra.viewerUrl)}">Open in podbrain</a></p>`);
  return out.join('\n');
}
