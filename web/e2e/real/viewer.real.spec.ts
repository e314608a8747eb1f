// The viewer in Debian Chromium against the REAL appliance (api + scheduler + worker on
// Postgres and Redis, see e2e/support/platform.ts): a fixture feed is added through the UI,
// processed by the workers, and then read, played, searched and quoted through the UI.
import { test, expect, type Page } from '@playwright/test';
import { type AppServer, startAppServer } from '../support/app-server';
import { EPISODE_TITLE, FEED_TITLE, JFK_CUES, type Platform, platformMissing, startPlatform } from '../support/platform';
import { playerTime, screenshot } from '../support/screens';

const missing = platformMissing();
if (missing) console.log(`[real-api] not run: ${missing}`);

const row = (page: Page, i: number) => page.locator(`[data-testid=transcript] [data-index="${i}"]`);

test.describe.serial(missing ? `real api (NOT RUN: ${missing})` : 'real api', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let app: AppServer;
  let episodeUrl = '';

  test.beforeAll(async () => {
    test.setTimeout(120_000);
    platform = await startPlatform();
    app = await startAppServer({ api: platform.apiOrigin });
    console.log(`[real-api] platform up (api ${platform.apiOrigin}, fake whisper model: ${platform.env.FAKE_WHISPER_MODEL})`);
  });

  test.afterAll(async () => {
    await app?.close();
    await platform?.stop();
  });

  test.afterEach(async ({}, info) => {
    if (info.status !== info.expectedStatus) await info.attach('platform logs', { body: platform?.logs() ?? '', contentType: 'text/plain' });
  });

  test('real api: a feed added through the Feeds page appears in an open Library, whose states update live over SSE until processed', async ({ context }) => {
    test.setTimeout(360_000);
    // Tab 1: the Library, open before the feed exists, never reloaded.
    const library = await context.newPage();
    await library.goto(app.origin);
    await expect(library.getByText('● live')).toBeVisible();
    await expect(library.getByTestId('library-empty')).toBeVisible();
    await library.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    const seen: string[] = [];
    const item = library.getByTestId('episode-list').getByRole('listitem').filter({ hasText: EPISODE_TITLE });
    const recordStates = (async () => {
      // Every state the badge shows, sampled every 50 ms, until done.
      for (let i = 0; i < 4000; i++) {
        const s = (await item.getByTestId('state-badge').textContent({ timeout: 50 }).catch(() => null))?.trim();
        if (s && seen[seen.length - 1] !== s) seen.push(s);
        if (s === 'done' || s?.startsWith('failed')) return;
        await library.waitForTimeout(50);
      }
    })();

    // Tab 2: the Feeds page. A broken URL first: the api's error is shown, nothing is added.
    const feeds = await context.newPage();
    await feeds.goto(`${app.origin}/feeds`);
    await feeds.getByLabel('Feed URL').fill(platform.feedUrl.replace('/feed.xml', '/nothing-here.xml'));
    await feeds.getByRole('button', { name: 'Add feed' }).click();
    await expect(feeds.getByTestId('add-error')).toContainText(/404|not found/i);
    await expect(feeds.getByText('No feeds yet.')).toBeVisible();

    await feeds.getByLabel('Feed URL').fill(platform.feedUrl);
    await feeds.getByRole('button', { name: 'Add feed' }).click();
    await expect(feeds.getByRole('status').filter({ hasText: `Added ${FEED_TITLE}` })).toBeVisible();
    await expect(feeds.getByTestId('feeds-table')).toContainText(platform.feedUrl);
    await feeds.close();

    // The first event comes once a worker has polled the feed; on a loaded 2-core box that can take a while.
    await expect(item).toBeVisible({ timeout: 150_000 });
    await expect(library.getByText(FEED_TITLE).first()).toBeVisible();
    await expect(item.getByTestId('state-badge')).toHaveText('done', { timeout: 200_000 });
    await recordStates;
    console.log(`[real-api] states seen in the open Library: ${seen.join(' → ')}`);
    expect(seen.length, `the Library only ever showed ${seen.join(', ')}`).toBeGreaterThan(1);
    expect(seen[seen.length - 1]).toBe('done');
    // Same document all along: the list grew and the states changed without a reload.
    expect(await library.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    await expect(library.getByTestId('episode-list').getByRole('listitem').filter({ hasText: 'Infection control' })).toBeVisible();

    await item.getByRole('link', { name: EPISODE_TITLE }).click();
    await expect(library.getByRole('heading', { level: 1 })).toHaveText(EPISODE_TITLE);
    episodeUrl = library.url();
  });

  test('real api: clicking a transcript line seeks the player and highlights the line; a quote jumps the player', async ({ page }) => {
    expect(episodeUrl, 'the previous test opens the episode').not.toBe('');
    await page.goto(episodeUrl);
    await expect(row(page, 0)).toContainText('fellow Americans');
    await expect(page.getByTestId('transcript').locator('[data-index]')).toHaveCount(JFK_CUES.length);

    await row(page, 2).getByText('what your country can do for you').click();
    await expect.poll(() => playerTime(page)).toBeCloseTo(JFK_CUES[2].start_ms / 1000, 0);
    await expect(row(page, 2)).toHaveAttribute('aria-current', 'true');

    const quotes = page.getByTestId('quote');
    await expect(quotes.first()).toBeVisible();
    const label = (await quotes.first().getAttribute('aria-label')) ?? '';
    const [, m, s] = /at (\d+):(\d\d)/.exec(label) ?? [];
    const quoteAt = Number(m) * 60 + Number(s);
    // Start elsewhere so the jump is visible.
    await row(page, quoteAt >= 5 ? 0 : 3).locator('.text').click();
    await quotes.first().click();
    await expect.poll(() => playerTime(page)).toBeGreaterThanOrEqual(quoteAt - 0.01);
    expect(await playerTime(page)).toBeLessThan(quoteAt + 1);
  });

  test('real api: a search hit shows episode, feed and time and opens the episode at that moment', async ({ page }) => {
    await page.goto(`${app.origin}/search`);
    await page.getByRole('searchbox').fill('fellow Americans');
    await page.keyboard.press('Enter');
    const hit = page.getByTestId('search-results').getByRole('link').filter({ hasText: EPISODE_TITLE }).first();
    await expect(hit).toBeVisible();
    await expect(hit).toContainText(FEED_TITLE);
    const time = (await hit.locator('.meta').textContent())?.match(/(\d+):(\d\d)/);
    expect(time).not.toBeNull();
    await hit.click();
    await expect(page).toHaveURL(/\/episodes\/.+\?t=\d+/);
    const t = Number(new URL(page.url()).searchParams.get('t'));
    await expect.poll(() => playerTime(page)).toBeCloseTo(t / 1000, 0);
    await expect(page.locator('[data-testid=transcript] [aria-current=true]')).toBeVisible();
  });

  test('real api: every page in light and dark, Library and Episode on a phone, saved to web/screenshots', async ({ page, browser }) => {
    const pages: [string, string][] = [
      ['library', '/'],
      ['episode', new URL(episodeUrl).pathname],
      ['search', '/search?q=country'],
      ['feeds', '/feeds'],
      ['graph', '/graph'],
      ['admin', '/admin'],
    ];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [name, p] of pages) {
        await page.goto(`${app.origin}${p}`);
        await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
        await expect(page.getByText('Loading…')).toHaveCount(0);
        await page.waitForTimeout(300); // let the graph layout settle
        await screenshot(page, `real-${name}-${scheme}`);
      }
    }
    // Phone width for the two pages used most (the stub suite checks all six on a phone).
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    for (const [name, path] of pages.slice(0, 2)) {
      await p.goto(`${app.origin}${path}`);
      await expect(p.getByRole('heading', { level: 1 })).toBeVisible();
      await expect(p.getByText('Loading…')).toHaveCount(0);
      expect(await p.evaluate(() => document.documentElement.scrollWidth), `${name} is wider than the phone`).toBeLessThanOrEqual(390);
      await screenshot(p, `real-${name}-phone`);
    }
    await phone.close();
  });
});
