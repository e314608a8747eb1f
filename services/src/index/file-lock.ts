import fs from 'node:fs/promises';
import { PodbrainError } from '../core/errors';

const STALE_MS = 60 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A cross-process exclusive lock: a file created with O_EXCL holding our pid. A lock whose
 * holder died (pid gone) or that is older than an hour is taken over.
 */
export async function acquireFileLock(file: string, timeoutMs = 15 * 60_000): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  let wait = 20;
  for (;;) {
    try {
      const h = await fs.open(file, 'wx');
      await h.writeFile(JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
      await h.close();
      return () => fs.rm(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    try {
      const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
      const holder = JSON.parse(text || '{}') as { pid?: number };
      const stale = (holder.pid !== undefined && holder.pid !== process.pid && !alive(holder.pid)) || Date.now() - st.mtimeMs > STALE_MS;
      if (stale) {
        await fs.rm(file, { force: true });
        continue;
      }
    } catch {
      // Being written or just removed: try again.
    }
    if (Date.now() > deadline) throw new PodbrainError('index_locked', `the vector index is locked by another process (${file})`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 500);
  }
}
