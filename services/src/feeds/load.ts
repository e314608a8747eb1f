import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { createHash } from 'node:crypto';
import { PodbrainError } from '../core/errors';
import { episodeKeyOf, feedIdOf } from '../core/identity';
import { httpClientFor, statusError, tooLarge, type HttpClient, type RedirectHop } from '../net/http-client';
import { readFeedState, writeFeedState, type FeedState } from './feed-state';
import { decodeFeedBytes } from './decode';
import { parseFeed } from './parse';
import type { FeedCacheValidators, FeedEpisode, ParsedFeed } from './types';
import { decodeEntities, stripInvalidXmlChars } from './xml';

export { feedStatePath, type FeedState } from './feed-state';

export type { FeedCacheValidators } from './types';

export interface LoadedFeed {
  /** The location as given (URL) or its absolute path (local file), and its canonical feed id. */
  location: string;
  feedId: string;
  /** true when the server answered 304 (or a local file is unchanged): `feed` and `episodes` are then null. */
  notModified: boolean;
  feed: ParsedFeed | null;
  episodes: FeedEpisode[] | null;
  /** Validators to send next time (from this response, or the ones sent when 304). */
  validators: FeedCacheValidators;
  fetchedBytes: number;
  /** Final URL after redirects (URLs), or the file:// URL of a local file. */
  finalUrl: string;
  redirects: RedirectHop[];
  /** Parser warnings plus identity warnings (duplicate guids...). */
  warnings: string[];
}

export interface LoadFeedOptions {
  /** Shared client (connection pool); defaults to one per config object. */
  client?: HttpClient;
  signal?: AbortSignal;
}

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

export function isLocalFeedLocation(location: string): boolean {
  return !URL_SCHEME.test(location) || location.toLowerCase().startsWith('file:');
}

/** Local feeds are identified by their absolute path (file:// URLs and relative paths alike). */
export function normalizeFeedLocation(location: string): string {
  const trimmed = location.trim();
  if (!isLocalFeedLocation(trimmed)) return trimmed;
  return trimmed.toLowerCase().startsWith('file:') ? fileURLToPath(trimmed) : path.resolve(trimmed);
}

/** Fetches (URL, with conditional GET) or reads (file path) a feed and parses it. */
export async function loadFeed(location: string, config: Config, validators: FeedCacheValidators = {}, opts: LoadFeedOptions = {}): Promise<LoadedFeed> {
  const where = normalizeFeedLocation(location);
  const feedId = feedIdOf(where);
  const fetched = isLocalFeedLocation(where) ? await readLocalFeed(where, config, validators) : await fetchFeed(where, config, validators, opts);
  const base = { location: where, feedId, fetchedBytes: fetched.body?.length ?? 0, finalUrl: fetched.finalUrl, redirects: fetched.redirects, validators: fetched.validators };
  if (!fetched.body) return { ...base, notModified: true, feed: null, episodes: null, warnings: [] };

  rejectHtml(fetched.body, fetched.contentType, fetched.finalUrl);
  let feed: ParsedFeed;
  try {
    feed = parseFeed(fetched.body, { baseUrl: fetched.finalUrl });
  } catch (e) {
    if (e instanceof PodbrainError) throw new PodbrainError(e.code, `${where}: ${e.message}`, { ...e.details, location: where }, { cause: e });
    throw e;
  }
  const { episodes, warnings } = identifyEpisodes(feed, feedId, where);
  return { ...base, notModified: false, feed, episodes, warnings: [...feed.warnings, ...warnings] };
}

interface Fetched {
  body: Buffer | null;
  contentType: string | null;
  finalUrl: string;
  redirects: RedirectHop[];
  validators: FeedCacheValidators;
}

