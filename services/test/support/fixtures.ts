import { existsSync } from 'node:fs';
import path from 'node:path';

/** ../shared/fixtures, as laid out in CI (shared/ beside the clone). */
export const SHARED_DIR = path.resolve(__dirname, '../../../../shared');
export const FIXTURES = path.join(SHARED_DIR, 'fixtures');
export const fixture = (...p: string[]) => path.join(FIXTURES, ...p);

if (!existsSync(FIXTURES)) {
  throw new Error(`fixtures not found at ${FIXTURES}: tests expect ../shared beside the repository`);
}
