// Pages (issue 18) against the REAL api, scheduler and worker (e2e/support/platform.ts): the
// fixture feed, processed, has a page of its own (cover box, the channel description as the poll
// stored it, its episodes, server-side filters) and its episode shows the sanitised show notes.
import { test, expect } from '@playwright/test';
import { type AppServer, startAppServer } from '../support/app-server';
import { EPISODE_TITLE, FEED_TITLE, type Platform, platformMissing, startPlatform } from '../support/platform';

const missing = platformMissing();
if (missing) console.log(`[real-api] not run: ${missing}`);

test.describe.serial(missing ? `real api pages (NOT RUN: ${missing})` : 'real api pages', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let app: AppServer;
  let feedId = '';
  let episodeKey = '';

  test.beforeAll(async ({ request }) => {
    test.setTimeout(360_000);
    // Its own database: other real-api specs may run at the same time on this box.
    platform = await startPlatform({ dbName: 'podbrain_test_f_pages' });
    app = await startAppServer({ api: platform.apiOrigin });
    const add = await request.post(`${platform.apiOrigin}/api/feeds`, { data: { url: platform.feedUrl } });
    expect(add.status(), await add.text()).toBeLessThan(300);
    feedId = ((await add.json()) as { id: string }).id;
    await expect
      .poll(
        async () => {
          const r = await request.get(`${platform.apiOrigin}/api/episodes?limit=50&feed_id=${feedId}`);
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
    await app?.close();
    await platform?.stop();
  });

  test.afterEach(async ({}, info) => {
    if (info.status !== info.expectedStatus) await info.attach('platform logs', { body: platform?.logs() ?? '', contentType: 'text/plain' });
  });

  test('real api: the feed page of the processed fixture feed lists its episodes; filters ask the server; the episode shows its show notes', async ({ page }) => {
    await page.goto(`${app.origin}/feeds`);
    await page.locator(`[data-feed="${feedId}"]`).getByTestId('feed-page-link').click();
    await expect(page).toHaveURL(new RegExp(`/feeds/${feedId}$`));
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(FEED_TITLE);
    await expect(page.getByTestId('feed-description')).toHaveText('Short public-domain speeches for the end-to-end test.');
    await expect(page.getByTestId('feed-counts')).toContainText('2 episodes');
    const list = page.getByTestId('feed-episodes');
    await expect(list.getByRole('link', { name: EPISODE_TITLE })).toBeVisible();
    await expect(list.getByRole('link', { name: 'Infection control' })).toBeVisible();
    // The fixture has no cover: the placeholder, never a broken image.
    await expect(page.locator('[data-cover] img')).toHaveCount(0);

    // Processed: what is done (the first one is); Failed: none.
    await page.getByRole('button', { name: 'Processed', exact: true }).click();
    await expect(list.getByRole('link', { name: EPISODE_TITLE })).toBeVisible();
    await page.getByRole('button', { name: 'Failed', exact: true }).click();
    await expect(page.getByText('None here.')).toBeVisible();
    // Played through the API: Unplayed leaves it out.
    const mark = await page.request.post(`${platform.apiOrigin}/api/playback/mark`, { data: { episode_keys: [episodeKey], played: true } });
    expect(mark.status(), await mark.text()).toBe(200);
    await page.getByRole('button', { name: 'Unplayed', exact: true }).click();
    await expect(list.getByRole('link', { name: 'Infection control' })).toBeVisible();
    await expect(list.getByRole('link', { name: EPISODE_TITLE })).toHaveCount(0);

    await page.getByRole('button', { name: 'All', exact: true }).click();
    await list.getByRole('link', { name: EPISODE_TITLE }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(EPISODE_TITLE);
    const notes = page.getByTestId('show-notes');
    await expect(notes).toContainText('A fixture episode.');
    expect(await notes.locator('.notes-body').innerHTML()).toBe('<p>A fixture episode.</p>');
  });
});
