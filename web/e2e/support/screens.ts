import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { SCREENSHOTS_DIR } from './paths';

/** Saves web/screenshots/<name>.png (gitignored) for a human to look at. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true, animations: 'disabled' });
}

/** Seconds the <audio data-testid=player> is at. */
export const playerTime = (page: Page) => page.getByTestId('player').evaluate((a) => (a as HTMLAudioElement).currentTime);
