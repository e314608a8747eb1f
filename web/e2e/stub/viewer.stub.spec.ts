// The viewer in Debian Chromium against the in-memory CONTRACT STUB of the api
// (e2e/support/stub-api.ts). The same flow against the real appliance is e2e/real/.
import { expect, type Page } from '@playwright/test';
import { lowContrastControls } from '../support/contrast';
import { playerTime, screenshot } from '../support/screens';
import { type StubApi } from '../support/stub-api';
import { stubTest } from '../support/stub-test';

const test = stubTest(150);

const FEED = 'http://127.0.0.1:9/show/feed.xml';

async function processedEpisode(stub: StubApi): Promise<string> {
  const feed = stub.addFeed(FEED);
  const key = `${feed.id}-ep1`;
  await expect.poll(() => stub.episodes.get(key)?.detail.state).toBe('done');
  return key;
}

const row = (page: Page, i: number) => page.locator(`[data-testid=transcript] [data-index="${i}"]`);

test('contract stub: library is empty with guidance, and a refused feed URL shows the api error', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('library-empty')).toContainText('Your library is empty');
  // Said once: no empty Feeds and All episodes sections under it.
  await expect(page.getByRole('heading', { name: 'All episodes' })).toHaveCount(0);
  await expect(page.getByText('No feeds yet')).toHaveCount(0);
  await page.getByRole('link', { name: 'Feeds' }).click();
  await page.getByLabel('Feed URL').fill('http://127.0.0.1:9/broken.xml');
  await page.getByRole('button', { name: 'Add feed' }).click();
  await expect(page.getByRole('alert')).toContainText('not RSS or Atom');
  await expect(page.getByLabel('Feed URL')).toHaveAttribute('aria-invalid', 'true');
});

