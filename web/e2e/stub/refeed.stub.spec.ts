// Re-feed and export (issue 17) on the Feeds and Episode pages against the CONTRACT STUB
// (e2e/support/stub-api.ts): a feed's private URL is shown and copied, "New URL" (after a confirm)
// replaces it, the combined feed's URL sits at the top, the export links point at the api.
import { expect } from '@playwright/test';
import { stubTest } from '../support/stub-test';

const test = stubTest(100);

test('contract stub: a feed’s private re-feed URL is shown, copied and replaced; the combined one at the top; export links', async ({ page, stub, context, app }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const feed = stub.addFeed('http://127.0.0.1:9/show/feed.xml');
  await page.goto('/feeds');
  const row = page.locator(`[data-feed="${feed.id}"]`);
  const refeed = row.getByTestId('refeed');
  await refeed.getByTestId('refeed-show').click();
  await expect(refeed.getByTestId('refeed-url')).toHaveValue(`${app.origin}/api/refeed/${feed.id}-token-1/feed.xml`);
  await refeed.getByTestId('refeed-copy').click();
  await expect(refeed.getByTestId('refeed-copy')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${app.origin}/api/refeed/${feed.id}-token-1/feed.xml`);

  // "New URL" asks first; dismissing keeps the URL.
  page.once('dialog', (d) => void d.dismiss());
  await refeed.getByTestId('refeed-rotate').click();
  await expect(refeed.getByTestId('refeed-url')).toHaveValue(/token-1\/feed\.xml$/);
  page.once('dialog', (d) => {
    expect(d.message()).toContain('stops working');
    void d.accept();
  });
  await refeed.getByTestId('refeed-rotate').click();
  await expect(refeed.getByTestId('refeed-url')).toHaveValue(`${app.origin}/api/refeed/${feed.id}-token-2/feed.xml`);
  expect(stub.requests).toContain(`POST /api/feeds/${feed.id}/refeed/rotate`);

  const all = page.locator('[data-refeed="all"]');
  await all.getByTestId('refeed-show').click();
  await expect(all.getByTestId('refeed-url')).toHaveValue(`${app.origin}/api/refeed/all-token-1/feed.xml`);

  await expect(row.getByTestId('export-zip')).toHaveAttribute('href', `/api/export/feeds/${feed.id}.zip`);
  const key = `${feed.id}-ep1`;
  await page.goto(`/episodes/${key}`);
  const md = page.getByTestId('export-md');
  await expect(md).toHaveText('Export Markdown');
  await expect(md).toHaveAttribute('href', `/api/episodes/${key}/export.md`);
  const download = page.waitForEvent('download');
  await md.click();
  expect((await download).suggestedFilename()).toBe('episode.md');
});
