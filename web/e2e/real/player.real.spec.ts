// The persistent player (issue 18) against the REAL appliance (api + scheduler + worker on Postgres
// and Redis, e2e/support/platform.ts): play a processed episode, change speed, skip, reload and
// resume at the position the server saved, mark it played (the episode list says so), copy a
// link to the moment and open it paused there.
import { test, expect, type Page } from '@playwright/test';
import { type AppServer, startAppServer } from '../support/app-server';
import { EPISODE_TITLE, type Platform, platformMissing, startPlatform } from '../support/platform';
import { playerTime, screenshot } from '../support/screens';

const missing = platformMissing();
if (missing) console.log(`[real-api] not run: ${missing}`);

const paused = (page: Page) => page.getByTestId('player').evaluate((a) => (a as HTMLAudioElement).paused);
const rate = (page: Page) => page.getByTestId('player').evaluate((a) => (a as HTMLAudioElement).playbackRate);
async function readyAt(page: Page, seconds: number) {
  await expect.poll(() => page.getByTestId('player').evaluate((a) => (a as HTMLAudioElement).readyState), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
  await expect.poll(() => playerTime(page)).toBeCloseTo(seconds, 0);
}

test.describe.serial(missing ? `real api player (NOT RUN: ${missing})` : 'real api player', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let app: AppServer;
  let key = '';

  type Playback = { position_ms: number; duration_ms: number | null; played: boolean };
  const apiGet = async <T>(p: string): Promise<T> => (await fetch(`${platform.apiOrigin}${p}`)).json() as Promise<T>;
  const saved = () => apiGet<Playback>(`/api/episodes/${encodeURIComponent(key)}/playback`);

  test.beforeAll(async () => {
    test.setTimeout(300_000);
    platform = await startPlatform({ dbName: 'podbrain_test_f_player' });
    app = await startAppServer({ api: platform.apiOrigin });
    // The feed through the api (the Feeds form is covered by viewer.real.spec.ts); wait until processed.
    const add = await fetch(`${platform.apiOrigin}/api/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: platform.feedUrl }) });
    expect(add.status, await add.clone().text()).toBeLessThan(300);
    await expect
      .poll(
        async () => {
          const page = await apiGet<{ items: { episode_key: string; title: string; state: string }[] }>('/api/episodes?limit=10');
          const ep = page.items.find((e) => e.title === EPISODE_TITLE);
          key = ep?.episode_key ?? '';
          return ep?.state;
        },
        { timeout: 240_000, intervals: [1000] },
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

  test('real api: play, change speed, skip; the position is saved on the server and a reload resumes there', async ({ page }) => {
    await page.goto(`${app.origin}/episodes/${encodeURIComponent(key)}`);
    const bar = page.getByTestId('player-bar');
    await expect(bar.getByTestId('player-title')).toHaveText(EPISODE_TITLE);
    await readyAt(page, 0);
    await page.getByTestId('episode-play').click();
    await expect.poll(() => paused(page)).toBe(false);
    await expect.poll(() => playerTime(page)).toBeGreaterThan(0.3);

    await bar.getByTestId('speed').selectOption('2');
    await expect.poll(() => rate(page)).toBe(2);

    // Skip 5 s back / 5 s forward (the clip is 11 s: the default 15/30 would run off its end).
    await bar.getByTestId('play-pause').click();
    await expect.poll(() => paused(page)).toBe(true);
    await bar.getByTestId('queue-toggle').click();
    await bar.getByTestId('skip-back-setting').fill('5');
    await bar.getByTestId('skip-forward-setting').fill('5');
    await bar.getByTestId('skip-save').click();
    await page.getByTestId('player').evaluate((a) => ((a as HTMLAudioElement).currentTime = 1));
    await expect.poll(() => playerTime(page)).toBeCloseTo(1, 1);
    await bar.getByTestId('skip-forward').click();
    await expect.poll(() => playerTime(page)).toBeCloseTo(6, 1);
    await bar.getByTestId('skip-back').click();
    await expect.poll(() => playerTime(page)).toBeCloseTo(1, 1);

    // A seek to 0:07 is saved (PUT on seek), with the duration the player measured.
    await page.getByTestId('player').evaluate((a) => ((a as HTMLAudioElement).currentTime = 7));
    await expect.poll(async () => (await saved()).position_ms, { timeout: 10_000 }).toBeGreaterThanOrEqual(6900);
    const state = await saved();
    expect(state.position_ms).toBeLessThan(7200);
    expect(state.duration_ms).toBeGreaterThan(10_000);
    expect(state.played).toBe(false);

    await page.reload();
    await readyAt(page, 7);
    expect(await paused(page)).toBe(true);
    await expect(page.getByTestId('play-progress')).toContainText('In progress');
    await expect(page.getByTestId('speed')).toHaveValue('2');
    await screenshot(page, 'real-player-episode');
  });

  test('real api: mark played — the episode list says so; mark unplayed puts it back', async ({ page }) => {
    await page.goto(`${app.origin}/episodes/${encodeURIComponent(key)}`);
    await page.getByTestId('mark-played').click();
    await expect(page.getByTestId('mark-played')).toHaveText('Mark unplayed');
    await expect(page.getByTestId('play-progress')).toHaveText('Played');
    await expect.poll(async () => (await saved()).played).toBe(true);
    const list = await apiGet<{ items: { episode_key: string; played: boolean }[] }>('/api/episodes?limit=10');
    expect(list.items.find((e) => e.episode_key === key)?.played).toBe(true);
    // A fresh page knows it too (from the server, not this page's memory).
    await page.reload();
    await expect(page.getByTestId('mark-played')).toHaveText('Mark unplayed');
    await page.getByTestId('mark-played').click();
    await expect(page.getByTestId('mark-played')).toHaveText('Mark played');
    await expect.poll(async () => (await saved()).played).toBe(false);
  });

  test('real api: copy a link to the moment and open it — paused at that time', async ({ page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: app.origin });
    await page.goto(`${app.origin}/episodes/${encodeURIComponent(key)}?t=4`);
    await readyAt(page, 4);
    await page.getByTestId('player').evaluate((a) => ((a as HTMLAudioElement).currentTime = 5.5));
    await expect.poll(() => playerTime(page)).toBeCloseTo(5.5, 1);
    await page.getByTestId('copy-moment').click();
    await expect(page.getByTestId('player-status')).toContainText('Copied');
    const link = await page.evaluate(() => navigator.clipboard.readText());
    expect(link).toBe(`${app.origin}/episodes/${encodeURIComponent(key)}?t=5.5`);

    const other = await context.newPage();
    await other.goto(link);
    await readyAt(other, 5.5);
    expect(await paused(other)).toBe(true);
    await expect(other.locator('[data-testid=transcript] [aria-current=true]')).toContainText('what your country can do for you');
    await other.close();
  });
});
