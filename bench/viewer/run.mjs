#!/usr/bin/env node
// Viewer figures (issue 7), one command: `npm run bench:viewer`.
//
// 1. Initial JavaScript: builds web/ and sums the gzip size of what the first page load
//    fetches (the entry chunk and its static imports, from Vite's build manifest), next to
//    the lazily loaded chunks (episode page, Cytoscape graph).
// 2. A 3-hour episode page (2,500 segments) in headless Debian Chromium via playwright-core:
//    time to the first transcript line, and frame times / long tasks while scrolling the
//    transcript end to end. Baseline in the same run: the same app built with the windowed
//    TranscriptList swapped for a plain v-for over every segment (PlainTranscriptList.vue).
//
// 3. With BENCH_BEFORE=<git ref> (e.g. `BENCH_BEFORE=e22b883 npm run bench:viewer`): the same page built from
//    that commit's web/ (a detached git worktree with this checkout's node_modules linked in), alternated with
//    this tree's in the same run — the after / before ratio that says whether a change made the page slower.
//
// Results: printed as Markdown, and written to bench/results/viewer.json.
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { build } from 'vite';

const ROOT = path.resolve(import.meta.dirname, '../..');
const WEB = path.join(ROOT, 'web');
const OUT = path.join(ROOT, '.tmp/bench-viewer');
const RESULTS = path.join(ROOT, 'bench/results');
const SEGMENTS = Number(process.env.BENCH_SEGMENTS ?? 2500);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCROLL_STEPS = Number(process.env.BENCH_SCROLL_STEPS ?? 400);
const WHEEL_FRAMES = Number(process.env.BENCH_WHEEL_FRAMES ?? 300);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const BEFORE = process.env.BENCH_BEFORE ?? '';

// ---------- builds ----------
async function buildVariant(name, alias = [], web = WEB) {
  const outDir = path.join(OUT, name);
  await build({
    root: web,
    configFile: path.join(web, 'vite.config.ts'),
    logLevel: 'warn',
    base: `/${name}/`,
    build: { outDir, emptyOutDir: true, manifest: true },
    resolve: { alias },
  });
  return outDir;
}

/** `ref`'s tree as a detached worktree under .tmp/ sharing this checkout's node_modules (made afresh each run). */
function checkoutBefore(ref) {
  const dir = path.join(OUT, 'before-src');
  const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  try {
    git('worktree', 'remove', '--force', dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
  git('worktree', 'prune');
  git('worktree', 'add', '--detach', '--quiet', dir, ref);
  for (const nm of ['node_modules', 'web/node_modules']) if (existsSync(path.join(ROOT, nm))) symlinkSync(path.join(ROOT, nm), path.join(dir, nm));
  return { dir, commit: git('rev-parse', '--short', ref), remove: () => git('worktree', 'remove', '--force', dir) };
}

function initialJs(outDir) {
  const manifest = JSON.parse(readFileSync(path.join(outDir, '.vite/manifest.json'), 'utf8'));
  const gz = (file) => zlib.gzipSync(readFileSync(path.join(outDir, file))).length;
  const seen = new Set();
  const walk = (key) => {
    if (seen.has(key)) return;
    seen.add(key);
    for (const i of manifest[key].imports ?? []) walk(i);
  };
  const entry = Object.keys(manifest).find((k) => manifest[k].isEntry);
  walk(entry);
  const files = [...seen].map((k) => manifest[k].file);
  const lazy = Object.entries(manifest)
    .filter(([k, v]) => v.isDynamicEntry && !seen.has(k))
    .map(([k, v]) => ({ chunk: v.name ?? k, gzip_bytes: gz(v.file) }))
    .sort((a, b) => b.gzip_bytes - a.gzip_bytes);
  return { files, gzip_bytes: files.reduce((n, f) => n + gz(f), 0), raw_bytes: files.reduce((n, f) => n + statSync(path.join(outDir, f)).size, 0), lazy };
}

// ---------- a minimal api for one long episode + the built app ----------
const WORDS = 'so the thing about compilers is that every pass wants its own view of the program and the trick is keeping them honest'.split(' ');
const segments = Array.from({ length: SEGMENTS }, (_, i) => {
  const len = 8 + ((i * 7) % 30);
  return { start_ms: i * 4300, end_ms: i * 4300 + 4200, text: `${i}: ${Array.from({ length: len }, (_, j) => WORDS[(i + j) % WORDS.length]).join(' ')}`, speaker: i % 3 ? 'Guest' : 'Host' };
});
const KEY = 'long-ep1';
const episode = { episode_key: KEY, feed_id: 'long', feed_title: 'Long Talks', title: 'A three-hour conversation', published_at: '2026-11-20T10:00:00Z', duration_s: Math.round((SEGMENTS * 4300) / 1000), state: 'done', state_reason: null, failed_stage: null, updated_at: '2026-11-20T10:00:00Z', description: null, image: null, enclosure_url: null, audio_url: null };
const API = {
  [`/api/episodes/${KEY}`]: episode,
  [`/api/episodes/${KEY}/transcript`]: { engine: 'whisper-cpp', model: 'base.en', language: 'en', status: 'valid', speech_coverage: 0.95, segments },
  [`/api/episodes/${KEY}/summary`]: { title: episode.title, bullets: ['A long talk.'], key_quotes: [], status: 'valid', method: 'extractive' },
  [`/api/episodes/${KEY}/insights`]: { insights: [] },
};
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

function serve(dirs) {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const [variant, ...rest] = url.split('/').filter(Boolean);
    const p = variant === 'api' ? url : `/${rest.join('/')}`;
    if (p === '/api/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': hi\n\n');
      return;
    }
    if (p.startsWith('/api/')) {
      const body = API[p];
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? { error: { code: 'not_found', message: p } }));
      return;
    }
    const dir = dirs[variant];
    let file = dir && path.join(dir, p);
    if (!file || !existsSync(file) || statSync(file).isDirectory()) file = dir && path.join(dir, 'index.html');
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------- measurement in the page ----------
function instrument() {
  const b = (window.__bench = { longTasks: [], firstLine: null });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) b.longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const mo = new MutationObserver(() => {
    if (b.firstLine === null && document.querySelector('[data-testid=transcript] [data-index="0"]')) {
      mo.disconnect();
      b.firstLine = -1;
      // The frame after the line entered the DOM is the one that paints it.
      requestAnimationFrame(() => (b.firstLine = performance.now()));
    }
  });
  mo.observe(document, { childList: true, subtree: true });
}

