// Field-by-field comparison of a feed parse against podcastparser's expected output
// (fixtures/feeds/edge/NAME.json). Shared by services/test/feeds-accuracy.test.ts and bench/feeds-parse/run.mjs.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

/**
 * podcastparser's own test harness parses `tests/data/NAME.rss` as `file://tests/data/NAME.rss`; that URL is
 * the base for relative links and the default channel title (the file's base name).
 */
export const edgeBaseUrl = (name) => `file://tests/data/${name}.rss`;

/** Parameters podcastparser's test harness passes for a case (tests/data/NAME.param.json upstream). */
export const EDGE_PARAMS = { max_episodes: { maxEpisodes: 1 } };

export function listEdgeCases(edgeDir) {
  return readdirSync(edgeDir)
    .filter((f) => f.endsWith('.rss') && existsSync(path.join(edgeDir, f.replace(/\.rss$/, '.json'))))
    .map((f) => f.replace(/\.rss$/, ''))
    .sort()
    .map((name) => ({
      name,
      baseUrl: edgeBaseUrl(name),
      xml: readFileSync(path.join(edgeDir, `${name}.rss`)),
      expected: JSON.parse(readFileSync(path.join(edgeDir, `${name}.json`), 'utf8')),
      params: EDGE_PARAMS[name] ?? {},
    }));
}

/**
 * Deviations: places where podbrain deliberately means something else than podcastparser. Each rule matches
 * one precise pattern, never a plain mismatch.
 */
export const DEVIATIONS = [
  {
    id: 'guid-not-resolved-as-url',
    field: 'guid',
    reason:
      'podcastparser resolves a <guid> without isPermaLink="false" as a URL relative to the feed location; ' +
      'podbrain keeps the trimmed <guid> text so episode identity does not depend on where the feed was fetched from',
    // ours is a relative reference and expected is that reference made absolute (against the feed URL or xml:base)
    applies: ({ ours, expected }) =>
      typeof ours.guid === 'string' && !ABSOLUTE_URL.test(ours.guid) && ABSOLUTE_URL.test(expected.guid ?? '') && expected.guid.endsWith(`/${ours.guid}`),
  },
  {
    id: 'no-invented-guid',
    field: 'guid',
    reason:
      'podcastparser invents a guid from <link> or the enclosure URL when <guid> is absent; podbrain keeps guid null ' +
      'and the episode key falls back to sha256(feed url + title + pubDate) (ARCHITECTURE §2)',
    applies: ({ ours, expected }) => ours.guid === null && (expected.guid === ours.link || expected.guid === ours.enclosureUrl),
  },
];

const ABSOLUTE_URL = /^[a-z][a-z0-9+.-]*:\/\//i;

/** podcastparser's episode order: newest first by published (0 when unknown), oldest first for serial shows; stable. */
function podcastparserOrder(episodes, serial) {
  const dir = serial ? -1 : 1;
  return episodes
    .map((e, i) => ({ e, i }))
    .sort((a, b) => dir * ((b.e.published ?? 0) - (a.e.published ?? 0)) || a.i - b.i)
    .map((x) => x.e);
}

/**
 * A parser-neutral view: {title, coverUrl, serial (itunes:type serial), episodes:[{guid, title, link, enclosureUrl, published (unix s|null),
 * durationS (s|null), transcriptUrl (last podcast:transcript, as podcastparser keeps the last)}]}.
 */
export function viewOfParsedFeed(feed) {
  return {
    title: feed.title,
    coverUrl: feed.image,
    serial: feed.showType === 'serial',
    episodes: feed.episodes.map((e) => ({
      guid: e.guid,
      title: e.title,
      link: e.link,
      enclosureUrl: (e.enclosures ?? (e.enclosure ? [e.enclosure] : []))[0]?.url ?? null,
      published: e.published ? Math.floor(Date.parse(e.published) / 1000) : null,
      durationS: e.durationS,
      transcriptUrl: e.transcripts.length ? e.transcripts[e.transcripts.length - 1].url : null,
    })),
  };
}

const same = (a, b) => a === b;

/**
 * Compares a view with the expected podcastparser output. Returns {fields, matched, excused, mismatches, excuses}:
 * `fields` counts what the expected output defines (channel title, cover URL where defined, episode count, and per expected episode:
 * guid, title, first enclosure url, published, duration, and transcript url where defined).
 */
export function compareWithExpected(view, expected) {
  const result = { fields: 0, matched: 0, excused: 0, mismatches: [], excuses: [] };
  const check = (where, field, ours, want, ctx) => {
    result.fields++;
    if (same(ours, want)) {
      result.matched++;
      return;
    }
    const rule = ctx && DEVIATIONS.find((d) => d.field === field && d.applies(ctx));
    if (rule) {
      result.excused++;
      result.excuses.push({ where, field, ours, expected: want, rule: rule.id });
    } else {
      result.mismatches.push({ where, field, ours, expected: want });
    }
  };
  check('channel', 'title', view.title, expected.title);
  if ('cover_url' in expected) check('channel', 'cover url', view.coverUrl, expected.cover_url);
  const wantEpisodes = expected.episodes ?? [];
  check('channel', 'episode count', view.episodes.length, wantEpisodes.length);
  const ours = podcastparserOrder(view.episodes, view.serial);
  wantEpisodes.forEach((want, i) => {
    const got = ours[i] ?? {};
    const where = `episodes[${i}]`;
    check(where, 'guid', got.guid, want.guid, { ours: got, expected: want });
    check(where, 'title', got.title, want.title);
    check(where, 'enclosure url', got.enclosureUrl, want.enclosures?.[0]?.url ?? null);
    check(where, 'published', got.published ?? 0, want.published ?? 0);
    check(where, 'duration', got.durationS ?? 0, want.total_time ?? 0);
    if ('transcript_url' in want) check(where, 'transcript url', got.transcriptUrl, want.transcript_url);
  });
  return result;
}
