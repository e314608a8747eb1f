// Pages (issue 18) against the CONTRACT STUB (e2e/support/stub-api.ts): the Library's groups
// (continue listening with progress, new, processing — live), a page per feed (cover, description,
// counts, server-side filters, the policy controls), cover placeholders when the image fails (the
// stub's cover URL never loads: no broken-image icon), show notes on the Episode page (inert
// hostile snippet, timestamps that open the moment). Screenshots: light, dark, phone.
import { expect, type Page } from '@playwright/test';
import { screenshot } from '../support/screens';
import { stubTest } from '../support/stub-test';

const test = stubTest(250);

/** Every cover on the page shows its placeholder, and no <img> is left to draw a broken-image icon. */
async function expectPlaceholders(page: Page) {
  const covers = page.locator('[data-cover]');
  await expect(covers.first()).toBeVisible();
  await expect(page.locator('[data-cover] img')).toHaveCount(0);
  for (const c of await covers.all()) {
    await expect(c).toHaveAttribute('data-cover', 'placeholder');
    await expect(c.getByTestId('cover-placeholder')).toHaveText('TS'); // The Stub Show
  }
}

async function screens(page: Page, name: string) {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await screenshot(page, `${name}-${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function phoneScreen(page: Page, path: string, name: string, ready: (p: Page) => Promise<void>) {
  const phone = await page.context().browser()!.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, baseURL: page.url() });
  await phone.goto(new URL(path, page.url()).toString());
  await ready(phone);
  await screenshot(phone, `${name}-phone`);
  await phone.close();
}

test('contract stub: the Library groups processing → new live, continue listening with progress; covers fall back to placeholders', async ({ page, stub }) => {
  await page.goto('/');
  await expect(page.getByText('● live')).toBeVisible();
  const feed = stub.addFeed('http://127.0.0.1:9/show/feed.xml');
  const [ep1, ep2] = [`${feed.id}-ep1`, `${feed.id}-ep2`];
  // Both are on their way: "Processing", live over the events.
  await expect(page.getByTestId('group-processing').locator(`[data-processing="${ep1}"]`)).toBeVisible();
  // ep1 finishes (→ New), ep2 fails (→ only in the full list): Processing empties and hides.
  await expect(page.getByTestId('group-new').locator(`[data-new="${ep1}"]`)).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId('group-processing')).toHaveCount(0, { timeout: 15_000 });
  await expect(page.getByTestId('group-new').locator(`[data-new="${ep2}"]`)).toHaveCount(0);
  await expect(page.locator(`[data-episode="${ep2}"]`)).toBeVisible();
  await expect(page.getByTestId('group-continue')).toHaveCount(0);
  await expectPlaceholders(page);

  // Half-way through ep1: Continue listening (with progress), no longer New.
  stub.playback.set(ep1, { episode_key: ep1, position_ms: 5_500, duration_ms: 11_000, played: false, updated_at: new Date().toISOString() });
  await page.reload();
  const cont = page.getByTestId('group-continue').locator(`[data-continue="${ep1}"]`);
  await expect(cont).toBeVisible();
  await expect(cont.getByTestId('progress')).toHaveAttribute('aria-valuenow', '50');
  await expect(cont).toContainText('0:06 left');
  await expect(page.getByTestId('group-new')).toHaveCount(0);
  expect(stub.requests).toContain('GET /api/playback?filter=in_progress&limit=12');
  await expectPlaceholders(page);
  await screens(page, 'library-groups');
  await phoneScreen(page, '/', 'library-groups', async (p) => {
    await expect(p.getByTestId('group-continue')).toBeVisible();
  });

  await cont.locator('a').click();
  await expect(page).toHaveURL(new RegExp(`/episodes/${ep1}$`));
});

test('contract stub: an empty Library says what to do', async ({ page }) => {
  await page.goto('/');
  const empty = page.getByTestId('library-empty');
  await expect(empty).toContainText('Your library is empty');
  await empty.getByRole('link', { name: 'Add a feed' }).click();
  await expect(page).toHaveURL(/\/feeds$/);
});

test('contract stub: a feed’s page — cover, description, counts, filters that ask the server, policy controls', async ({ page, stub }) => {
  const feed = stub.addFeed('http://127.0.0.1:9/show/feed.xml');
  const [ep1, ep2] = [`${feed.id}-ep1`, `${feed.id}-ep2`];
  await page.goto('/feeds');
  await page.locator(`[data-feed="${feed.id}"]`).getByTestId('feed-page-link').click();
  await expect(page).toHaveURL(new RegExp(`/feeds/${feed.id}$`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('The Stub Show');
  await expect(page.getByTestId('feed-description')).toHaveText('Famous speeches, one at a time, with a few words on each.');
  await expect(page.getByTestId('feed-counts')).toContainText('2 episodes');
  await expect(page.getByTestId('feed-website')).toHaveAttribute('href', 'https://example.com/stub-show');
  await expect(page.getByTestId('feed-website')).toHaveAttribute('rel', 'noopener noreferrer');
  await expect(page.getByTestId('export-zip')).toHaveAttribute('href', `/api/export/feeds/${feed.id}.zip`);
  await expect(page.getByTestId('refeed')).toBeVisible();
  await expectPlaceholders(page);

  // Wait for the stub's walk to end: ep1 done, ep2 failed.
  const list = page.getByTestId('feed-episodes');
  const shown = () => list.locator('[data-episode]').evaluateAll((els) => els.map((e) => e.getAttribute('data-episode')));
  await expect.poll(async () => {
    await page.getByRole('button', { name: 'Failed' }).click();
    await page.getByRole('button', { name: 'All' }).click();
    const badge = async (key: string) => (await page.locator(`[data-episode="${key}"] [data-testid=state-badge]`).textContent()) ?? '';
    // Both ends of the walk: under load ep2 may fail before ep1 is done, and the filtered lists below are read once.
    return `${await badge(ep1)} | ${await badge(ep2)}`;
  }, { timeout: 30_000 }).toMatch(/done.* \| .*failed/);
  expect(await shown()).toEqual([ep1, ep2]);

  stub.playback.set(ep1, { episode_key: ep1, position_ms: 11_000, duration_ms: 11_000, played: true, updated_at: new Date().toISOString() });
  const pick = async (name: string, query: string, expected: string[]) => {
    await page.getByRole('button', { name, exact: true }).click();
    await expect(page.getByRole('button', { name, exact: true })).toHaveAttribute('aria-pressed', 'true');
    await expect.poll(shown).toEqual(expected);
    expect(stub.requests.some((r) => r.startsWith('GET /api/episodes?') && r.includes(`feed_id=${feed.id}`) && r.includes(query))).toBe(true);
  };
  await pick('Unplayed', 'played=false', [ep2]);
  await expect(page).toHaveURL(/filter=unplayed/);
  await pick('Processed', 'state=done', [ep1]);
  await expect(list.locator(`[data-episode="${ep1}"]`).getByTestId('listen-mark')).toHaveText('✓ Played');
  await expect(list.locator(`[data-episode="${ep1}"]`).getByTestId('row-play')).toBeVisible();
  await pick('Failed', 'state=failed', [ep2]);
  await screens(page, 'feed-page');
  await phoneScreen(page, `/feeds/${feed.id}`, 'feed-page', async (p) => {
    await expect(p.getByTestId('feed-description')).toBeVisible();
  });
  await pick('All', `feed_id=${feed.id}&limit=50`, [ep1, ep2]);

  // The policy controls, the Feeds page's editor in place: pause/resume, filters saved.
  await page.getByTestId('pause-feed').click();
  await expect(page.getByTestId('paused-badge')).toBeVisible();
  await page.getByTestId('resume-feed').click();
  await expect(page.getByTestId('paused-badge')).toHaveCount(0);
  await page.getByTestId('edit-policy').click();
  await page.getByTestId('edit-include').fill('speech');
  await page.getByTestId('edit-min').fill('5');
  await page.getByTestId('save-policy').click();
  await expect(page.getByTestId('notice')).toHaveText('Policy of The Stub Show saved');
  await expect(page.getByTestId('policy-summary')).toContainText('only: speech');
  await expect(page.getByTestId('policy-summary')).toContainText('5–∞ min');
  expect(stub.requests.filter((r) => r === `PATCH /api/feeds/${feed.id}`)).toHaveLength(3);
});

test('contract stub: show notes on the Episode page — a hostile snippet stays inert, a timestamp opens that moment', async ({ page, stub }) => {
  const feed = stub.addFeed('http://127.0.0.1:9/show/feed.xml');
  const key = `${feed.id}-ep1`;
  await page.goto(`/episodes/${key}`);
  const notes = page.getByTestId('show-notes');
  await expect(notes).toContainText('The inaugural address, 1961.');
  // The escaped tag is text; the <script> inserted with the notes never ran.
  await expect(notes).toContainText('<img src=x onerror="window.__pwned=1">');
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  await expect(notes.locator('img')).toHaveCount(0);
  // External links open apart, without the page.
  const link = notes.getByRole('link', { name: 'The full text' });
  await expect(link).toHaveAttribute('target', '_blank');
  await expect(link).toHaveAttribute('rel', 'noopener nofollow ugc');
  // Collapsed after a few lines; "Show more" opens it.
  await expect(page.getByTestId('notes-more')).toHaveText('Show more');
  await page.getByTestId('notes-more').click();
  await expect(page.getByTestId('notes-more')).toHaveAttribute('aria-expanded', 'true');
  await expect(notes.getByText('Line 5')).toBeVisible();

  // 0:08 in the notes is a link to that moment of this episode.
  const moment = notes.getByRole('link', { name: '0:08' });
  await expect(moment).toHaveAttribute('href', `/episodes/${key}?t=8`);
  await moment.click();
  await expect(page).toHaveURL(new RegExp(`/episodes/${key}\\?t=8$`));
  await expect(notes.getByRole('link', { name: '0:03' })).toHaveAttribute('href', `/episodes/${key}?t=3`);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
});
