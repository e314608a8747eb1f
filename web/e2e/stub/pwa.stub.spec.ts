// Installable (issue 18): the web app manifest, the service worker (app shell and opened episode
// pages offline) and no layout shift while pages load — in Debian Chromium against the built
// viewer (web/dist: the worker exists only in a production build) and the contract stub.
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, type Page } from '@playwright/test';
import { startAppServer } from '../support/app-server';
import { checkManifest, controlled } from '../support/pwa';
import { DIST_DIR } from '../support/paths';
import { screenshot } from '../support/screens';
import { stubDigest, type StubApi } from '../support/stub-api';
import { stubTest } from '../support/stub-test';

const test = stubTest(100);

const FEED = 'http://127.0.0.1:9/show/feed.xml';
const TITLE = 'Ask not what your country can do for you';
const row = (page: Page, i: number) => page.locator(`[data-testid=transcript] [data-index="${i}"]`);

async function processedEpisode(stub: StubApi): Promise<string> {
  const feed = stub.addFeed(FEED);
  const key = `${feed.id}-ep1`;
  await expect.poll(() => stub.episodes.get(key)?.detail.state).toBe('done');
  return key;
}

test('pwa stub: the manifest is linked and valid, its icons are there at their sizes', async ({ page, request }) => {
  await page.goto('/');
  await checkManifest(page, request);
  const sw = await request.get('/sw.js');
  expect(sw.status()).toBe(200);
  expect(sw.headers()['content-type']).toContain('javascript');
  const body = await sw.text();
  // The build wrote its shell into the worker: index.html and the entry chunk of this build.
  const entry = await page.locator('script[type=module]').getAttribute('src');
  expect(body).toContain('"index.html"');
  expect(body).toContain(JSON.stringify(entry!.slice(1)));
  expect(body).not.toContain('__SHELL__');
});

test('pwa stub: the service worker activates, controls the page after a reload and precaches the shell', async ({ page }) => {
  await page.goto('/');
  await controlled(page);
  await page.reload();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  const cached = await page.evaluate(async () => {
    const names = await caches.keys();
    const shell = names.find((n) => n.startsWith('podbrain-shell-'));
    const keys = shell ? (await (await caches.open(shell)).keys()).map((r) => new URL(r.url).pathname) : [];
    return { names, keys };
  });
  expect(cached.keys).toContain('/index.html');
  expect(cached.keys).toContain('/manifest.webmanifest');
  expect(cached.keys.filter((k) => k.startsWith('/assets/')).length).toBeGreaterThan(5);
});

