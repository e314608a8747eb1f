import { existsSync } from 'node:fs';
import path from 'node:path';

export const WEB_DIR = path.resolve(import.meta.dirname, '../..');
export const REPO_DIR = path.resolve(WEB_DIR, '..');
export const DIST_DIR = path.join(WEB_DIR, 'dist');
export const SCREENSHOTS_DIR = path.join(WEB_DIR, 'screenshots');
/** ../shared/fixtures, as laid out in CI (shared/ beside the clone). */
export const FIXTURES = path.resolve(REPO_DIR, '../shared/fixtures');
export const fixture = (...p: string[]) => path.join(FIXTURES, ...p);

export function requireDist(): void {
  if (!existsSync(path.join(DIST_DIR, 'index.html'))) {
    throw new Error(`web/dist is missing: run \`npm run build -w web\` before the end-to-end tests`);
  }
}
