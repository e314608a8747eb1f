// Private by default when exposed (issue 15), in Debian Chromium against the REAL appliance started
// with DOMAIN set and AUTH_API_KEY (e2e/support/platform.ts): the viewer asks for the key once,
// then the Library, the player's audio and the live events work — after a reload too — without
// asking again (the key is kept in localStorage, audio and SSE go through the session cookie).
import { test, expect, type Page } from '@playwright/test';
import { type AppServer, startAppServer } from '../support/app-server';
import { EPISODE_TITLE, type Platform, platformMissing, startPlatform } from '../support/platform';
import { screenshot } from '../support/screens';

const missing = platformMissing();
const KEY = 'e2e-private-key';

test.describe.serial(missing ? `real api private reads (NOT RUN: ${missing})` : 'real api private reads', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let app: AppServer;
  let episodeKey = '';

  const apiGet = async (p: string, key?: string) => fetch(`${platform.apiOrigin}${p}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  test.beforeAll(async () => {
    test.setTimeout(300_000);
    // AUDIO_DOWNLOAD=always: the episode's audio is served by the api (so the player needs the cookie), not streamed from the publisher.
    platform = await startPlatform({ env: { DOMAIN: 'podcasts.example.org', AUTH_API_KEY: KEY, AUDIO_DOWNLOAD: 'always' } });
    app = await startAppServer({ api: platform.apiOrigin });
    // The library is built through the api with the key (the viewer's feed form is covered by viewer.real.spec.ts).
    expect((await apiGet('/api/episodes')).status).toBe(401);
    const add = await fetch(`${platform.apiOrigin}/api/feeds`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: platform.feedUrl }) });
    expect(add.status, await add.clone().text()).toBeLessThan(300);
    await expect
      .poll(
        async () => {
          const page = (await (await apiGet('/api/episodes?limit=10', KEY)).json()) as { items: { episode_key: string; title: string; state: string }[] };
          const ep = page.items.find((e) => e.title === EPISODE_TITLE);
          episodeKey = ep?.episode_key ?? '';
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

  const item = (page: Page) => page.getByTestId('episode-list').getByRole('listitem').filter({ hasText: EPISODE_TITLE });

  /** Plays the episode's audio (muted) and answers how far it got; the audio comes from the api, so only with the cookie. */
  async function playAudio(page: Page): Promise<number> {
    const player = page.getByTestId('player');
    await expect(player).toHaveAttribute('src', `/api/episodes/${encodeURIComponent(episodeKey)}/audio`);
    await player.evaluate((a) => {
      const audio = a as HTMLAudioElement;
      audio.muted = true;
      return audio.play();
    });
    await expect.poll(() => player.evaluate((a) => (a as HTMLAudioElement).currentTime), { timeout: 15_000 }).toBeGreaterThan(0.2);
    return player.evaluate((a) => (a as HTMLAudioElement).currentTime);
  }

  /** Publishes an episode event the way the workers do; the open Library shows its state live. */
  async function publishState(state: string): Promise<void> {
    const { default: IORedis } = await import('ioredis');
    const redis = new IORedis(platform.env.REDIS_URL);
    try {
      await redis.publish(`${platform.env.QUEUE_PREFIX}:events`, JSON.stringify({ type: 'episode', episode_key: episodeKey, feed_id: 'x', state, at: new Date().toISOString() }));
    } finally {
      redis.disconnect();
    }
  }

  test('real api, private: the viewer asks for the key once; then the Library, the player and live events work, after a reload without asking again', async ({ page }) => {
    test.setTimeout(180_000);
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 401) refused.push(new URL(r.url()).pathname);
    });

    await page.goto(app.origin);
    const signIn = page.getByTestId('sign-in');
    await expect(signIn).toBeVisible();
    await expect(signIn).toContainText('private');
    await screenshot(page, 'real-private-sign-in');
    // A wrong key is refused and the form stays.
    await signIn.getByLabel(/Key for a server/).fill('not-the-key');
    await signIn.getByRole('button', { name: 'Save key' }).click();
    await expect(page.getByTestId('sign-in-error')).toHaveText('That key was not accepted.');
    await signIn.getByLabel(/Key for a server/).fill(KEY);
    await signIn.getByRole('button', { name: 'Save key' }).click();
    await expect(signIn).toBeHidden();
    await expect(item(page)).toBeVisible();
    await expect(page.getByText('● live')).toBeVisible();
    expect(await page.evaluate(() => localStorage.getItem('podbrain.apiKey'))).toBe(KEY);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'podbrain_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api' });

    expect(refused.filter((p) => p === '/api/session'), 'the wrong key, once').toHaveLength(1);
    expect(refused, 'the reads before the key was given').toContain('/api/episodes');

    // After a reload: no form, nothing refused; the Library, live events and the player work.
    refused.length = 0;
    await page.reload();
    await expect(item(page)).toBeVisible();
    await expect(page.getByText('● live')).toBeVisible();
    await expect(signIn).toBeHidden();
    await publishState('enriching');
    await expect(item(page).getByTestId('state-badge')).toHaveText('enriching');
    await publishState('done');
    await expect(item(page).getByTestId('state-badge')).toHaveText('done');

    await item(page).getByRole('link', { name: EPISODE_TITLE }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(EPISODE_TITLE);
    expect(await playAudio(page)).toBeGreaterThan(0.2);
    await expect(signIn).toBeHidden();

    // The audio and the event stream answer to the cookie alone (the page never sends the key there).
    const viaCookie = await page.evaluate(async (key) => {
      const audio = await fetch(`/api/episodes/${encodeURIComponent(key)}/audio`, { headers: { range: 'bytes=0-3' } });
      return audio.status;
    }, episodeKey);
    expect(viaCookie).toBe(206);
    expect(refused, 'nothing refused after the reload').toEqual([]);
  });

  test('real api, private: a fresh browser without the key sees no library, audio or events', async ({ browser }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(app.origin);
    await expect(page.getByTestId('sign-in')).toBeVisible();
    await expect(page.getByTestId('episode-list')).toHaveCount(0);
    const statuses = await page.evaluate(async (key) => {
      const audio = await fetch(`/api/episodes/${encodeURIComponent(key)}/audio`);
      const events = await fetch('/api/events');
      return [audio.status, events.status];
    }, episodeKey);
    expect(statuses).toEqual([401, 401]);
    await context.close();
  });
});
