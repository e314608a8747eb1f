// As a home-screen app on a phone (issue 18), as near as headless Chromium gets without one: a 390×844
// touch screen with an iPhone's safe-area insets (notch 47 px, home indicator 34 px), which a
// home-screen app gets because index.html asks for viewport-fit=cover. The player's controls stay
// clear of the home indicator, nothing hides behind the bar, and nothing scrolls sideways. A real
// phone's "Add to Home Screen" cannot be tried here (Chromium does not emulate display-mode: standalone).
import { expect } from '@playwright/test';
import { screenshot } from '../support/screens';
import { stubTest } from '../support/stub-test';

const test = stubTest(60);
const PHONE = { width: 390, height: 844 };
const INSETS = { top: 47, bottom: 34, left: 0, right: 0 };

test.use({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });

test('home screen: on a phone with safe-area insets, the player bar keeps its controls above the home indicator and the page ends above the bar', async ({ page, stub }) => {
  const feed = stub.addFeed('http://127.0.0.1:9/show/feed.xml');
  const key = `${feed.id}-ep1`;
  await expect.poll(() => stub.episodes.get(key)?.detail.state).toBe('done');

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setSafeAreaInsetsOverride', { insets: INSETS });

  await page.goto(`/episodes/${key}`);
  expect(await page.evaluate(() => document.querySelector('meta[name=viewport]')?.getAttribute('content'))).toContain('viewport-fit=cover');
  const bar = page.getByTestId('player-bar');
  await expect(bar).toBeVisible();

  // Every control of the bar sits above the home indicator.
  const lowest = await bar.evaluate((el) => Math.max(...[...el.querySelectorAll('button, select, input, a')].map((c) => c.getBoundingClientRect().bottom)));
  expect(lowest).toBeLessThanOrEqual(PHONE.height - INSETS.bottom);
  const barBox = (await bar.boundingBox())!;
  expect(barBox.y + barBox.height).toBeCloseTo(PHONE.height, 0);

  // Scrolled to the end, the page's last content is above the bar, and nothing is wider than the screen.
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  const lastBottom = await page.locator('main').evaluate((m) => {
    const all = [...m.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().height > 0);
    return Math.max(...all.map((e) => e.getBoundingClientRect().bottom));
  });
  expect(lastBottom).toBeLessThanOrEqual(barBox.y + 1);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
  await screenshot(page, 'home-screen-phone-episode');
});
