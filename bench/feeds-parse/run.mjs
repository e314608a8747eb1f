#!/usr/bin/env node
// Feed parsing figure: throughput of podbrain's parseFeed against rss-parser on the same fixture feeds, and
// how many podcastparser edge cases each gets right (same comparison as services/test/feeds-accuracy.test.ts).
// Needs the compiled services: `npm run build -w services`, then `npm run bench:feeds-parse`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareWithExpected, listEdgeCases, viewOfParsedFeed } from './compare.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const distParse = path.join(root, 'services/dist/feeds/parse.js');
if (!existsSync(distParse)) {
  console.error(`missing ${distParse}: run "npm run build -w services" first`);
  process.exit(2);
}
const { parseFeed } = require(distParse);
const RssParser = require('rss-parser');
const rssParserPkg = JSON.parse(readFileSync(require.resolve('rss-parser/package.json'), 'utf8'));

const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const realDir = path.join(fixtures, 'feeds/real');
const edgeDir = path.join(fixtures, 'feeds/edge');
const SECONDS_PER_PARSER = Number(process.env.BENCH_SECONDS ?? 4);

const rssParser = new RssParser({ customFields: { item: [['podcast:transcript', 'transcripts', { keepArray: true }]] } });

/** podcastparser-style h:m:s → seconds for rss-parser's raw itunes:duration string. */
function hmsToSeconds(raw) {
  const m = /^\s*(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?(?:\.\d+)?\s*$/.exec(raw ?? '');
  if (!m) return null;
  return [m[1], m[2], m[3]].filter((p) => p !== undefined).reduce((acc, p) => acc * 60 + Number(p), 0);
}

function viewOfRssParser(feed) {
  return {
    title: feed.title ?? '',
    coverUrl: feed.itunes?.image ?? feed.image?.url ?? null,
    serial: feed.itunes?.type === 'serial',
    episodes: (feed.items ?? []).map((i) => ({
      guid: typeof i.guid === 'string' ? i.guid.trim() : (i.guid?._ ?? null),
      title: i.title ?? '',
      link: i.link ?? null,
      enclosureUrl: i.enclosure?.url ?? null,
      published: i.isoDate ? Math.floor(Date.parse(i.isoDate) / 1000) : null,
      durationS: hmsToSeconds(i.itunes?.duration),
      transcriptUrl: i.transcripts?.length ? i.transcripts[i.transcripts.length - 1].$?.url ?? null : null,
    })),
  };
}

const parsers = {
  podbrain: { version: 'services/dist', parse: async (xml, opts) => viewOfParsedFeed(parseFeed(xml, opts)) },
  'rss-parser': { version: rssParserPkg.version, parse: async (xml) => viewOfRssParser(await rssParser.parseString(xml.toString('utf8'))) },
};

async function tryParse(name, xml, opts = {}) {
  try {
    return { view: await parsers[name].parse(xml, opts) };
  } catch (e) {
    return { error: String(e.message ?? e).split('\n')[0] };
  }
}

// ---- corpus: every real feed + every edge input; throughput on those both parse ----
const corpus = [
  ...readdirSync(realDir).filter((f) => f.endsWith('.xml')).map((f) => ({ name: `real/${f}`, xml: readFileSync(path.join(realDir, f)) })),
  ...readdirSync(edgeDir).filter((f) => f.endsWith('.rss')).map((f) => ({ name: `edge/${f}`, xml: readFileSync(path.join(edgeDir, f)) })),
];
const failures = { podbrain: [], 'rss-parser': [] };
const shared = [];
for (const doc of corpus) {
  const ok = {};
  for (const name of Object.keys(parsers)) {
    const r = await tryParse(name, doc.xml);
    if (r.error) failures[name].push(`${doc.name}: ${r.error}`);
    ok[name] = r.view;
  }
  if (ok.podbrain && ok['rss-parser']) shared.push({ ...doc, items: ok.podbrain.episodes.length });
}
const sharedItems = shared.reduce((n, d) => n + d.items, 0);
const sharedBytes = shared.reduce((n, d) => n + d.xml.length, 0);

async function throughput(name) {
  const parse = parsers[name].parse;
  for (const d of shared) await parse(d.xml); // warm-up
  let passes = 0;
  const started = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < SECONDS_PER_PARSER) {
    for (const d of shared) await parse(d.xml);
    passes++;
    elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  }
  return { passes, seconds: elapsed, itemsPerSecond: (passes * sharedItems) / elapsed, mbPerSecond: (passes * sharedBytes) / elapsed / 1e6 };
}

// Interleave twice so neither parser gets a systematically warmer machine.
const runs = { podbrain: [], 'rss-parser': [] };
for (let round = 0; round < 2; round++) for (const name of Object.keys(parsers)) runs[name].push(await throughput(name));
const best = (name) => runs[name].reduce((a, b) => (b.itemsPerSecond > a.itemsPerSecond ? b : a));

// ---- accuracy on podcastparser's edge cases ----
const accuracy = {};
for (const name of Object.keys(parsers)) {
  const a = { cases: 0, right: 0, fields: 0, matched: 0, excused: 0, failed: 0 };
  for (const c of listEdgeCases(edgeDir)) {
    a.cases++;
    const r = await tryParse(name, c.xml, { baseUrl: c.baseUrl, ...c.params });
    if (r.error) {
      a.failed++;
      continue;
    }
    const o = compareWithExpected(r.view, c.expected);
    a.fields += o.fields;
    a.matched += o.matched;
    a.excused += o.excused;
    if (o.mismatches.length === 0) a.right++;
  }
  accuracy[name] = a;
}

// ---- report ----
const ours = best('podbrain');
const theirs = best('rss-parser');
console.log(`Feed parsing benchmark (${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version})`);
console.log(`corpus: ${corpus.length} documents; ${shared.length} parsed by both (${sharedItems} items, ${(sharedBytes / 1e6).toFixed(2)} MB) used for throughput`);
for (const name of Object.keys(parsers)) {
  const b = best(name);
  console.log(
    `  ${name.padEnd(10)} ${parsers[name].version.padEnd(13)} ${b.itemsPerSecond.toFixed(0).padStart(8)} items/s  ${b.mbPerSecond.toFixed(2).padStart(6)} MB/s  (${b.passes} passes in ${b.seconds.toFixed(1)} s, best of ${runs[name].length})`,
  );
}
console.log(`  throughput ratio podbrain / rss-parser: ${(ours.itemsPerSecond / theirs.itemsPerSecond).toFixed(2)}x`);
console.log(`edge cases (podcastparser expected output, same comparison as the accuracy test):`);
for (const [name, a] of Object.entries(accuracy)) {
  console.log(
    `  ${name.padEnd(10)} ${a.right}/${a.cases} cases fully right, fields ${a.matched + a.excused}/${a.fields} (${a.excused} by listed deviations), ${a.failed} failed to parse`,
  );
}
for (const [name, list] of Object.entries(failures)) {
  if (list.length) console.log(`documents ${name} could not parse:\n    ${list.join('\n    ')}`);
}
