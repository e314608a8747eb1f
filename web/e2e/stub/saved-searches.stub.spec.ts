// Saved searches (issue 17) in the viewer against the in-memory CONTRACT STUB of the api:
// "Notify me" on the Search page, the list with inline editing, the matches with their moment links, delete.
import { expect } from '@playwright/test';
import { stubTest } from '../support/stub-test';

const test = stubTest(150);

test('contract stub: "Notify me" saves the query and links to the saved searches', async ({ page, stub }) => {
  await page.goto('/search?q=fruit%20flies');
  await page.getByTestId('notify-me').click();
  const saved = page.getByTestId('notify-saved');
  await expect(saved).toContainText('Saved “fruit flies”');
  expect(stub.savedSearches.map((s) => s.query)).toEqual(['fruit flies']);
  expect(stub.requests).toContain('POST /api/saved-searches');
  await saved.getByRole('link', { name: 'Your saved searches' }).click();
  await expect(page).toHaveURL(/\/saved-searches$/);
  await expect(page.getByTestId('saved-searches')).toContainText('fruit flies');
});

test('contract stub: a saved search is edited inline, shows its matches linked to the moment, and is deleted after a confirm', async ({ page, stub }) => {
  const now = new Date().toISOString();
  stub.savedSearches.push({ id: '7', name: 'Flies', query: 'fruit flies', threshold: 0.5, notify: true, min_interval_s: 3600, last_notified_at: null, created_at: now, updated_at: now, hits: 1, pending: 0, last_hit: null });
  stub.savedSearchHits.set('7', [
    { id: '1', episode_key: 'home-pests', episode_title: 'Kitchen pests', feed_id: 'home', feed_title: 'Home Hour', text: 'To get rid of fruit flies, set a small trap.', start_ms: 83_000, score: 1, found_at: now, notified_at: now },
  ]);
  await page.goto('/saved-searches');
  const item = page.locator('[data-saved-search="7"]');
  await expect(item).toContainText('1 match');
  await expect(item).toContainText('notifies at most every 1 h');

  // Keyboard: the edit form opens, takes new values and saves.
  await item.getByTestId('ss-edit').focus();
  await page.keyboard.press('Enter');
  await item.getByTestId('ss-name').fill('Fruit flies at home');
  await item.getByTestId('ss-threshold').fill('80');
  await item.getByTestId('ss-interval').fill('15');
  await item.getByTestId('ss-save').click();
  await expect(item).toContainText('Fruit flies at home');
  await expect(item).toContainText('relevance ≥ 80 %');
  await expect(item).toContainText('at most every 15 min');
  expect(stub.savedSearches[0]).toMatchObject({ name: 'Fruit flies at home', threshold: 0.8, min_interval_s: 900 });

  await item.getByTestId('ss-show-hits').click();
  const link = item.getByTestId('ss-hit-link');
  await expect(link).toHaveText('To get rid of fruit flies, set a small trap.');
  await expect(link).toHaveAttribute('href', '/episodes/home-pests?t=83');
  await expect(item.getByTestId('ss-markdown')).toHaveAttribute('href', '/api/saved-searches/7/hits.md');

  await item.getByTestId('ss-notify').uncheck();
  await expect(item).toContainText('no notifications');
  expect(stub.savedSearches[0].notify).toBe(false);

  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.accept();
  });
  await item.getByTestId('ss-delete').click();
  await expect(page.getByText('No saved searches yet')).toBeVisible();
  expect(asked).toContain('Fruit flies at home');
  expect(stub.savedSearches).toEqual([]);
});

test('contract stub: the saved searches page in light and dark, and on a phone without sideways scrolling', async ({ page, stub }) => {
  const now = new Date().toISOString();
  stub.savedSearches.push({ id: '3', name: 'A rather long name for a saved search about fruit flies in the kitchen', query: 'fruit flies kitchen vinegar trap', threshold: 0.5, notify: true, min_interval_s: 86_400, last_notified_at: now, created_at: now, updated_at: now, hits: 4, pending: 2, last_hit: null });
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto('/saved-searches');
    await expect(page.locator('[data-saved-search="3"]')).toContainText('2 waiting');
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(scheme === 'dark' ? 'rgb(11, 16, 32)' : 'rgb(255, 255, 255)');
  }
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto('/saved-searches');
  await expect(page.locator('[data-saved-search="3"]')).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});
