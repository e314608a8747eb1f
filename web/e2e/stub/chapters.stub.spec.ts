// Chapters (issue 17) in the viewer against the CONTRACT STUB (e2e/support/stub-api.ts): the
// episode's chapter list, a click (or Enter) seeks the player, the current chapter follows playback.
import { expect } from '@playwright/test';
import { playerTime } from '../support/screens';
import { type StubApi } from '../support/stub-api';
import { stubTest } from '../support/stub-test';

const test = stubTest(100);

async function processedEpisode(stub: StubApi): Promise<string> {
  const feed = stub.addFeed('http://127.0.0.1:9/show/feed.xml');
  const key = `${feed.id}-ep1`;
  await expect.poll(() => stub.episodes.get(key)?.detail.state).toBe('done');
  return key;
}

test('contract stub: the chapter list renders, a click seeks the player, the current chapter follows playback', async ({ page, stub }) => {
  const key = await processedEpisode(stub);
  await page.goto(`/episodes/${key}`);
  const list = page.getByTestId('chapters');
  const chapter = (n: number) => list.getByTestId('chapter').nth(n);
  await expect(list.getByTestId('chapter')).toHaveCount(3);
  await expect(chapter(0)).toContainText('0:00');
  await expect(chapter(1)).toContainText('The question');
  await expect(chapter(2)).toContainText('0:08');
  await expect(page.getByTestId('chapters-source')).toHaveText("(publisher's)");
  await expect(chapter(0)).toHaveAttribute('aria-current', 'true');
  await expect(page.getByTestId('current-chapter')).toContainText('Opening');

  await chapter(2).click();
  await expect.poll(() => playerTime(page)).toBeCloseTo(8, 0);
  await expect(chapter(2)).toHaveAttribute('aria-current', 'true');
  await expect(chapter(0)).not.toHaveAttribute('aria-current', 'true');
  await expect(page.getByTestId('current-chapter')).toContainText('The answer');

  // Keyboard: focus a chapter and press Enter; then playback carries on into the next chapter by itself.
  await chapter(0).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => playerTime(page)).toBeLessThan(1.5);
  await expect(chapter(0)).toHaveAttribute('aria-current', 'true');
  await expect(chapter(1)).toHaveAttribute('aria-current', 'true', { timeout: 8000 });
  await expect(page.getByTestId('current-chapter')).toContainText('The question');
  expect(await page.getByTestId('player').evaluate((a) => (a as HTMLAudioElement).paused)).toBe(false);
});

test('contract stub: an episode without chapters shows no chapter list', async ({ page, stub }) => {
  const key = await processedEpisode(stub);
  stub.episodes.get(key)!.chapters = { source: null, items: [] };
  await page.goto(`/episodes/${key}`);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Summary' })).toBeVisible();
  await expect(page.getByTestId('chapters')).toHaveCount(0);
  await expect(page.getByTestId('current-chapter')).toHaveCount(0);
});