test('contract stub: a feed added through the UI fills the library, states arrive live over SSE without reloading', async ({ page, stub }) => {
  await page.goto('/feeds');
  await page.getByLabel('Feed URL').fill(FEED);
  await page.getByRole('button', { name: 'Add feed' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added The Stub Show' })).toBeVisible();
  await expect(page.getByTestId('feeds-table')).toContainText(FEED);

  await page.getByRole('link', { name: 'Library', exact: true }).click();
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
  await expect(page.getByText('● live')).toBeVisible();
  const first = page.locator('[data-episode="feed1-ep1"] [data-testid=state-badge]');
  const second = page.locator('[data-episode="feed1-ep2"] [data-testid=state-badge]');
  await expect(first).toHaveText('done', { timeout: 15_000 });
  await expect(second).toContainText('failed: transcribe: enclosure returned HTTP 404');
  // Same document (no reload) and the list was not polled: the 7 state changes came over SSE.
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
  const listReads = stub.requests.filter((r) => r.startsWith('GET /api/episodes?'));
  expect(listReads.length, stub.requests.join('\n')).toBeLessThanOrEqual(2);
});

test('contract stub: clicking a transcript line seeks the player and highlights it, the highlight follows playback; a quote jumps the player; ungrounded insights are marked', async ({ page, stub }) => {
  const key = await processedEpisode(stub);
  await page.goto(`/episodes/${key}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Ask not what your country can do for you');
  await expect(row(page, 0)).toContainText('my fellow Americans');

  await row(page, 2).getByText('what your country can do for you').click();
  await expect.poll(() => playerTime(page)).toBeCloseTo(5.5, 0);
  await expect(row(page, 2)).toHaveAttribute('aria-current', 'true');
  await expect(row(page, 0)).not.toHaveAttribute('aria-current', 'true');

  const quote = page.getByRole('button', { name: /Play quote at 0:08/ });
  await expect(quote).toContainText('ask what you can do for your country');
  await quote.click();
  await expect.poll(() => playerTime(page)).toBeCloseTo(8, 0);
  await expect(row(page, 3)).toHaveAttribute('aria-current', 'true');

  // Kept in step with playback: from 0:03 the player plays on, and the highlight moves to 0:05 by itself.
  await row(page, 1).locator('.text').click();
  await expect(row(page, 1)).toHaveAttribute('aria-current', 'true');
  await expect(row(page, 2)).toHaveAttribute('aria-current', 'true', { timeout: 8000 });
  expect(await page.getByTestId('player').evaluate((a) => (a as HTMLAudioElement).paused)).toBe(false);

  const ungrounded = page.locator('[data-testid=insights] li.ungrounded');
  await expect(ungrounded).toHaveCount(1);
  await expect(ungrounded).toContainText('ungrounded');
  await expect(ungrounded).toContainText('written by a committee');
  await expect(page.getByText('Citizens are asked what they can give')).toBeVisible();

  await page.getByRole('button', { name: 'Show graph' }).click();
  await expect(page.getByTestId('graph-canvas')).toHaveAttribute('aria-label', 'Knowledge graph with 3 nodes');
});

test('contract stub: opening an episode asks for each of its reads once, while the page\'s code is still loading', async ({ page, stub }) => {
  const key = await processedEpisode(stub);
  const reads: string[] = [];
  page.on('request', (r) => {
    const p = new URL(r.url()).pathname;
    if (p.startsWith(`/api/episodes/${key}`)) reads.push(p.slice(`/api/episodes/${key}`.length) || '/');
  });
  await page.goto(`/episodes/${key}`);
  await expect(row(page, 0)).toBeVisible();
  for (const read of ['/', '/transcript', '/summary', '/insights']) expect(reads.filter((r) => r === read), `${read} in ${reads.join(' ')}`).toHaveLength(1);
  // The router starts the reads in the same task as the page's chunk: the transcript is asked for before that chunk has arrived.
  const t = await page.evaluate(() => {
    const all = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
    return { chunkEnd: all.find((e) => /\/assets\/EpisodeView-[^/]+\.js$/.test(e.name))?.responseEnd, transcriptStart: all.find((e) => e.name.endsWith('/transcript'))?.startTime };
  });
  expect(t.chunkEnd).toBeDefined();
  expect(t.transcriptStart).toBeLessThan(t.chunkEnd!);
});

test('contract stub: a search hit shows snippet, episode, feed and time, and opens the episode at that moment', async ({ page, stub }) => {
  const key = await processedEpisode(stub);
  await page.goto('/search');
  // Before a search the page says what it searches, not a blank space; gone once there are results.
  await expect(page.getByTestId('search-start')).toContainText('what was said in every processed episode');
  await page.getByRole('searchbox').fill('country');
  await page.keyboard.press('Enter');
  const hits = page.getByTestId('search-results').getByRole('link');
  await expect(hits).toHaveCount(2);
  await expect(page.getByTestId('search-start')).toHaveCount(0);
  const hit = hits.filter({ hasText: '0:05' });
  await expect(hit).toContainText('Ask not what your country can do for you');
  await expect(hit).toContainText('The Stub Show');
  await expect(hit.locator('mark')).toHaveText('country');
  await hit.click();
  await expect(page).toHaveURL(new RegExp(`/episodes/${key}\\?t=5.5$`));
  await expect.poll(() => playerTime(page)).toBeCloseTo(5.5, 0);
  await expect(row(page, 2)).toHaveAttribute('aria-current', 'true');

  await page.goto('/search?q=zebra');
  await expect(page.getByText('Nothing in your episodes matches “zebra”', { exact: false })).toBeVisible();
});

test('contract stub: graph lists a node\'s episodes; admin shows role health, queue depths and retries a failed job', async ({ page, stub }) => {
  await processedEpisode(stub);
  await expect.poll(() => stub.episodes.get('feed1-ep2')?.detail.state).toBe('failed');
  await page.goto('/graph');
  await expect(page.getByText('3 entities (1 people), 2 links')).toBeVisible();
  await page.getByText('All entities (list)').click();
  await page.getByRole('button', { name: 'civic duty' }).click();
  await expect(page.getByRole('complementary').getByRole('link', { name: 'Ask not what your country can do for you' })).toBeVisible();

  await page.goto('/admin');
  await expect(page.getByTestId('roles')).toContainText('worker-gpu degraded');
  await expect(page.getByTestId('roles')).toContainText('gpu: absent (no NVIDIA device; CPU whisper)');
  await expect(page.getByTestId('queues').getByRole('row', { name: /transcribe/ })).toContainText('1');
  const job = page.getByRole('listitem').filter({ hasText: 'enclosure returned HTTP 404' });
  await expect(job).toContainText('3 attempts');
  // Failed jobs come grouped by cause; a whole group is retried at once.
  const group = page.getByTestId('failure-group').filter({ hasText: 'enclosure returned HTTP 404' });
  await expect(group).toContainText('1 job · transcribe 1');
  await group.getByRole('button', { name: /^Retry all/ }).click();
  await expect(page.getByText('Retried 1 job: enclosure returned HTTP 404')).toBeVisible();
  await expect(page.getByText('No failed jobs.')).toBeVisible();
  await expect.poll(() => stub.episodes.get('feed1-ep2')?.detail.state).toBe('done');
});

test('contract stub: keyboard only — skip link, focus moves to the page on navigation, transcript lines play with Enter', async ({ page, stub }) => {
  const key = await processedEpisode(stub);
  await page.goto('/');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#main')).toBeFocused();

  await page.getByRole('link', { name: 'Search' }).focus();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/search$/);
  await expect(page).toHaveTitle('Search · podbrain');
  await expect(page.locator('#main')).toBeFocused();

  await page.goto(`/episodes/${key}`);
  const play = row(page, 1).getByRole('button', { name: 'Play from 0:03' });
  await play.focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => playerTime(page)).toBeCloseTo(3, 0);
  await expect(row(page, 1)).toHaveAttribute('aria-current', 'true');
  await expect(page.getByTestId('transcript')).toHaveAttribute('role', 'list');
  await expect(row(page, 1)).toHaveAttribute('aria-posinset', '2');
  await expect(row(page, 1)).toHaveAttribute('aria-setsize', '4');
});

test('contract stub: when the api is down every page shows an error with Try again, and recovers', async ({ page, stub }) => {
  stub.down = true;
  for (const path of ['/', '/feeds', '/graph', '/admin', '/incidents', '/episodes/nope']) {
    await page.goto(path);
    await expect(page.getByRole('alert').first()).toContainText('not reachable');
  }
  await page.goto('/feeds');
  // The api comes back only once the page has shown its error (its first read may still be in flight after goto).
  const retry = page.getByRole('button', { name: 'Try again' });
  await expect(retry).toBeVisible();
  stub.down = false;
  await retry.click();
  await expect(page.getByText('No feeds yet.')).toBeVisible();
  await page.goto('/episodes/nope');
  await expect(page.getByRole('alert')).toContainText('No episode nope');
  // A 404 is not an outage: no "Try again", a way back instead.
  await expect(page.getByTestId('episode-not-found')).toContainText('Episode not found');
  await expect(page.getByRole('button', { name: 'Try again' })).toHaveCount(0);
  await page.getByRole('link', { name: 'Back to the Library' }).click();
  await expect(page).toHaveURL(/\/$/);
});

test('contract stub: with an API key required, a write says where to set it; the key saved on the Admin page is sent', async ({ page, stub }) => {
  stub.apiKey = 'sekrit';
  await page.goto('/feeds');
  await page.getByLabel('Feed URL').fill(FEED);
  await page.getByRole('button', { name: 'Add feed' }).click();
  await expect(page.getByTestId('add-error')).toContainText('needs the API key');
  await expect(page.getByTestId('add-error')).toContainText('set the API key on the Admin page');

  await page.getByRole('link', { name: 'Admin' }).click();
  await expect(page.getByRole('alert').first()).toContainText('needs the API key');
  await page.getByLabel(/Key for a server started with AUTH_API_KEY/).fill('wrong');
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.getByRole('alert').first()).toContainText('the API key is wrong');
  await page.getByLabel(/Key for a server started with AUTH_API_KEY/).fill('sekrit');
  await page.getByRole('button', { name: 'Save key' }).click();
  await expect(page.getByTestId('queues')).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);

  await page.getByRole('link', { name: 'Feeds' }).click();
  await page.getByLabel('Feed URL').fill(FEED);
  await page.getByRole('button', { name: 'Add feed' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added The Stub Show' })).toBeVisible();
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('button', { name: 'Forget key' }).click();
  expect(await page.evaluate(() => localStorage.getItem('podbrain.apiKey'))).toBeNull();
});

test('contract stub: incidents — one opened while the page is open appears live; approve by keyboard after a confirm; the kill switch asks first', async ({ page, stub }) => {
  stub.addIncident({ alert: 'PodbrainWorkerDead', status: 'resolved', resolved_at: new Date().toISOString(), labels: { alertname: 'PodbrainWorkerDead', role: '<script>window.pwned=1</script>' }, actions: [] });
  await page.goto('/incidents');
  const list = page.getByTestId('incident-list');
  await expect(list.getByRole('listitem').filter({ hasText: 'PodbrainWorkerDead' })).toContainText('role=<script>window.pwned=1</script>');
  await expect(page.getByRole('radio', { name: /Shadow/ })).toBeChecked();
  await expect(page.getByTestId('incident-count')).toHaveCount(0);

  const incident = stub.addIncident();
  const row = list.getByRole('listitem').filter({ hasText: 'PodbrainDiskLow' });
  await expect(row.getByTestId('status')).toHaveText('open');
  await expect(row).toContainText('1 awaiting approval');
  await expect(page.getByTestId('incident-count')).toHaveText('1');
  await expect(page.getByTestId('announcement')).toHaveText('New incident: PodbrainDiskLow');

  // The notifications' link, on a full page load.
  await page.goto(`/incidents/${incident.id}`);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('PodbrainDiskLow');
  await page.getByText('How much is free on the volume?: ok').click();
  await expect(page.locator('details[open] pre')).toHaveText('{path="/data"} 8123456789\n(truncated)');

  const step = page.getByTestId('action').filter({ hasText: 'clean-audio' });
  await step.getByRole('button', { name: /^Approve clean-audio/ }).focus();
  await page.keyboard.press('Enter');
  await expect(step.getByRole('button', { name: 'Yes, run it' })).toBeFocused();
  expect(stub.requests.filter((r) => r.startsWith('POST'))).toEqual([]);
  await page.keyboard.press('Enter');
  await expect(step.getByTestId('status')).toHaveText('executed'); // approved, then run (pushed over SSE)
  await expect(step).toContainText('by admin-key');
  expect(stub.requests.filter((r) => r.startsWith('POST'))).toEqual([`POST /api/admin/incidents/${incident.id}/actions/1/approve`]);

  const toggle = page.getByRole('button', { name: /^Kill switch/ });
  await toggle.click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(toggle).toBeFocused();
  expect(stub.agent.kill_switch).toBe(false);
  await toggle.click();
  await page.getByRole('button', { name: 'Yes, stop all actions' }).click();
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  expect(stub.agent.kill_switch).toBe(true);
  await page.getByRole('radio', { name: /Auto/ }).check();
  await expect.poll(() => stub.agent.mode).toBe('auto');
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
});

test('contract stub: every page in light and dark, and on a phone, saved to web/screenshots', async ({ page, stub, browser, app }) => {
  test.setTimeout(180_000); // 33 page loads with full-page screenshots; over a minute on a busy 2-core machine
  const key = await processedEpisode(stub);
  const incident = stub.addIncident();
  await expect.poll(() => stub.episodes.get('feed1-ep2')?.detail.state).toBe('failed');
  const pages: [string, string, string][] = [
    ['library', '/', '[data-testid=episode-list]'],
    ['episode', `/episodes/${key}`, '[data-testid=insights]'],
    ['feed', `/feeds/${key.replace(/-ep1$/, '')}`, '[data-testid=feed-head]'],
    ['search', '/search?q=country', '[data-testid=search-results]'],
    ['feeds', '/feeds', '[data-testid=feeds-table]'],
    ['graph', '/graph', '[data-testid=graph-canvas] canvas'],
    ['admin', '/admin', '[data-testid=queues]'],
    ['incidents', '/incidents', '[data-testid=incident-list]'],
    ['incident', `/incidents/${incident.id}`, '[data-testid=timeline]'],
    ['digest', '/digests', 'main h1'],
    ['saved-searches', '/saved-searches', 'main h1'],
  ];
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [name, path, ready] of pages) {
      await page.goto(path);
      await expect(page.locator(ready).first()).toBeVisible();
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(bg).toBe(scheme === 'dark' ? 'rgb(11, 16, 32)' : 'rgb(255, 255, 255)');
      await screenshot(page, `stub-${name}-${scheme}`);
      // Every enabled button and link is readable on what it sits on (an Approve button once had accent text on its accent fill).
      expect(await lowContrastControls(page.locator('body')), `${name} in ${scheme}`).toEqual([]);
    }
  }
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, baseURL: app.origin });
  const p = await phone.newPage();
  for (const [name, path, ready] of pages) {
    await p.goto(path);
    await expect(p.locator(ready).first()).toBeVisible();
    // Nothing wider than the screen: no sideways scrolling on a phone.
    expect(await p.evaluate(() => document.documentElement.scrollWidth), `${name} is wider than the phone`).toBeLessThanOrEqual(390);
    // The nav scrolls sideways as one row: each item on one line (the Incidents count once wrapped
    // under its name and doubled the row), and the item of this page's section in view.
    const nav = p.getByRole('navigation', { name: 'Main' });
    for (const box of await nav.getByRole('link').evaluateAll((links) => links.map((a) => a.getBoundingClientRect().height))) expect(box, `${name}: a nav item wraps`).toBeLessThan(48);
    if (name === 'admin') {
      // The queue table's last column (Failed, Pause) once sat off the screen's edge behind a sideways scroll.
      for (const [scroll, client] of await p.locator('.scroll-x').evaluateAll((els) => els.map((e) => [e.scrollWidth, e.clientWidth]))) expect(scroll, 'admin: a table wider than the phone').toBeLessThanOrEqual(client);
    }
    const current = nav.locator('a.current');
    if (name !== 'episode') {
      await expect(current, `${name}: its nav item is marked`).toHaveCount(1);
      const [item, bar] = [await current.boundingBox(), await nav.boundingBox()];
      expect(item!.x, `${name}: its nav item is scrolled into view`).toBeGreaterThanOrEqual(bar!.x);
      expect(item!.x + item!.width, `${name}: its nav item is scrolled into view`).toBeLessThanOrEqual(bar!.x + bar!.width);
    }
    await screenshot(p, `stub-${name}-phone`);
  }
  await phone.close();
});
