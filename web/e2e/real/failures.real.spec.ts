// A failed episode against the REAL appliance (api + scheduler + worker on Postgres and Redis, see
// e2e/support/platform.ts): a feed whose one enclosure answers 404 is added, the download fails,
// and the Episode page says why (stage, cause, attempts, that a retry will not help) with Retry
// right there, no player and no empty transcript shells; Retry queues the episode again.
import { test, expect } from '@playwright/test';
import { type AppServer, startAppServer } from '../support/app-server';
import { BROKEN_EPISODE_TITLE, type Platform, platformMissing, startPlatform } from '../support/platform';
import { screenshot } from '../support/screens';

const missing = platformMissing();
if (missing) console.log(`[real-api] not run: ${missing}`);

interface Episode {
  episode_key: string;
  title: string;
  state: string;
  updated_at: string;
  failure: { stage: string | null; cause: string; attempts: number; retryable: boolean } | null;
  audio_url: string | null;
}

test.describe.serial(missing ? `real api failures (NOT RUN: ${missing})` : 'real api failures', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let app: AppServer;

  const get = async <T>(path: string): Promise<T> => (await (await fetch(`${platform.apiOrigin}${path}`)).json()) as T;
  const brokenEpisode = async () => (await get<{ items: Episode[] }>('/api/episodes?limit=50')).items.find((e) => e.title === BROKEN_EPISODE_TITLE);

  test.beforeAll(async () => {
    test.setTimeout(120_000);
    // Retries a few ms apart, so the three download attempts take seconds, not the production backoff.
    platform = await startPlatform({ env: { QUEUE_BACKOFF_MS: '100' }, dbName: 'podbrain_test_f_failures' });
    app = await startAppServer({ api: platform.apiOrigin });
  });

  test.afterAll(async () => {
    await app?.close();
    await platform?.stop();
  });

  test.afterEach(async ({}, info) => {
    if (info.status !== info.expectedStatus) await info.attach('platform logs', { body: platform?.logs() ?? '', contentType: 'text/plain' });
  });

  test('real api: an episode whose enclosure is gone fails; its page shows the cause and Retry, no player and no empty shells; Retry queues it again', async ({ page }) => {
    test.setTimeout(240_000);
    const added = await fetch(`${platform.apiOrigin}/api/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: platform.brokenFeedUrl }) });
    expect(added.status, await added.clone().text()).toBeLessThan(300);
    await expect.poll(async () => (await brokenEpisode())?.state, { timeout: 180_000, intervals: [500] }).toBe('failed');
    const failed = (await get<Episode>(`/api/episodes/${encodeURIComponent((await brokenEpisode())!.episode_key)}`))!;
    expect(failed.failure).toMatchObject({ stage: 'ingest', retryable: false });
    expect(failed.failure!.cause).toMatch(/returned HTTP 404/);
    expect(failed.audio_url).toBeNull();

    await page.goto(`${app.origin}/episodes/${encodeURIComponent(failed.episode_key)}`);
    const panel = page.getByTestId('episode-problem');
    await expect(panel.getByRole('heading')).toHaveText('This episode could not be processed');
    await expect(panel.getByTestId('failure-cause')).toContainText('It failed while downloading the audio');
    await expect(panel.getByTestId('failure-cause')).toContainText('returned HTTP 404');
    await expect(panel.getByTestId('failure-permanent')).toBeVisible();
    await expect(page.getByTestId('player')).toHaveCount(0);
    for (const empty of ['No transcript yet.', 'No summary yet.', 'No insights yet.']) await expect(page.getByText(empty)).toHaveCount(0);
    await expect(page.getByRole('heading', { name: 'Transcript' })).toHaveCount(0);
    await screenshot(page, 'real-episode-failed');

    const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/api/episodes/${encodeURIComponent(failed.episode_key)}/process`));
    await panel.getByRole('button', { name: 'Retry' }).click();
    const res = await posted;
    expect(res.status()).toBe(202);
    expect(await res.json()).toMatchObject({ queued: true, priority_class: 'interactive' });
    await expect(page.getByTestId('process-note')).toHaveText('Queued ahead of the backlog.');
    // It runs again (a newer state change than the failure) and, the file being still gone, fails again: the panel is back.
    await expect.poll(async () => (await brokenEpisode())!.updated_at > failed.updated_at, { timeout: 60_000 }).toBe(true);
    await expect.poll(async () => (await brokenEpisode())!.state, { timeout: 120_000, intervals: [500] }).toBe('failed');
    await expect(page.getByTestId('episode-problem').getByRole('button', { name: 'Retry' })).toBeVisible({ timeout: 20_000 });
  });
});