/** `steps` frames; each frame scrolls `px` pixels, or (px = 0) 1/steps of the whole list. */
async function scrollFrames({ steps, px }) {
  const vp = document.querySelector('[data-testid=transcript]');
  const start = vp.scrollTop;
  const frames = [];
  const t0 = performance.now();
  await new Promise((resolve) => {
    let i = 0;
    let last = performance.now();
    const tick = (t) => {
      frames.push(t - last);
      last = t;
      i++;
      vp.scrollTop = px ? start + px * i : Math.round(((vp.scrollHeight - vp.clientHeight) * i) / steps);
      if (i < steps) requestAnimationFrame(tick);
      else requestAnimationFrame(() => requestAnimationFrame(resolve));
    };
    requestAnimationFrame((t) => {
      last = t;
      requestAnimationFrame(tick);
    });
  });
  const t1 = performance.now();
  const longTasks = window.__bench.longTasks.filter((l) => l.start >= t0 && l.start <= t1);
  return {
    frames: frames.slice(1),
    duration_ms: t1 - t0,
    long_tasks: longTasks.length,
    long_task_ms: longTasks.reduce((n, l) => n + l.duration, 0),
    last_index: Math.max(...[...vp.querySelectorAll('[data-index]')].map((r) => Number(r.dataset.index))),
    rows_in_dom: vp.querySelectorAll('[data-index]').length,
    dom_elements: document.getElementsByTagName('*').length,
  };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);

async function measureOnce(browser, origin, variant, cpuSlowdown, { serviceWorkers = 'allow' } = {}) {
  {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, serviceWorkers });
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    if (cpuSlowdown > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: cpuSlowdown });
    await cdp.send('Performance.enable');
    // Main-thread work (script, style + layout) Chromium accounted between two points, in ms.
    const work = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value * 1000]));
    const workBetween = (a, z) => ({ script: z.ScriptDuration - a.ScriptDuration, layout: z.LayoutDuration - a.LayoutDuration + z.RecalcStyleDuration - a.RecalcStyleDuration });
    await page.addInitScript(instrument);
    await page.goto(`${origin}/${variant}/episodes/${KEY}`);
    await page.waitForFunction(() => window.__bench.firstLine > 0, null, { timeout: 120_000 });
    const firstLine = await page.evaluate(() => window.__bench.firstLine);
    const loadLongTasks = await page.evaluate(() => window.__bench.longTasks.reduce((m, l) => Math.max(m, l.duration), 0));
    await page.waitForTimeout(300);
    // Wheel speed first (120 px a frame, as a fast mouse wheel or a flick on a phone), then a fling end to end.
    const w0 = await work();
    const w = await page.evaluate(scrollFrames, { steps: WHEEL_FRAMES, px: 120 });
    const wWork = workBetween(w0, await work());
    await page.evaluate(() => (document.querySelector('[data-testid=transcript]').scrollTop = 0));
    await page.waitForTimeout(300);
    const s0 = await work();
    const s = await page.evaluate(scrollFrames, { steps: SCROLL_STEPS, px: 0 });
    const sWork = workBetween(s0, await work());
    if (s.last_index !== SEGMENTS - 1) throw new Error(`${variant}: scrolling ended at row ${s.last_index}, not ${SEGMENTS - 1}`);
    await ctx.close();
    return {
      first_line_ms: firstLine,
      longest_task_while_loading_ms: loadLongTasks,
      wheel_frame_p50_ms: pct(w.frames, 50),
      wheel_frame_p95_ms: pct(w.frames, 95),
      wheel_frame_max_ms: Math.max(...w.frames),
      wheel_frames_over_33ms: w.frames.filter((f) => f > 33.4).length,
      wheel_long_task_ms: w.long_task_ms,
      wheel_script_ms: wWork.script,
      wheel_style_layout_ms: wWork.layout,
      fling_script_ms: sWork.script,
      fling_style_layout_ms: sWork.layout,
      frame_p50_ms: pct(s.frames, 50),
      frame_p95_ms: pct(s.frames, 95),
      frame_max_ms: Math.max(...s.frames),
      frames_over_33ms: s.frames.filter((f) => f > 33.4).length,
      frames: s.frames.length,
      long_tasks: s.long_tasks,
      long_task_ms: s.long_task_ms,
      rows_in_dom: s.rows_in_dom,
      dom_elements: s.dom_elements,
    };
  }
}

