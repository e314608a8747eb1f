#!/usr/bin/env node
// Feed polling figure (issue 2): 1,000 feeds from a local server (real fixture feeds, varied), FEED_POLL_CONCURRENCY
// (16) at a time through podbrain's pollFeed (SSRF guard, conditional GET, parse, identity, feed state on disk).
// Pass 1: everything new. Pass 2: every feed answers 304 and the episodes come from the feed state.
// Baseline in the same run: the same requests with a bare keep-alive HTTP GET that reads the body and nothing else.
// Usage: npm run build -w services && npm run bench:feed-poll [-- --feeds 1000 --concurrency 16]
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'services/package.json'));
const dist = path.join(root, 'services/dist');
if (!existsSync(path.join(dist, 'feeds/load.js'))) {
  console.error('missing services/dist: run "npm run build -w services" first');
  process.exit(2);
}
const { pollFeed } = require(path.join(dist, 'feeds/load.js'));
const { loadConfig } = require(path.join(dist, 'config/config.js'));
const { httpClientFor } = require(path.join(dist, 'net/http-client.js'));

const { values } = parseArgs({ options: { feeds: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '16' } } });
const N = Number(values.feeds);
const C = Number(values.concurrency);
const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');

const server = fork(path.join(here, 'server.mjs'), [path.join(fixtures, 'feeds/real')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const { port, feeds: distinct } = await new Promise((resolve) => server.once('message', resolve));
const urls = Array.from({ length: N }, (_, i) => `http://127.0.0.1:${port}/feed/${i}.xml`);
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-bench-poll-'));
const config = loadConfig({ env: { ALLOW_PRIVATE_NETWORK: 'true', DATA_DIR: dataDir, FEED_POLL_CONCURRENCY: String(C), LOG_LEVEL: 'silent' } });
const client = httpClientFor(config);

async function pool(fn) {
  let next = 0;
  const out = new Array(N);
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < N) {
      const i = next++;
      out[i] = await fn(urls[i], i);
    }
  }));
  return out;
}

async function timed(label, fn) {
  const t0 = performance.now();
  const result = await fn();
  const s = (performance.now() - t0) / 1000;
  return { label, s, result };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: C });
const bareGet = (url) =>
  new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve(bytes));
    }).on('error', reject);
  });

const baseline = await timed('bare GET (baseline)', () => pool(bareGet));
const first = await timed('pass 1 (new)', () => pool((u) => pollFeed(u, config, dataDir, { client })));
const second = await timed('pass 2 (all 304)', () => pool((u) => pollFeed(u, config, dataDir, { client })));
server.send('stats');
const stats = await new Promise((resolve) => server.once('message', resolve));
server.kill();
agent.destroy();
rmSync(dataDir, { recursive: true, force: true });

const episodes = first.result.reduce((n, r) => n + r.episodes.length, 0);
const bytes = baseline.result.reduce((n, b) => n + b, 0);
const all304 = second.result.every((r) => r.notModified && r.fromCache);
const sameEpisodes = second.result.every((r, i) => r.episodes.length === first.result[i].episodes.length);
const mb = (bytes / 2 ** 20).toFixed(0);
console.log(`machine: ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
console.log(`${N} feeds (${distinct} distinct fixture feeds, ${mb} MiB, ${episodes} episodes), ${C} at a time`);
console.log(`baseline bare GET:        ${baseline.s.toFixed(2)} s`);
console.log(`pass 1 (fetch+parse+key): ${first.s.toFixed(2)} s   goal ≤ 30 s   ${(episodes / first.s).toFixed(0)} episodes/s   ${(first.s / baseline.s).toFixed(2)}× the bare GET`);
console.log(`pass 2 (all 304):         ${second.s.toFixed(2)} s   goal ≤ 5 s    all 304 from cache: ${all304}, same episodes: ${sameEpisodes}`);
console.log(`server: ${stats.served} full responses, ${stats.notModified} × 304`);
if (!all304 || !sameEpisodes || first.s > 30 || second.s > 5) process.exitCode = 1;