test('pwa stub: an episode opened once reads offline after a reload (title, transcript, summary); the event stream and writes are never cached', async ({ page, context, stub }) => {
  const key = await processedEpisode(stub);
  await page.goto('/');
  await controlled(page);
  await page.goto(`/episodes/${key}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(TITLE);
  await expect(row(page, 0)).toContainText('my fellow Americans');
  await expect(page.getByTestId('insights')).toBeVisible();
  // The four reads are in the episode cache (written after the answers, so poll).
  await expect
    .poll(() => page.evaluate(async () => (await (await caches.open('podbrain-episodes-v2-anon')).keys()).map((r) => new URL(r.url).pathname).sort()))
    .toEqual(expect.arrayContaining([`/api/episodes/${key}`, `/api/episodes/${key}/transcript`, `/api/episodes/${key}/summary`]));
  const everything = await page.evaluate(async () => {
    const out: string[] = [];
    for (const n of await caches.keys()) for (const r of await (await caches.open(n)).keys()) out.push(new URL(r.url).pathname);
    return out;
  });
  expect(everything.filter((p) => p.startsWith('/api/events') || p.includes('/audio') || p.startsWith('/api/admin'))).toEqual([]);

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(TITLE);
  await expect(row(page, 0)).toContainText('my fellow Americans');
  await expect(row(page, 2)).toContainText('what your country can do for you');
  await screenshot(page, 'stub-episode-offline');
  // A page never opened has no copy: the app says it could not load, it does not hang.
  await page.goto('/episodes/feed1-ep2');
  await expect(page.getByRole('alert').first()).toBeVisible();
  await context.setOffline(false);
});

test("pwa stub: offline copies are the key's own — another key, or none after \"Forget key\", cannot read them; the next key's visit drops them", async ({ page, context, stub }) => {
  const key = await processedEpisode(stub);
  const setKey = (k: string | null) => page.evaluate((v) => (v ? localStorage.setItem('podbrain.apiKey', v) : localStorage.removeItem('podbrain.apiKey')), k);
  const episodeCaches = () => page.evaluate(async () => (await caches.keys()).filter((n) => n.startsWith('podbrain-episodes-')));
  const readsOffline = async () => {
    await page.reload();
    await expect(page.getByRole('heading', { level: 1 }).or(page.getByRole('alert').first())).toBeVisible();
    return (await page.getByRole('heading', { level: 1, name: TITLE }).count()) === 1;
  };
  await page.goto('/');
  await controlled(page);
  await setKey('key-of-alice');
  await page.goto(`/episodes/${key}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(TITLE);
  await expect.poll(episodeCaches).toEqual([expect.stringMatching(/^podbrain-episodes-v2-[0-9a-f]{24}$/)]);
  const [alice] = await episodeCaches();
  await expect.poll(() => page.evaluate(async (n) => (await (await caches.open(n)).keys()).length, alice)).toBeGreaterThanOrEqual(3);
  // The key itself is not in the cache's name.
  expect(alice).not.toContain('alice');

  await context.setOffline(true);
  expect(await readsOffline()).toBe(true);
  await setKey('key-of-bob');
  expect(await readsOffline()).toBe(false);
  await setKey(null);
  expect(await readsOffline()).toBe(false);
  await setKey('key-of-alice');
  expect(await readsOffline()).toBe(true);

  // Online again, Bob opens an episode: Alice's copies are deleted, his are kept.
  await context.setOffline(false);
  await setKey('key-of-bob');
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(TITLE);
  await expect.poll(episodeCaches).toEqual([expect.stringMatching(/^podbrain-episodes-v2-[0-9a-f]{24}$/)]);
  expect(await episodeCaches()).not.toContain(alice);
  await context.setOffline(true);
  await setKey('key-of-alice');
  expect(await readsOffline()).toBe(false);
  await context.setOffline(false);
});

/** Sums layout-shift entries (not caused by input) from the start of the document. */
async function trackCls(page: Page) {
  await page.addInitScript(() => {
    const w = window as unknown as { __cls: number; __shifts: { value: number; at: number; sources: string[] }[] };
    w.__cls = 0;
    w.__shifts = [];
    new PerformanceObserver((list) => {
      type Rect = { y: number; height: number };
      for (const e of list.getEntries() as (PerformanceEntry & { value: number; hadRecentInput: boolean; sources?: { node?: Node; previousRect: Rect; currentRect: Rect }[] })[]) {
        if (e.hadRecentInput) continue;
        w.__cls += e.value;
        const where = (s: { node?: Node; previousRect: Rect; currentRect: Rect }) =>
          `${s.node instanceof Element ? s.node.outerHTML.slice(0, 60) : String(s.node?.nodeName)} y ${s.previousRect.y}→${s.currentRect.y} h ${s.previousRect.height}→${s.currentRect.height}`;
        w.__shifts.push({ value: e.value, at: Math.round(e.startTime), sources: (e.sources ?? []).map(where) });
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
}
const cls = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as { __cls: number; __shifts: unknown[] };
    return { __cls: w.__cls, __shifts: w.__shifts };
  });

test('pwa stub: no layout shift while the Library, the Episode, a feed\'s and the Digest page load (CLS < 0.1, slow api)', async ({ browser, app, stub }) => {
  const key = await processedEpisode(stub);
  const feedId = stub.episodes.get(key)!.detail.feed_id;
  stub.digests.unshift(stubDigest('1', { created_at: new Date().toISOString() }));
  // No service worker here: every api answer comes through the page's own (delayed) route.
  const context = await browser.newContext({ baseURL: app.origin, serviceWorkers: 'block' });
  const page = await context.newPage();
  await trackCls(page);
  // Every api answer 400 ms late, so the loading states are on screen for a while.
  await page.route('**/api/**', async (route) => {
    if (!route.request().url().includes('/api/events')) await new Promise((r) => setTimeout(r, 400));
    await route.continue();
  });
  for (const [name, path, ready] of [
    ['library', '/', '[data-testid=episode-list]'],
    ['episode', `/episodes/${key}`, '[data-testid=insights]'],
    ['feed page', `/feeds/${encodeURIComponent(feedId)}`, '[data-testid=feed-episodes]'],
    ['digest', '/digests', '[data-testid=clusters]'],
  ] as const) {
    await page.goto(path);
    await expect(page.locator(ready).first()).toBeVisible();
    await page.waitForTimeout(1500);
    const { __cls, __shifts } = await cls(page);
    console.log(`[pwa] CLS ${name}: ${__cls.toFixed(4)}${__shifts.length ? ` ${JSON.stringify(__shifts)}` : ""}`);
    expect(__cls, `${name}: ${JSON.stringify(__shifts)}`).toBeLessThan(0.1);
  }
  await context.close();
});

test('pwa stub: a new build waits, the page offers "New version — reload", and the click swaps the worker', async ({ page, stub }) => {
  // A copy of web/dist this test may change: a "new build" is a different sw.js.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-pwa-'));
  cpSync(DIST_DIR, dir, { recursive: true });
  const app = await startAppServer({ api: stub.handle, distDir: dir });
  try {
    await page.goto(`${app.origin}/`);
    await controlled(page);
    const first = await page.evaluate(async () => (await caches.keys()).find((n) => n.startsWith('podbrain-shell-')));
    const toast = page.getByTestId('update-toast');
    // The same bytes are no update: no toast.
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await page.waitForTimeout(300);
    await expect(toast).toHaveCount(0);

    const sw = path.join(dir, 'sw.js');
    writeFileSync(sw, readFileSync(sw, 'utf8').replace(/const VERSION = "[0-9a-f]+"/, 'const VERSION = "next-build"'));
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await expect(toast).toContainText('New version');
    // It waits: the page is still run by the old worker until asked.
    expect(await page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration())!.waiting)).toBe(true);
    await screenshot(page, 'stub-update-toast');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await Promise.all([page.waitForEvent('load'), toast.getByRole('button', { name: 'reload' }).click()]);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBeUndefined();
    await expect.poll(() => page.evaluate(async () => (await caches.keys()).filter((n) => n.startsWith('podbrain-shell-')))).toEqual(['podbrain-shell-next-build']);
    expect(first).not.toBe('podbrain-shell-next-build');
    await expect(toast).toHaveCount(0);
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A new deploy over `dir`: every hashed file gets a new name (the old ones are gone), and every reference follows. */
function redeploy(dir: string): void {
  const assets = path.join(dir, 'assets');
  const renames = readdirSync(assets).map((f) => [f, f.replace(/-([\w-]{8})\.(js|css)$/, '-$1x.$2')] as const).filter(([a, b]) => a !== b);
  const texts = [...readdirSync(assets).map((f) => path.join(assets, f)), path.join(dir, 'index.html'), path.join(dir, 'sw.js')].filter((f) => /\.(js|css|html)$/.test(f));
  for (const file of texts) {
    let body = readFileSync(file, 'utf8');
    for (const [from, to] of renames) body = body.split(from).join(to);
    writeFileSync(file, body);
  }
  for (const [from, to] of renames) renameSync(path.join(assets, from), path.join(assets, to));
}

test('pwa stub: a tab opened before a deploy is not stuck — a page whose chunk is gone loads the new build', async ({ browser, stub }) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-deploy-'));
  cpSync(DIST_DIR, dir, { recursive: true });
  const app = await startAppServer({ api: stub.handle, distDir: dir });
  // No worker (a LAN install over http has none), so the old chunks are nowhere once the deploy removed them.
  const context = await browser.newContext({ baseURL: app.origin, serviceWorkers: 'block' });
  const page = await context.newPage();
  try {
    await page.goto('/');
    await expect(page.getByRole('link', { name: 'Feeds' })).toBeVisible();
    const oldEntry = await page.locator('script[type=module]').getAttribute('src');
    redeploy(dir);
    await page.getByRole('link', { name: 'Feeds' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Feeds' })).toBeVisible();
    await expect(page).toHaveURL(/\/feeds$/);
    // It is the new build that shows it.
    expect(await page.locator('script[type=module]').getAttribute('src')).not.toBe(oldEntry);

    // A chunk missing from the new build too is not a reload loop: one try, then the page stays.
    const search = readdirSync(path.join(dir, 'assets')).find((f) => f.startsWith('SearchView-') && f.endsWith('.js'))!;
    rmSync(path.join(dir, 'assets', search));
    let loads = 0;
    page.on('load', () => loads++);
    await page.getByRole('link', { name: 'Search' }).click();
    await page.waitForTimeout(1500);
    expect(loads).toBeLessThanOrEqual(1);
    await expect(page.getByRole('link', { name: 'Search' })).toBeVisible();
  } finally {
    await context.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