function summarise(runs) {
  const agg = {};
  for (const k of Object.keys(runs[0])) agg[k] = median(runs.map((x) => x[k]));
  return { median: agg, runs };
}

// ---------- main ----------
mkdirSync(OUT, { recursive: true });
console.log(`building the viewer (windowed transcript) and the baseline (plain list)…`);
const appDir = await buildVariant('app');
const baseDir = await buildVariant('baseline', [{ find: /^\.\.\/components\/TranscriptList\.vue$/, replacement: path.join(import.meta.dirname, 'PlainTranscriptList.vue') }]);
const js = initialJs(appDir);
let before = null;
if (BEFORE) {
  const src = checkoutBefore(BEFORE);
  try {
    console.log(`building the viewer at ${BEFORE} (${src.commit}) for the after / before comparison…`);
    const dir = await buildVariant('before', [], path.join(src.dir, 'web'));
    before = { ref: BEFORE, commit: src.commit, dir, js: initialJs(dir) };
  } finally {
    src.remove();
  }
}

const server = await serve({ app: appDir, baseline: baseDir, ...(before ? { before: before.dir } : {}) });
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
const chromiumVersion = browser.version();
// Desktop speed, and a phone-class CPU (DevTools CPU throttling, 4× slower).
const SLOWDOWNS = (process.env.BENCH_CPU_SLOWDOWNS ?? '1,4').split(',').map(Number);
const results = {};
try {
  for (const slow of SLOWDOWNS) {
    const runs = { virtual: [], baseline: [], noSw: [], before: [] };
    // Alternate the builds so background load on a shared box hits them alike.
    for (let r = 0; r < RUNS; r++) {
      const order = [
        async () => runs.virtual.push(await measureOnce(browser, origin, 'app', slow)),
        async () => runs.baseline.push(await measureOnce(browser, origin, 'baseline', slow)),
        // The same app with its service worker blocked (issue 18): what registering and precaching the shell costs a first visit.
        async () => runs.noSw.push(await measureOnce(browser, origin, 'app', slow, { serviceWorkers: 'block' })),
        ...(before ? [async () => runs.before.push(await measureOnce(browser, origin, 'before', slow))] : []),
      ];
      // Each round starts with another build, so none is always the first page the browser opens.
      for (let i = 0; i < order.length; i++) await order[(i + r) % order.length]();
      process.stdout.write(`cpu ${slow}×: run ${r + 1}/${RUNS} done\n`);
    }
    results[slow] = { virtual: summarise(runs.virtual), baseline: summarise(runs.baseline), no_service_worker: summarise(runs.noSw), ...(before ? { before: summarise(runs.before) } : {}) };
  }
} finally {
  await browser.close();
  server.close();
}

