import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Bytes of the files under `dir` (DATA_DIR: corpus, index, feed state, staging), walked without
 * following symlinks, so a link out of the volume is not counted. The disk budget (DATA_MAX_GB)
 * compares this with its limit; the retention job caches it between walks.
 */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop()!;
    const entries = await fs.readdir(current, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const full = path.join(current, e.name);
      if (e.isDirectory()) stack.push(full);
      else if (e.isFile()) total += (await fs.lstat(full).catch(() => null))?.size ?? 0;
    }
  }
  return total;
}
