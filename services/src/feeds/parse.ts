import { PodbrainError } from '../core/errors';
import { parseFeedDate } from './dates';
import { decodeFeedBytes } from './decode';
import { parseDuration } from './duration';
import type { Enclosure, ParsedEpisode, ParsedFeed, PodcastPerson, TranscriptRef } from './types';
import { attr, child, children, childText, lineOf, parseXmlTree, stripInvalidXmlChars, textOf, wellFormednessProblem, type XNode } from './xml';

export interface ParseOptions {
  /** Where the document came from; resolves relative links (Atom covers etc.). */
  baseUrl?: string;
  /** Keep only the N most recent episodes (by published date; 0 or absent = all). */
  maxEpisodes?: number;
}

/** Parses RSS 2.0 / Atom (+ iTunes, Podcasting 2.0). Throws PodbrainError('feed_parse', ...) with line and cause. */
export function parseFeed(xml: string | Buffer, opts: ParseOptions = {}): ParsedFeed {
  const raw = typeof xml === 'string' ? xml : decodeFeedBytes(xml);
  // NUL and other control characters (never allowed in XML): removed, so one bad item cannot stop the feed.
  const { text: decoded, removed } = stripInvalidXmlChars(raw);
  // Whitespace before the XML declaration is a common publisher mistake; drop it but keep line numbers true.
  const leading = /^[\uFEFF\s]*/.exec(decoded)?.[0] ?? '';
  const text = decoded.slice(leading.length);
  const lineOffset = leading.split('\n').length - 1;
  rejectNonFeedBodies(text);
  const warnings: string[] = [];
  if (removed > 0) warnings.push(`recovered malformed XML: removed ${removed} character(s) XML does not allow (NUL or other control characters)`);
  if (lineOffset > 0) warnings.push(`recovered malformed XML: ${lineOffset} line(s) of whitespace before the document start`);
  const doc = parseXmlTree(text, lineOffset);
  const markup = scanMarkup(text);
  noteEntities(markup, text, lineOffset, warnings);

  const rootName = Object.keys(doc).find((k) => !k.startsWith('?') && !k.startsWith('#') && !k.startsWith('!'));
  const root = rootName ? child(doc, rootName) : undefined;
  let feed: ParsedFeed;
  let itemNodes: number;
  if (rootName === 'rss' || rootName === 'rdf:RDF') {
    [feed, itemNodes] = rssFeed(root as XNode, opts.baseUrl, warnings);
  } else if (rootName === 'atom:feed') {
    [feed, itemNodes] = atomFeed(root as XNode, opts.baseUrl, warnings);
  } else if (rootName?.toLowerCase() === 'html') {
    throw new PodbrainError('feed_parse', 'this is an HTML page, not a feed');
  } else if (rootName) {
    throw new PodbrainError('feed_parse', `unsupported document: root element <${rootName}> is not <rss>, <feed> (Atom) or <rdf:RDF>`);
  } else {
    throw new PodbrainError('feed_parse', 'document has no root element');
  }
  // The tree parser is lenient. A strict check costs a fifth of the parse, so it runs only when the tree may
  // have lost something: fewer item elements than item tags in the text, or no episodes at all.
  const problem = itemNodes !== markup.itemTags || feed.episodes.length === 0 ? wellFormednessProblem(text, lineOffset) : null;
  if (problem) warnings.push(`recovered malformed XML: ${problem}`);
  if (problem && feed.episodes.length === 0) {
    throw new PodbrainError('feed_parse', `feed is not well-formed XML (${problem}) and no episodes could be recovered from it`);
  }
  if (opts.maxEpisodes && feed.episodes.length > opts.maxEpisodes) {
    feed.episodes = newestFirst(feed.episodes).slice(0, opts.maxEpisodes);
  }
  return feed;
}

