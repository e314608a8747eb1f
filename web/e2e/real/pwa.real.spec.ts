// Installable (issue 18) against the REAL api serving the built viewer itself (WEB_DIST_DIR=auto:
// web/dist next to services/, as `podbrain serve` does): the manifest and its icons, the service
// worker active and in control, and an episode opened once read again offline after a reload.
import { test, expect, type Page } from '@playwright/test';
import { EPISODE_TITLE, type Platform, platformMissing, startPlatform } from '../support/platform';
import { screenshot } from '../support/screens';
import { checkManifest, controlled } from '../support/pwa';

const missing = platformMissing();
if (missing) console.log(`[real-api] not run: ${missing}`);

const row = (page: Page, i: number) => page.locator(`[data-testid=transcript] [data-index="${i}"]`);

test.describe.serial(missing ? `real api pwa (NOT RUN: ${missing})` : 'real api pwa', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let episodeKey = '';

  test.beforeAll(async ({ request }) => {
    test.setTimeout(360_000);
    // Its own database: other real-api specs may run at the same time on this box.
    platform = await startPlatform({ dbName: 'podbrain_test_f_pwa' });
    const add = await request.post(`${platform.apiOrigin}/api/feeds`, { data: { url: platform.feedUrl } });
    expect(add.status(), await add.text()).toBeLessThan(300);
    // The fixture feed processed by the real scheduler and workers.
    await expect
      .poll(
        async () => {
          const r = await request.get(`${platform.apiOrigin}/api/episodes?limit=50`);
          const body = (await r.json()) as { items: { episode_key: string; title: string; state: string }[] };
          const ep = body.items.find((e) => e.title === EPISODE_TITLE);
          if (ep?.state === 'done') episodeKey = ep.episode_key;
          return ep?.state ?? 'absent';
        },
        { timeout: 300_000, intervals: [1000] },
      )
      .toBe('done');
  });

  test.afterAll(async () => {
    await platform?.stop();
  });

  test.afterEach(async ({}, info) => {
    if (info.status !== info.expectedStatus) await info.attach('platform logs', { body: platform?.logs() ?? '', contentType: 'text/plain' });
  });

  test('real api: the api serves the manifest (valid, icons at their sizes) and a service worker that takes control', async ({ page, request }) => {
    await page.goto(`${platform.apiOrigin}/`);
    await checkManifest(page, request);
    await controlled(page);
    await page.reload();
    expect(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(`${platform.apiOrigin}/sw.js`);
  });

  test('real api: an episode opened once reads offline after a reload', async ({ page, context }) => {
    await page.goto(`${platform.apiOrigin}/`);
    await controlled(page);
    await page.goto(`${platform.apiOrigin}/episodes/${episodeKey}`);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(EPISODE_TITLE);
    await expect(row(page, 0)).toContainText('fellow Americans');
    await expect
      .poll(() => page.evaluate(async () => (await (await caches.open('podbrain-episodes-v2-anon')).keys()).map((r) => new URL(r.url).pathname)))
      .toEqual(expect.arrayContaining([`/api/episodes/${episodeKey}`, `/api/episodes/${episodeKey}/transcript`]));

    await context.setOffline(true);
    await page.reload();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(EPISODE_TITLE);
    await expect(row(page, 0)).toContainText('fellow Americans');
    await screenshot(page, 'real-episode-offline');
    await context.setOffline(false);
  });
});
