// The Digest page against the in-memory CONTRACT STUB of the api (e2e/support/stub-api.ts).
import { expect } from '@playwright/test';
import { screenshot } from '../support/screens';
import { stubDigest } from '../support/stub-api';
import { stubTest } from '../support/stub-test';

const test = stubTest(150);

test('contract stub: no digest yet says what to do; "Generate now" makes one and shows it', async ({ page, stub }) => {
  await page.goto('/digests');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Digest');
  await expect(page.getByText('No digest yet. Press “Generate now”')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Earlier digests' })).toHaveCount(0); // said once, above
  await expect(page.getByTestId('digest-rss')).toHaveAttribute('href', '/api/digests/feed.xml');
  await page.getByTestId('generate-digest').click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('This week');
  await expect(page.getByTestId('digest-window')).toContainText('4 new episodes from 3 shows');
  await expect(page.getByTestId('digest-window')).toContainText('1 not processed yet');
  expect(stub.requests).toContain('POST /api/digests');
  await expect(page.getByTestId('earlier-digests').getByRole('link')).toHaveCount(1);
  // The private RSS URL (through the combined re-feed's token) for feed readers that cannot send a key.
  await page.getByTestId('digest-private-rss').click();
  await expect(page.getByTestId('digest-private-rss-url')).toHaveValue(/\/api\/refeed\/all-token-1\/digests\.xml$/);
});

test('contract stub: a digest shows its stories with quotes linked to the moment, trends and show lines', async ({ page, stub }) => {
  stub.digests.push(stubDigest('2'), stubDigest('1', { from: '2026-11-23T06:00:00.000Z', to: '2026-11-30T06:00:00.000Z', trigger: 'scheduled' }));
  await page.goto('/digests');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('This week');
  const clusters = page.getByTestId('clusters');
  await expect(clusters.getByRole('heading', { level: 3 }).first()).toHaveText('Wall Street gets its bitcoin ETF');
  await expect(clusters.getByText('extractive title')).toHaveCount(1);
  const quote = clusters.locator('blockquote').first();
  await expect(quote).toContainText('The day the SEC approved the spot bitcoin ETF');
  await expect(quote.getByRole('link')).toHaveAttribute('href', '/episodes/money-etf?t=754');
  await expect(quote.getByRole('link')).toContainText('Money Talk · The ETF that changed bitcoin · 12:34');
  await expect(page.getByTestId('trends')).toContainText('Interest rates');
  await expect(page.getByTestId('trends').locator('li').first()).toContainText('new');
  await expect(page.getByTestId('shows')).toContainText('Garden Hour (1): Keeping a sourdough starter alive');
  await expect(page.getByTestId('digest-markdown')).toHaveAttribute('href', '/api/digests/2.md');
  await screenshot(page, 'digest');

  // An earlier digest by its link: /digests/1 (the link its notification carries).
  await page.getByTestId('earlier-digests').getByRole('link').nth(1).click();
  await expect(page).toHaveURL(/\/digests\/1$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Digest');
  await expect(page.getByTestId('digest-window')).toContainText('scheduled');

  // A quote's link opens the episode at that moment.
  await page.getByTestId('clusters').locator('blockquote').first().getByRole('link').click();
  await expect(page).toHaveURL(/\/episodes\/money-etf\?t=754$/);
});

test('contract stub: an unknown digest and a failing "Generate now" say so', async ({ page, stub }) => {
  await page.goto('/digests/99');
  await expect(page.getByText('Digest 99 was not found')).toBeVisible();
  stub.down = true;
  await page.getByTestId('generate-digest').click();
  await expect(page.getByTestId('generate-error')).toContainText('Could not generate a digest');
});
