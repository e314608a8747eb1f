import { decodeHTMLStrict } from 'entities';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PodbrainError } from '../core/errors';

/** An element as fast-xml-parser builds it: `@_name` attributes, `#text`, child elements in arrays. */
export interface XNode {
  [key: string]: XNode[] | string | undefined;
}

/** Namespace URIs we read, mapped to the prefix the rest of the parser uses. */
const KNOWN_NAMESPACES: Record<string, string> = {
  'http://www.itunes.com/dtds/podcast-1.0.dtd': 'itunes',
  'http://www.w3.org/2005/atom': 'atom',
  'http://search.yahoo.com/mrss': 'media',
  'http://podlove.org/simple-chapters': 'psc',
  'http://purl.org/rss/1.0/modules/content': 'content',
  'https://github.com/podcastindex-org/podcast-namespace/blob/main/docs/1.0.md': 'podcast',
  'https://podcastindex.org/namespace/1.0': 'podcast',
  'http://purl.org/dc/elements/1.1': 'dc',
  'http://www.google.com/schemas/play-podcasts/1.0': 'googleplay',
  'http://www.w3.org/1999/02/22-rdf-syntax-ns#': 'rdf',
};

function knownPrefix(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  return KNOWN_NAMESPACES[uri.trim().toLowerCase().replace(/\/$/, '')];
}

const MAX_DEPTH = 200;
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  allowBooleanAttributes: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true, // every value we read is trimmed anyway
  alwaysCreateTextNode: true,
  // Entities are decoded by us, and only in the values the feed parser reads: DOCTYPE-declared entities are
  // never expanded (no billion laughs, no external entities), and XML/HTML named and numeric references are.
  processEntities: false,
  htmlEntities: false,
  cdataPropName: '#cdata',
  jPath: false, // we never match paths in callbacks; building path strings costs a fifth of the parse
  // <constructor>, <__proto__>… are legal XML: rename them rather than let the parser refuse the whole feed.
  transformTagName: (name: string) => (RESERVED_NAMES.has(name) ? `_reserved_${name}` : name),
  maxNestedTags: MAX_DEPTH,
  isArray: (_name: string, _jpath: unknown, _isLeaf: boolean, isAttribute: boolean) => !isAttribute,
});