const ratio = (x, y) => (y ? x / y : NaN);
const f1 = (n) => n.toFixed(1);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const out = { date: new Date().toISOString(), chromium: chromiumVersion, segments: SEGMENTS, runs: RUNS, scroll_steps: SCROLL_STEPS, initial_js: js, ...(before ? { before: { ref: before.ref, commit: before.commit, initial_js: before.js } } : {}), scenarios: {} };
for (const [slow, r] of Object.entries(results)) {
  const v = r.virtual.median;
  const b = r.baseline.median;
  out.scenarios[`cpu_${slow}x`] = {
    ...r,
    ratios: {
      first_line: ratio(v.first_line_ms, b.first_line_ms),
      longest_task_while_loading: ratio(v.longest_task_while_loading_ms, b.longest_task_while_loading_ms),
      frame_p95: ratio(v.frame_p95_ms, b.frame_p95_ms),
      wheel_frame_p95: ratio(v.wheel_frame_p95_ms, b.wheel_frame_p95_ms),
      long_task_ms_while_scrolling: ratio(v.long_task_ms, b.long_task_ms),
      first_line_with_vs_without_service_worker: ratio(v.first_line_ms, r.no_service_worker.median.first_line_ms),
      ...(r.before
        ? {
            first_line_after_vs_before: ratio(v.first_line_ms, r.before.median.first_line_ms),
            longest_task_while_loading_after_vs_before: ratio(v.longest_task_while_loading_ms, r.before.median.longest_task_while_loading_ms),
          }
        : {}),
    },
  };
}
mkdirSync(RESULTS, { recursive: true });
writeFileSync(path.join(RESULTS, 'viewer.json'), `${JSON.stringify(out, null, 2)}\n`);

console.log(`\n### Initial JavaScript (gzip)\n`);
console.log(`first page load: **${kb(js.gzip_bytes)}** gzip (${kb(js.raw_bytes)} raw) in ${js.files.length} file(s): ${js.files.join(', ')} — goal ≤ 200 KB`);
console.log(`lazy chunks: ${js.lazy.map((l) => `${l.chunk} ${kb(l.gzip_bytes)}`).join(', ')}`);
if (before) console.log(`before (${before.ref} = ${before.commit}): ${kb(before.js.gzip_bytes)} gzip — after / before ×${(js.gzip_bytes / before.js.gzip_bytes).toFixed(2)}`);
console.log(`\n### 3-hour episode page, ${SEGMENTS} segments (median of ${RUNS} runs each)\n`);
console.log(`wheel: ${WHEEL_FRAMES} frames at 120 px/frame; fling: the whole transcript, end to end, in ${SCROLL_STEPS} frames.\n`);
console.log(`| CPU | transcript list | first line (ms) | longest task while loading (ms) | wheel frame p50 / p95 / max (ms) | wheel frames > 33 ms | wheel main-thread script / style+layout (ms) | fling frame p50 / p95 / max (ms) | fling frames > 33 ms | fling long tasks (count / ms) | fling main-thread script / style+layout (ms) | rows in DOM | DOM elements |`);
console.log(`|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
for (const [key, sc] of Object.entries(out.scenarios)) {
  const rows = [['windowed (TranscriptList)', sc.virtual.median], ['baseline: plain v-for', sc.baseline.median], ['windowed, service worker blocked', sc.no_service_worker.median]];
  if (sc.before) rows.push([`before: ${before.ref} (${before.commit})`, sc.before.median]);
  for (const [name, m] of rows) {
    console.log(`| ${key.replace('cpu_', '')} | ${name} | ${f1(m.first_line_ms)} | ${f1(m.longest_task_while_loading_ms)} | ${f1(m.wheel_frame_p50_ms)} / ${f1(m.wheel_frame_p95_ms)} / ${f1(m.wheel_frame_max_ms)} | ${m.wheel_frames_over_33ms} / ${WHEEL_FRAMES} | ${f1(m.wheel_script_ms)} / ${f1(m.wheel_style_layout_ms)} | ${f1(m.frame_p50_ms)} / ${f1(m.frame_p95_ms)} / ${f1(m.frame_max_ms)} | ${m.frames_over_33ms} / ${m.frames} | ${m.long_tasks} / ${f1(m.long_task_ms)} | ${f1(m.fling_script_ms)} / ${f1(m.fling_style_layout_ms)} | ${m.rows_in_dom} | ${m.dom_elements} |`);
  }
}
console.log('');
for (const [key, sc] of Object.entries(out.scenarios)) {
  const r = sc.ratios;
  const x = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a (baseline had none)');
  console.log(`ratios windowed / baseline at ${key.replace('cpu_', 'CPU ')}: first line ${x(r.first_line)}, longest task while loading ${x(r.longest_task_while_loading)}, wheel frame p95 ${x(r.wheel_frame_p95)}, fling frame p95 ${x(r.frame_p95)}, long-task time while scrolling ${x(r.long_task_ms_while_scrolling)}; first line with / without the service worker ${x(r.first_line_with_vs_without_service_worker)}`);
  if (r.first_line_after_vs_before !== undefined) console.log(`after / before (${before.ref}) at ${key.replace('cpu_', 'CPU ')}: first line ${x(r.first_line_after_vs_before)}, longest task while loading ${x(r.longest_task_while_loading_after_vs_before)}`);
}
console.log(`\nwritten: ${path.relative(ROOT, path.join(RESULTS, 'viewer.json'))}`);
