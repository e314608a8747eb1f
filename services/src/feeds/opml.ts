import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PodbrainError } from '../core/errors';
import { canonicalFeedUrl } from '../core/identity';
import { decodeFeedBytes } from './decode';
import { policyInputSchema, type PolicyInput } from './policy';
import { attr, children, decodeEntities, parseXmlTree, wellFormednessProblem, type XNode } from './xml';

/** One subscription in a feed list (OPML outline or YAML entry). */
export interface FeedListEntry {
  url: string;
  title: string | null;
  htmlUrl?: string | null;
  /** A YAML entry's policy fields (feeds/policy.ts: backfill, include, exclude, min_duration_s, max_duration_s, audio_retention, audio_download), as `podbrain feeds add --feeds` sends them. */
  policy?: PolicyInput;
}

function dedupe(entries: FeedListEntry[]): FeedListEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    const key = canonicalFeedUrl(e.url);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Reads an attribute whatever its case (`xmlUrl`, `xmlurl`, `XMLURL` all occur in exported files). */
function attrAnyCase(node: XNode, name: string): string | undefined {
  const exact = attr(node, name);
  if (exact !== undefined) return exact;
  const wanted = `@_${name}`.toLowerCase();
  const key = Object.keys(node).find((k) => k.toLowerCase() === wanted);
  const v = key ? node[key] : undefined;
  return typeof v === 'string' ? decodeEntities(v) : undefined;
}

function collectOutlines(node: XNode, out: FeedListEntry[]): void {
  for (const outline of children(node, 'outline')) {
    const url = attrAnyCase(outline, 'xmlUrl')?.trim();
    if (url) {
      const title = (attrAnyCase(outline, 'title') ?? attrAnyCase(outline, 'text'))?.trim() || null;
      const htmlUrl = attrAnyCase(outline, 'htmlUrl')?.trim() || null;
      out.push({ url, title, htmlUrl });
    }
    collectOutlines(outline, out);
  }
}

/** OPML 1.0/2.0 → feed list: nested outlines are flattened, outlines without xmlUrl ignored, duplicates dropped. */
export function parseOpml(xml: string | Buffer): FeedListEntry[] {
  const text = (typeof xml === 'string' ? xml : decodeFeedBytes(xml)).replace(/^[\uFEFF\s]+/, '');
  if (!text.startsWith('<')) throw new PodbrainError('feed_list', 'OPML file is not XML');
  let doc: XNode;
  try {
    doc = parseXmlTree(text);
  } catch (e) {
    throw new PodbrainError('feed_list', `OPML ${(e as Error).message.replace(/^feed /, '')}`, {}, { cause: e });
  }
  const problem = wellFormednessProblem(text);
  if (problem) throw new PodbrainError('feed_list', `OPML file is not well-formed XML (${problem})`);
  const opml = children(doc, 'opml')[0];
  if (!opml) {
    const root = Object.keys(doc).find((k) => !k.startsWith('?') && !k.startsWith('#') && !k.startsWith('!'));
    throw new PodbrainError('feed_list', `not an OPML document: root element is <${root ?? 'nothing'}>, expected <opml>`);
  }
  const out: FeedListEntry[] = [];
  for (const body of children(opml, 'body')) collectOutlines(body, out);
  return dedupe(out);
}

function escapeXmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\r?\n/g, '&#10;');
}

/** Feed list → OPML 2.0 document. */
export function toOpml(entries: FeedListEntry[], opts: { title?: string; now?: Date } = {}): string {
  const title = opts.title ?? 'podbrain subscriptions';
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<opml version="2.0">',
    '  <head>',
    `    <title>${escapeXmlAttr(title)}</title>`,
    `    <dateCreated>${(opts.now ?? new Date()).toUTCString()}</dateCreated>`,
    '  </head>',
    '  <body>',
  ];
  for (const e of dedupe(entries)) {
    const name = e.title ?? e.url;
    const html = e.htmlUrl ? ` htmlUrl="${escapeXmlAttr(e.htmlUrl)}"` : '';
    lines.push(`    <outline type="rss" text="${escapeXmlAttr(name)}" title="${escapeXmlAttr(name)}" xmlUrl="${escapeXmlAttr(e.url)}"${html}/>`);
  }
  lines.push('  </body>', '</opml>', '');
  return lines.join('\n');
}

const POLICY_FIELDS = new Set(['backfill', 'include', 'exclude', 'min_duration_s', 'max_duration_s', 'audio_retention', 'audio_download']);

/**
 * YAML (or JSON) feed list: `feeds: [{url, title?}]`, `feeds: [url, ...]`, or a bare list of either.
 * An entry may carry a feed policy: `backfill` (newest:3 | since:2024-01-31 | all, or {newest: 3}),
 * `include` / `exclude` (lists of keywords or /regex/), `min_duration_s`, `max_duration_s`,
 * `audio_retention` (keep-all | delete-after-transcribe | last:N | days:D), `audio_download` (always | when-needed).
 */
export function parseYamlFeedList(text: string): FeedListEntry[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new PodbrainError('feed_list', `feed list is not valid YAML: ${(e as Error).message}`, {}, { cause: e });
  }
  const list = Array.isArray(doc) ? doc : doc && typeof doc === 'object' ? (doc as { feeds?: unknown }).feeds : undefined;
  if (!Array.isArray(list)) throw new PodbrainError('feed_list', 'feed list must be a list of feeds or have a `feeds:` list');
  const out = list.map((item, i): FeedListEntry => {
    if (typeof item === 'string' && item.trim()) return { url: item.trim(), title: null };
    if (item && typeof item === 'object' && typeof (item as { url?: unknown }).url === 'string' && (item as { url: string }).url.trim()) {
      const { url, title, ...rest } = item as { url: string; title?: unknown };
      const entry: FeedListEntry = { url: url.trim(), title: typeof title === 'string' && title.trim() ? title.trim() : null };
      const fields = Object.fromEntries(Object.entries(rest).filter(([k]) => POLICY_FIELDS.has(k)));
      if (!Object.keys(fields).length) return entry;
      const policy = policyInputSchema.safeParse(fields);
      if (!policy.success) throw new PodbrainError('feed_list', `feed list entry ${i + 1} (${url.trim()}): ${policy.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
      return { ...entry, policy: policy.data };
    }
    throw new PodbrainError('feed_list', `feed list entry ${i + 1} needs a url (a string, or {url, title?})`);
  });
  return dedupe(out);
}

/** Reads an OPML or YAML feed list (used by `podbrain run --feeds <file>`). Relative paths resolve from the cwd. */
export function loadFeedList(file: string): FeedListEntry[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path.resolve(file));
  } catch (e) {
    throw new PodbrainError('feed_list', `cannot read feed list ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {}, { cause: e });
  }
  const ext = path.extname(file).toLowerCase();
  const looksXml = bytes.subarray(0, 512).toString('utf8').replace(/^[\uFEFF\s]+/, '').startsWith('<');
  if (ext === '.opml' || ext === '.xml' || (looksXml && ext !== '.yaml' && ext !== '.yml')) return parseOpml(bytes);
  return parseYamlFeedList(bytes.toString('utf8'));
}