async function fetchFeed(url: string, config: Config, validators: FeedCacheValidators, opts: LoadFeedOptions): Promise<Fetched> {
  const client = opts.client ?? httpClientFor(config);
  const headers: Record<string, string> = {
    accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5',
  };
  if (validators.etag) headers['if-none-match'] = validators.etag;
  if (validators.lastModified) headers['if-modified-since'] = validators.lastModified;
  const res = await client.get(url, { headers, maxBytes: config.feeds.maxBytes, overallTimeoutMs: config.net.timeoutMs, what: 'feed', signal: opts.signal });
  const next: FeedCacheValidators = { etag: res.headers.etag ?? null, lastModified: res.headers['last-modified'] ?? null };
  if (res.status === 304) {
    await res.dump();
    return {
      body: null,
      contentType: null,
      finalUrl: res.url,
      redirects: res.redirects,
      validators: { etag: next.etag ?? validators.etag ?? null, lastModified: next.lastModified ?? validators.lastModified ?? null },
    };
  }
  if (res.status < 200 || res.status >= 300) {
    await res.dump();
    throw statusError(res, 'feed');
  }
  const body = await res.buffer();
  if (!body.length) throw new PodbrainError('feed_empty', `the feed at ${res.url} is empty (HTTP ${res.status} with no body)`, { url: res.url });
  return { body, contentType: res.headers['content-type'] ?? null, finalUrl: res.url, redirects: res.redirects, validators: next };
}