export function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** A strict well-formedness check (the parser itself is lenient); names line and column, or null when fine. */
export function wellFormednessProblem(xml: string, lineOffset = 0): string | null {
  const result = XMLValidator.validate(xml, { allowBooleanAttributes: true });
  if (result === true) return null;
  const unclosed = /^Invalid '\[([\s\S]*)\]' found/.exec(result.err.msg);
  if (unclosed) {
    const open = unclosed[1].split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
    return `the document ends before <${open.join('> <')}> are closed (truncated?)`;
  }
  return `line ${result.err.line + lineOffset}, column ${result.err.col}: ${result.err.msg.replace(/\(opened in line (\d+)/, (_m, l: string) => `(opened in line ${Number(l) + lineOffset}`)}`;
}

/**
 * Parses XML text into a tree whose element names carry canonical namespace prefixes
 * (`<it:duration>` and `<duration xmlns="…itunes…">` both become `itunes:duration`; unprefixed Atom
 * elements become `atom:*`). No external entities; internal entity expansion is bounded.
 */
export function parseXmlTree(xml: string, lineOffset = 0): XNode {
  let raw: XNode;
  try {
    raw = parser.parse(xml) as XNode;
  } catch (e) {
    const cause = (e as Error).message;
    if (/external entit/i.test(cause)) {
      throw new PodbrainError('feed_parse', 'feed declares external entities, which are refused for safety', {}, { cause: e });
    }
    if (/Maximum nested tags/i.test(cause)) {
      throw new PodbrainError('feed_parse', `feed nests elements more than ${MAX_DEPTH} levels deep; refused`, {}, { cause: e });
    }
    const problem = wellFormednessProblem(xml, lineOffset);
    throw new PodbrainError('feed_parse', `feed is not well-formed XML (${problem ?? cause})`, {}, { cause: e });
  }
  return normalizeNames(raw, {});
}

function scopeOf(node: XNode, parent: Record<string, string>): Record<string, string> {
  let scope = parent;
  for (const key in node) {
    if (key === '@_xmlns' || key.startsWith('@_xmlns:')) {
      if (scope === parent) scope = { ...parent };
      scope[key === '@_xmlns' ? '' : key.slice(8)] = String(node[key]);
    }
  }
  return scope;
}

const nameCache = new WeakMap<Record<string, string>, Map<string, string>>();

function canonicalName(raw: string, scope: Record<string, string>): string {
  let cache = nameCache.get(scope);
  if (!cache) nameCache.set(scope, (cache = new Map()));
  let name = cache.get(raw);
  if (name === undefined) {
    name = resolveName(raw, scope);
    cache.set(raw, name);
  }
  return name;
}

function resolveName(raw: string, scope: Record<string, string>): string {
  const colon = raw.indexOf(':');
  if (colon === -1) {
    const prefix = knownPrefix(scope['']);
    return prefix && prefix !== 'rdf' ? `${prefix}:${raw}` : raw;
  }
  const prefix = knownPrefix(scope[raw.slice(0, colon)]);
  return prefix ? `${prefix}:${raw.slice(colon + 1)}` : raw;
}

function normalizeNames(node: XNode, parentScope: Record<string, string>): XNode {
  const out: XNode = {};
  for (const key in node) {
    const value = node[key];
    if (!Array.isArray(value) || key.charCodeAt(0) === 35 /* '#' */) {
      out[key] = value;
      continue;
    }
    for (const child of value) {
      const scope = scopeOf(child, parentScope);
      const name = canonicalName(key, scope);
      const list = (out[name] ??= []) as XNode[];
      list.push(normalizeNames(child, scope));
    }
  }
  return out;
}

export function children(node: XNode | undefined, name: string): XNode[] {
  const v = node?.[name];
  return Array.isArray(v) ? v : [];
}

export function child(node: XNode | undefined, name: string): XNode | undefined {
  return children(node, name)[0];
}

/**
 * Characters XML 1.0 allows nowhere, not even as character references: C0 controls other than
 * tab, LF and CR, U+FFFE, U+FFFF and unpaired surrogates. Feeds carry them anyway (a NUL pasted
 * into a title); Postgres refuses U+0000 in text and jsonb, so one such item used to fail the
 * whole poll, every poll.
 */
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `s` without the characters XML does not allow, and how many were removed. */
export function stripInvalidXmlChars(s: string): { text: string; removed: number } {
  INVALID_XML_CHARS.lastIndex = 0;
  if (!INVALID_XML_CHARS.test(s)) return { text: s, removed: 0 };
  let removed = 0;
  const text = s.replace(INVALID_XML_CHARS, () => {
    removed++;
    return '';
  });
  return { text, removed };
}

/** Decodes XML and HTML character references (`&amp;`, `&#233;`, `&eacute;`); unknown names stay as written. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  const decoded = decodeHTMLStrict(s);
  // `&#1;` and friends decode to characters XML forbids: drop them like the raw ones.
  return s.includes('&#') ? stripInvalidXmlChars(decoded).text : decoded;
}

export function attr(node: XNode | undefined, name: string): string | undefined {
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? decodeEntities(v) : undefined;
}

/** The element's text: character data decoded, CDATA sections as written. */
export function textOf(node: XNode | undefined): string {
  if (!node) return '';
  const t = node['#text'];
  const text = typeof t === 'string' ? decodeEntities(t) : '';
  const cdata = node['#cdata'];
  if (!Array.isArray(cdata)) return text;
  const raw = cdata.map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join('');
  return text.trim() ? text + raw : raw;
}

/** Trimmed text of the first `name` child, or null when absent or blank. */
export function childText(node: XNode | undefined, name: string): string | null {
  const t = textOf(child(node, name)).trim();
  return t ? t : null;
}
