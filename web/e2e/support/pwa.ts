// Checks shared by the installable-viewer specs (e2e/stub/pwa.stub.spec.ts, e2e/real/pwa.real.spec.ts).
import { expect, type APIRequestContext, type Page } from '@playwright/test';

/** Width and height from a PNG's IHDR. */
function pngSize(b: Buffer): string {
  expect(b.subarray(1, 4).toString('ascii')).toBe('PNG');
  return `${b.readUInt32BE(16)}x${b.readUInt32BE(20)}`;
}

/** Fetches the manifest a page links to and checks what an install needs; returns it. */
export async function checkManifest(page: Page, request: APIRequestContext) {
  const href = await page.locator('link[rel=manifest]').getAttribute('href');
  expect(href).toBe('/manifest.webmanifest');
  const res = await request.get(new URL(href!, page.url()).href);
  expect(res.status()).toBe(200);
  expect(res.headers()['content-type']).toContain('application/manifest+json');
  const m = await res.json();
  expect(m).toMatchObject({ name: 'podbrain', short_name: 'podbrain', start_url: '/', scope: '/', display: 'standalone' });
  expect(m.theme_color).toMatch(/^#[0-9a-f]{6}$/);
  expect(m.background_color).toMatch(/^#[0-9a-f]{6}$/);
  const icons = m.icons as { src: string; sizes: string; type: string; purpose: string }[];
  for (const want of ['192x192', '512x512']) expect(icons.some((i) => i.sizes === want && i.type === 'image/png' && i.purpose === 'any')).toBe(true);
  expect(icons.some((i) => i.purpose === 'maskable' && i.sizes === '512x512')).toBe(true);
  expect(icons.some((i) => i.type === 'image/svg+xml')).toBe(true);
  for (const icon of icons) {
    const r = await request.get(new URL(icon.src, res.url()).href);
    expect(r.status(), icon.src).toBe(200);
    expect(r.headers()['content-type'], icon.src).toContain(icon.type);
    if (icon.type === 'image/png') expect(pngSize(await r.body()), icon.src).toBe(icon.sizes);
  }
  const touch = await page.locator('link[rel=apple-touch-icon]').getAttribute('href');
  const t = await request.get(new URL(touch!, page.url()).href);
  expect(pngSize(await t.body())).toBe('180x180');
  expect(await page.locator('meta[name=theme-color]').count()).toBe(2);
  return m;
}

/** Waits until a service worker is active and controls the page. */
export async function controlled(page: Page): Promise<string> {
  await page.evaluate(() => navigator.serviceWorker.ready);
  await expect.poll(() => page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state)).toBe('activated');
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller?.scriptURL ?? null)).toMatch(/\/sw\.js$/);
  return 'activated';
}