function rejectNonFeedBodies(text: string): void {
  if (!text) throw new PodbrainError('feed_parse', 'feed is empty (no content)');
  if (!text.startsWith('<')) {
    const kind = /^[[{]/.test(text) ? 'JSON' : 'not XML';
    throw new PodbrainError('feed_parse', `feed body is ${kind}, expected an RSS or Atom XML document (starts with ${JSON.stringify(text.slice(0, 40))})`);
  }
  const head = text.slice(0, 2048).replace(/<\?xml[^>]*>|<!--[\s\S]*?-->/g, '').trimStart();
  if (/^<!doctype\s+html/i.test(head) || /^<html[\s>]/i.test(head)) {
    throw new PodbrainError('feed_parse', 'this is an HTML page, not a feed');
  }
}

const XML_ENTITIES = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);

interface MarkupScan {
  /** `<item>` / `<entry>` start tags outside CDATA and comments. */
  itemTags: number;
  declaredEntities: Set<string>;
  undefinedEntities: number;
  firstUndefined: { name: string; index: number } | null;
}

const MARKUP = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|&([A-Za-z_][\w.-]*);|<(?:[\w-]+:)?(?:item|entry)[\s>/]|<!ENTITY\s+([\w.-]+)/g;

/** One pass over the source for what the tree cannot tell: item tags, entity references and declarations. */
function scanMarkup(text: string): MarkupScan {
  const scan: MarkupScan = { itemTags: 0, declaredEntities: new Set(), undefinedEntities: 0, firstUndefined: null };
  MARKUP.lastIndex = 0;
  for (let m = MARKUP.exec(text); m; m = MARKUP.exec(text)) {
    const c = m[0].charCodeAt(1);
    if (m[1] !== undefined) {
      if (XML_ENTITIES.has(m[1]) || scan.declaredEntities.has(m[1])) continue;
      scan.undefinedEntities++;
      scan.firstUndefined ??= { name: m[1], index: m.index };
    } else if (m[2] !== undefined) {
      scan.declaredEntities.add(m[2]);
    } else if (c !== 33 /* '!' */) {
      scan.itemTags++;
    }
  }
  return scan;
}

function noteEntities(scan: MarkupScan, text: string, lineOffset: number, warnings: string[]): void {
  const declared = scan.declaredEntities.size;
  if (declared) warnings.push(`DOCTYPE declares ${declared} entit${declared === 1 ? 'y' : 'ies'}; they are not expanded (safety)`);
  const first = scan.firstUndefined;
  if (first) {
    const more = scan.undefinedEntities > 1 ? ` (${scan.undefinedEntities} undefined entity references in all; HTML entity names are decoded, others kept as text)` : '';
    warnings.push(`recovered malformed XML: undefined entity &${first.name}; at line ${lineOffset + lineOf(text, first.index)}${more}`);
  }
}

// ---------- shared helpers ----------

function squash(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function resolveUrl(url: string | null | undefined, base: string | undefined): string | null {
  const u = url?.trim();
  if (!u) return null;
  try {
    return new URL(u, base).toString();
  } catch {
    return u;
  }
}

function withBase(node: XNode | undefined, base: string | undefined): string | undefined {
  const b = attr(node, 'xml:base');
  return b ? (resolveUrl(b, base) ?? base) : base;
}

function basenameNoExt(url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    /* not a URL: use as is */
  }
  const base = decodeURIComponent(path.split('/').pop() ?? '');
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

function positiveInt(s: string | null | undefined): number | null {
  const t = s?.trim();
  if (!t || !/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n > 0 ? n : null;
}

function nonNegativeInt(s: string | null | undefined): number | null {
  const t = s?.trim();
  return t && /^\d+$/.test(t) ? Number(t) : null;
}

function explicitFlag(s: string | null): boolean | null {
  const v = s?.trim().toLowerCase();
  if (v === 'yes' || v === 'explicit' || v === 'true') return true;
  if (v === 'no' || v === 'clean' || v === 'false') return false;
  return null;
}

function showTypeOf(s: string | null): ParsedFeed['showType'] {
  const v = s?.trim().toLowerCase();
  return v === 'episodic' || v === 'serial' ? v : null;
}

function episodeTypeOf(s: string | null): ParsedEpisode['episodeType'] {
  const v = s?.trim().toLowerCase();
  return v === 'full' || v === 'trailer' || v === 'bonus' ? v : null;
}

function enclosureOf(url: string | undefined, type: string | undefined, length: string | undefined, base: string | undefined): Enclosure | null {
  const resolved = resolveUrl(url, base);
  if (!resolved) return null;
  const t = type?.trim();
  return { url: resolved, type: t && t.includes('/') ? t : null, length: positiveInt(length) };
}

/** The episode's media: the first audio/video enclosure, else the first that is not an image or text. */
function mediaEnclosure(all: Enclosure[]): Enclosure | null {
  return (
    all.find((e) => e.type !== null && /^(audio|video)\//i.test(e.type)) ??
    all.find((e) => e.type === null || !/^(image|text)\//i.test(e.type)) ??
    null
  );
}

const TRANSCRIPT_TYPE_BY_EXT: Record<string, string> = {
  srt: 'application/srt',
  vtt: 'text/vtt',
  json: 'application/json',
  html: 'text/html',
  htm: 'text/html',
  txt: 'text/plain',
};

function transcriptsOf(item: XNode, base: string | undefined): TranscriptRef[] {
  const out: TranscriptRef[] = [];
  for (const t of children(item, 'podcast:transcript')) {
    const url = resolveUrl(attr(t, 'url'), base);
    if (!url) continue;
    const ext = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase() ?? '';
    const type = attr(t, 'type')?.trim() || TRANSCRIPT_TYPE_BY_EXT[ext] || 'text/plain';
    out.push({ url, type, language: attr(t, 'language')?.trim() || null, rel: attr(t, 'rel')?.trim() || null });
  }
  return out;
}

function personsOf(item: XNode, base: string | undefined): PodcastPerson[] {
  return children(item, 'podcast:person')
    .map((p) => ({
      name: squash(textOf(p)),
      role: attr(p, 'role')?.trim().toLowerCase() || 'host',
      group: attr(p, 'group')?.trim().toLowerCase() || 'cast',
      href: resolveUrl(attr(p, 'href'), base),
      img: resolveUrl(attr(p, 'img'), base),
    }))
    .filter((p) => p.name);
}

/**
 * Items that can be neither identified nor named are dropped, as podcastparser does: no guid, no link
 * and not exactly one enclosure URL; or no title and not exactly one enclosure (the title then comes from
 * the enclosure's file name).
 */
function finishEpisode(ep: ParsedEpisode, enclosures: Enclosure[], rawTitle: string | null, index: number, warnings: string[]): ParsedEpisode | null {
  const distinctUrls = new Set(enclosures.map((e) => e.url));
  if (!ep.guid && !ep.link && distinctUrls.size !== 1) {
    warnings.push(`item ${index + 1} dropped: no guid, no link and ${distinctUrls.size} enclosure URLs, so it cannot be identified`);
    return null;
  }
  if (rawTitle === null) {
    if (enclosures.length !== 1) {
      warnings.push(`item ${index + 1} dropped: no title and ${enclosures.length} enclosures to name it after`);
      return null;
    }
    ep.title = basenameNoExt(enclosures[0].url);
  }
  return ep;
}

function newestFirst(episodes: ParsedEpisode[]): ParsedEpisode[] {
  const t = (e: ParsedEpisode) => (e.published ? Date.parse(e.published) : 0);
  return episodes
    .map((e, i) => ({ e, i }))
    .sort((a, b) => t(b.e) - t(a.e) || a.i - b.i)
    .map((x) => x.e);
}

function defaultTitle(baseUrl: string | undefined): string {
  return baseUrl ? basenameNoExt(baseUrl) : '';
}

// ---------- RSS 2.0 (and RSS 1.0 / 0.9x) ----------

function rssFeed(root: XNode, baseUrl: string | undefined, warnings: string[]): [ParsedFeed, number] {
  const rootBase = withBase(root, baseUrl);
  const channel = child(root, 'channel');
  const base = withBase(channel, rootBase);
  const items = [...children(channel, 'item'), ...children(root, 'item')];
  const episodes: ParsedEpisode[] = [];
  items.forEach((item, i) => {
    const ep = rssEpisode(item, withBase(item, base), i, warnings);
    if (ep) episodes.push(ep);
  });
  const itunesImage = child(channel, 'itunes:image');
  const title = childText(channel, 'title');
  const feed: ParsedFeed = {
    format: 'rss',
    title: title ? squash(title) : defaultTitle(baseUrl),
    link: resolveUrl(childText(channel, 'link'), base),
    image: resolveUrl(attr(itunesImage, 'href') ?? (textOf(itunesImage).trim() || childText(child(channel, 'image'), 'url')), base),
    description: childText(channel, 'description') ?? childText(channel, 'itunes:summary'),
    author: childText(channel, 'itunes:author') ?? childText(channel, 'author') ?? childText(channel, 'dc:creator'),
    language: childText(channel, 'language') ?? childText(channel, 'dc:language'),
    podcastGuid: childText(channel, 'podcast:guid'),
    explicit: explicitFlag(childText(channel, 'itunes:explicit')),
    showType: showTypeOf(childText(channel, 'itunes:type')),
    episodes,
    warnings,
  };
  return [feed, items.length];
}

function rssEpisode(item: XNode, base: string | undefined, index: number, warnings: string[]): ParsedEpisode | null {
  const enclosures: Enclosure[] = [];
  const add = (e: Enclosure | null) => e && enclosures.push(e);
  for (const e of children(item, 'enclosure')) add(enclosureOf(attr(e, 'url'), attr(e, 'type'), attr(e, 'length'), base));
  for (const e of children(item, 'media:content')) add(enclosureOf(attr(e, 'url'), attr(e, 'type'), attr(e, 'fileSize'), base));
  for (const g of children(item, 'media:group')) {
    for (const e of children(g, 'media:content')) add(enclosureOf(attr(e, 'url'), attr(e, 'type'), attr(e, 'fileSize'), base));
  }
  for (const l of children(item, 'atom:link')) {
    if (attr(l, 'rel') === 'enclosure') add(enclosureOf(attr(l, 'href'), attr(l, 'type'), attr(l, 'length'), base));
  }
  const rawTitle = childText(item, 'title');
  const itunesImage = child(item, 'itunes:image');
  const thumbnail = child(item, 'media:thumbnail') ?? child(child(item, 'media:group'), 'media:thumbnail');
  const ep: ParsedEpisode = {
    guid: childText(item, 'guid'),
    title: rawTitle ? squash(rawTitle) : '',
    description:
      childText(item, 'description') ?? childText(item, 'itunes:summary') ?? childText(item, 'content:encoded') ?? childText(item, 'media:description'),
    contentHtml: childText(item, 'content:encoded'),
    link: resolveUrl(childText(item, 'link'), base),
    image: resolveUrl(attr(itunesImage, 'href') ?? attr(thumbnail, 'url'), base),
    published: parseFeedDate(childText(item, 'pubDate') ?? childText(item, 'dc:date')),
    durationS: parseDuration(childText(item, 'itunes:duration')),
    enclosure: mediaEnclosure(enclosures),
    enclosures,
    transcripts: transcriptsOf(item, base),
    chaptersUrl: resolveUrl(attr(child(item, 'podcast:chapters'), 'url'), base),
    persons: personsOf(item, base),
    season: nonNegativeInt(childText(item, 'itunes:season')),
    episode: nonNegativeInt(childText(item, 'itunes:episode')),
    episodeType: episodeTypeOf(childText(item, 'itunes:episodeType')),
    explicit: explicitFlag(childText(item, 'itunes:explicit')),
    author: childText(item, 'itunes:author') ?? childText(item, 'author') ?? childText(item, 'dc:creator'),
  };
  return finishEpisode(ep, enclosures, rawTitle, index, warnings);
}

// ---------- Atom ----------

function atomLinks(node: XNode, base: string | undefined) {
  return children(node, 'atom:link').map((l) => ({
    rel: attr(l, 'rel')?.trim() || 'alternate',
    type: attr(l, 'type')?.trim() || null,
    href: attr(l, 'href'),
    length: attr(l, 'length'),
    base,
  }));
}

function atomAlternate(links: ReturnType<typeof atomLinks>): string | null {
  const l = links.find((x) => x.rel === 'alternate' && (x.type === null || x.type === 'text/html'));
  return l ? resolveUrl(l.href, l.base) : null;
}

function atomFeed(root: XNode, baseUrl: string | undefined, warnings: string[]): [ParsedFeed, number] {
  const base = withBase(root, baseUrl);
  const episodes: ParsedEpisode[] = [];
  const entries = children(root, 'atom:entry');
  entries.forEach((entry, i) => {
    const ep = atomEpisode(entry, withBase(entry, base), i, warnings);
    if (ep) episodes.push(ep);
  });
  const title = childText(root, 'atom:title');
  const feed: ParsedFeed = {
    format: 'atom',
    title: title ? squash(title) : defaultTitle(baseUrl),
    link: atomAlternate(atomLinks(root, base)),
    image: resolveUrl(childText(root, 'atom:icon') ?? childText(root, 'atom:logo') ?? attr(child(root, 'itunes:image'), 'href'), base),
    description: childText(root, 'atom:subtitle'),
    author: childText(child(root, 'atom:author'), 'atom:name'),
    language: attr(root, 'xml:lang') ?? null,
    podcastGuid: childText(root, 'podcast:guid'),
    explicit: explicitFlag(childText(root, 'itunes:explicit')),
    showType: showTypeOf(childText(root, 'itunes:type')),
    episodes,
    warnings,
  };
  return [feed, entries.length];
}

function atomEpisode(entry: XNode, base: string | undefined, index: number, warnings: string[]): ParsedEpisode | null {
  const links = atomLinks(entry, base);
  const enclosures = links
    .filter((l) => l.rel === 'enclosure')
    .map((l) => enclosureOf(l.href, l.type ?? undefined, l.length, base))
    .filter((e): e is Enclosure => e !== null);
  const rawTitle = childText(entry, 'atom:title');
  const ep: ParsedEpisode = {
    guid: childText(entry, 'atom:id'),
    title: rawTitle ? squash(rawTitle) : '',
    description: childText(entry, 'atom:summary') ?? childText(entry, 'atom:content') ?? childText(entry, 'content:encoded'),
    contentHtml: childText(entry, 'content:encoded') ?? (attr(child(entry, 'atom:content'), 'type') === 'html' ? childText(entry, 'atom:content') : null),
    link: atomAlternate(links),
    image: resolveUrl(attr(child(entry, 'media:thumbnail'), 'url') ?? attr(child(entry, 'itunes:image'), 'href'), base),
    published: parseFeedDate(childText(entry, 'atom:published') ?? childText(entry, 'atom:updated')),
    durationS: parseDuration(childText(entry, 'itunes:duration')),
    enclosure: mediaEnclosure(enclosures),
    enclosures,
    transcripts: transcriptsOf(entry, base),
    chaptersUrl: resolveUrl(attr(child(entry, 'podcast:chapters'), 'url'), base),
    persons: personsOf(entry, base),
    season: nonNegativeInt(childText(entry, 'itunes:season')),
    episode: nonNegativeInt(childText(entry, 'itunes:episode')),
    episodeType: episodeTypeOf(childText(entry, 'itunes:episodeType')),
    explicit: explicitFlag(childText(entry, 'itunes:explicit')),
    author: childText(child(entry, 'atom:author'), 'atom:name') ?? childText(entry, 'itunes:author'),
  };
  return finishEpisode(ep, enclosures, rawTitle, index, warnings);
}