async function readLocalFeed(file: string, config: Config, validators: FeedCacheValidators): Promise<Fetched> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (e) {
    throw new PodbrainError('feed_not_found', `feed file ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { location: file });
  }
  if (!stat.isFile()) throw new PodbrainError('feed_not_found', `feed location ${file} is not a file`, { location: file });
  if (stat.size > config.feeds.maxBytes) throw tooLarge(`the feed file ${file}`, config.feeds.maxBytes, `the file has ${stat.size} bytes`);
  const body = await fs.readFile(file);
  if (!body.length) throw new PodbrainError('feed_empty', `feed file ${file} is empty`, { location: file });
  // A content hash plays the ETag for local files, so an unchanged file is "not modified" too.
  const etag = `"sha256:${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
  const finalUrl = pathToFileURL(file).href;
  if (validators.etag === etag) return { body: null, contentType: null, finalUrl, redirects: [], validators: { etag } };
  return { body, contentType: null, finalUrl, redirects: [], validators: { etag } };
}

export interface FeedProbe {
  location: string;
  feedId: string;
  finalUrl: string;
  /** The channel title when the first bytes carry it (a hint until the first poll). */
  title: string | null;
}

/** How much of a feed the api reads to check it (the poll job reads and parses all of it). */
const PROBE_BYTES = 64 * 1024;

/**
 * The api's check of a feed URL before subscribing: the SSRF guard, the HTTP status, and the
 * first 64 KiB (an RSS/Atom document, not an HTML page or JSON). Never reads or parses the
 * whole document, so its cost does not grow with the feed: a 50,000-item feed is parsed by the
 * poll job in worker-io. Throws the same PodbrainErrors as loadFeed.
 */
export async function probeFeed(location: string, config: Config, opts: LoadFeedOptions = {}): Promise<FeedProbe> {
  const where = normalizeFeedLocation(location);
  const client = opts.client ?? httpClientFor(config);
  const res = await client.get(where, {
    headers: { accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5' },
    maxBytes: config.feeds.maxBytes,
    overallTimeoutMs: config.net.timeoutMs,
    what: 'feed',
    signal: opts.signal,
  });
  if (res.status < 200 || res.status >= 300) {
    await res.dump();
    throw statusError(res, 'feed');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res.body) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
      if (size >= PROBE_BYTES) break;
    }
  } finally {
    await res.dump();
  }
  const head = Buffer.concat(chunks).subarray(0, PROBE_BYTES);
  if (!head.length) throw new PodbrainError('feed_empty', `the feed at ${res.url} is empty (HTTP ${res.status} with no body)`, { url: res.url });
  const contentType = res.headers['content-type'] ?? null;
  rejectHtml(head, contentType, res.url);
  const text = stripInvalidXmlChars(decodeFeedBytes(head)).text;
  const root = /^(?:[\uFEFF\s]|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(?:\[[\s\S]*?\])?\s*>)*<([A-Za-z_][\w.:-]*)/.exec(text)?.[1];
  if (!root) {
    const kind = /^[\uFEFF\s]*[[{]/.test(text) ? 'JSON' : 'not XML';
    throw new PodbrainError('feed_parse', `${res.url}: feed body is ${kind}, expected an RSS or Atom XML document`, { url: res.url, contentType });
  }
  const local = root.includes(':') && !/^rdf:RDF$/i.test(root) ? root.slice(root.indexOf(':') + 1) : root;
  if (!/^(rss|feed|rdf:RDF)$/i.test(local)) {
    throw new PodbrainError('feed_parse', `${res.url}: unsupported document: root element <${root}> is not <rss>, <feed> (Atom) or <rdf:RDF>`, { url: res.url });
  }
  return { location: where, feedId: feedIdOf(where), finalUrl: res.url, title: headTitle(text) };
}

/** The first <title> before the first item or entry, decoded and squashed; null when not in the head. */
function headTitle(text: string): string | null {
  const firstItem = text.search(/<(?:[\w-]+:)?(?:item|entry)[\s>]/);
  const scope = firstItem === -1 ? text : text.slice(0, firstItem);
  const m = /<(?:[\w-]+:)?title(?:\s[^>]*)?>([\s\S]*?)<\/(?:[\w-]+:)?title>/.exec(scope);
  if (!m) return null;
  const cdata = /^\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*$/.exec(m[1]);
  const title = (cdata ? cdata[1] : decodeEntities(m[1].replace(/<[^>]*>/g, ''))).replace(/\s+/g, ' ').trim();
  return title ? title.slice(0, 500) : null;
}

/** An HTML page where a feed was expected is the most common mistake; say so plainly. */
function rejectHtml(body: Buffer, contentType: string | null, url: string): void {
  const start = body
    .subarray(0, 1024)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .replace(/^(\s|<!--[\s\S]*?-->)*/, '')
    .toLowerCase();
  const htmlStart = start.startsWith('<!doctype html') || start.startsWith('<html');
  const xmlStart = /^<(\?xml|rss|feed|rdf:rdf)\b/.test(start);
  const htmlType = !!contentType && /text\/html/i.test(contentType);
  if (htmlStart || (htmlType && !xmlStart)) {
    throw new PodbrainError(
      'feed_is_html',
      `${url} is an HTML page, not a feed${htmlType ? ` (Content-Type ${contentType})` : ''}; use the RSS/Atom link the page points to`,
      { url, contentType },
    );
  }
}

/**
 * Episode identity (ARCHITECTURE §2) with duplicate guids resolved:
 * - same guid and same enclosure (or both none) as an earlier item: a true duplicate, dropped with a warning;
 * - same guid, different enclosure: a publisher reusing guids; the item is kept and keyed by the
 *   no-guid rule (feed url + title + pubDate) so it is not lost, with a warning;
 * - any item whose key is still taken (e.g. identical title and date without guid): dropped with a warning;
 * - same enclosure URL and same pubDate as an earlier item under another guid: the same episode
 *   published twice, dropped with a warning (a poll also matches such items to stored episodes,
 *   see `republishKey`).
 * The first item of a feed always keeps its guid-based key.
 */
export function identifyEpisodes(feed: ParsedFeed, feedId: string, feedUrl: string): { episodes: FeedEpisode[]; warnings: string[] } {
  const warnings: string[] = [];
  const byGuid = new Map<string, string | null>();
  const keys = new Set<string>();
  const published = new Set<string>();
  const episodes: FeedEpisode[] = [];
  for (const ep of feed.episodes) {
    const guid = ep.guid?.trim() || null;
    const enclosure = ep.enclosure?.url ?? null;
    const again = republishKey(ep);
    if (again !== null && published.has(again) && !(guid !== null && byGuid.has(guid))) {
      warnings.push(`item ${JSON.stringify(ep.title)} has the enclosure and date of an earlier item under another guid: the same episode, dropped`);
      continue;
    }
    if (again !== null) published.add(again);
    let keyGuid = guid;
    if (guid !== null && byGuid.has(guid)) {
      if (byGuid.get(guid) === enclosure) {
        warnings.push(`duplicate guid ${JSON.stringify(guid)}: dropped repeated item ${JSON.stringify(ep.title)}`);
        continue;
      }
      warnings.push(`duplicate guid ${JSON.stringify(guid)} with a different enclosure: item ${JSON.stringify(ep.title)} keyed by title and date instead`);
      keyGuid = null;
    } else if (guid !== null) {
      byGuid.set(guid, enclosure);
    }
    const episodeKey = episodeKeyOf({ feedId, feedUrl, guid: keyGuid, title: ep.title, published: ep.published });
    if (keys.has(episodeKey)) {
      warnings.push(`item ${JSON.stringify(ep.title)} (${ep.published ?? 'no date'}) has the same identity as an earlier item: dropped`);
      continue;
    }
    keys.add(episodeKey);
    episodes.push({ ...ep, feedId, feedUrl, episodeKey });
  }
  return { episodes, warnings };
}

/**
 * What makes two items the same episode whatever their guids say: the same enclosure URL and
 * the same publication time. Publishers that rebuild their feed re-issue every guid; without
 * this each poll would add the whole feed again. Null when either is missing.
 */
export function republishKey(ep: { enclosure: { url: string } | null; published: string | null }): string | null {
  const url = ep.enclosure?.url?.trim();
  if (!url || !ep.published) return null;
  const t = Date.parse(ep.published);
  return Number.isNaN(t) ? null : `${url}\n${t}`;
}

export interface PolledFeed {
  feedId: string;
  location: string;
  feed: ParsedFeed;
  episodes: FeedEpisode[];
  /** The source said "unchanged" (HTTP 304 / same file content). */
  notModified: boolean;
  /** feed and episodes come from $DATA_DIR/feeds/<feed_id>.json rather than a fresh parse. */
  fromCache: boolean;
  warnings: string[];
  finalUrl: string;
}

/**
 * Atomic-mode polling: conditional GET with the validators remembered in the feed state,
 * the cached episodes on 304, a fresh state file otherwise.
 */
export async function pollFeed(location: string, config: Config, data: string | ArtifactStore, opts: LoadFeedOptions = {}): Promise<PolledFeed> {
  const dataDir = data instanceof ArtifactStore ? data.dataDir : data;
  const where = normalizeFeedLocation(location);
  const feedId = feedIdOf(where);
  const state = await readFeedState(dataDir, feedId);
  let loaded = await loadFeed(where, config, state?.validators ?? {}, opts);
  if (loaded.notModified && state) {
    return {
      feedId,
      location: where,
      feed: { ...state.feed, episodes: state.episodes },
      episodes: state.episodes,
      notModified: true,
      fromCache: true,
      warnings: state.warnings,
      finalUrl: loaded.finalUrl,
    };
  }
  if (loaded.notModified) loaded = await loadFeed(where, config, {}, opts);
  const feed = loaded.feed as ParsedFeed;
  const episodes = loaded.episodes as FeedEpisode[];
  const { episodes: _parsed, ...feedMeta } = feed;
  const next: FeedState = {
    schema_version: 1,
    location: where,
    feed_id: feedId,
    fetched_at: new Date().toISOString(),
    final_url: loaded.finalUrl,
    validators: loaded.validators,
    feed: feedMeta,
    episodes,
    warnings: loaded.warnings,
  };
  await writeFeedState(dataDir, next);
  return { feedId, location: where, feed, episodes, notModified: false, fromCache: false, warnings: loaded.warnings, finalUrl: loaded.finalUrl };
}
