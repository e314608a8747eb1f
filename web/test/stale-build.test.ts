import { describe, expect, it, vi } from 'vitest';
import { createMemoryHistory, createRouter } from 'vue-router';
import { isStaleChunkError, reloadOnStaleChunks } from '../src/stale-build';

const Page = { template: '<p>page</p>' };

function setup() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', component: Page },
      { path: '/ok', component: Page },
      { path: '/gone', component: () => Promise.reject(new TypeError('Failed to fetch dynamically imported module: http://x/assets/GoneView-AbCd1234.js')) },
      { path: '/broken', component: () => Promise.reject(new Error('boom')) },
    ],
  });
  const store = new Map<string, string>();
  const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v), removeItem: (k: string) => void store.delete(k) };
  const go = vi.fn();
  const opened = vi.fn(() => storage);
  reloadOnStaleChunks(router, opened, go, (fn) => fn());
  return { router, go, opened };
}

describe('a page of an older build (stale chunks after a deploy)', () => {
  it('recognises the browsers’ failed-import messages, nothing else', () => {
    expect(isStaleChunkError(new TypeError('Failed to fetch dynamically imported module: https://h/assets/A-1.js'))).toBe(true);
    expect(isStaleChunkError(new TypeError('error loading dynamically imported module: https://h/assets/A-1.js'))).toBe(true);
    expect(isStaleChunkError(new TypeError('Importing a module script failed.'))).toBe(true);
    expect(isStaleChunkError(new Error('Unable to preload CSS for /assets/A-1.css'))).toBe(true);
    expect(isStaleChunkError(new Error('boom'))).toBe(false);
  });

  it('loads the target as a full page once; a second failure for it is left as an error (no loop)', async () => {
    const { router, go } = setup();
    await router.push('/');
    await router.push('/gone?t=12').catch(() => undefined);
    expect(go).toHaveBeenCalledWith('/gone?t=12');
    await router.push('/gone?t=12').catch(() => undefined);
    expect(go).toHaveBeenCalledTimes(1);
    await router.push('/broken').catch(() => undefined);
    expect(go).toHaveBeenCalledTimes(1);
  });

  it('a page that loads fine does not touch the storage until it is idle (a synchronous round trip on the first paint\'s path)', async () => {
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: Page }, { path: '/ok', component: Page }] });
    const storage = vi.fn(() => ({ getItem: () => null, setItem: () => undefined, removeItem: () => undefined }));
    const idle: (() => void)[] = [];
    reloadOnStaleChunks(router, storage, vi.fn(), (fn) => void idle.push(fn));
    await router.push('/');
    await router.push('/ok');
    expect(storage).not.toHaveBeenCalled();
    expect(idle).toHaveLength(1); // once per page load
    idle[0]();
    expect(storage).toHaveBeenCalledTimes(1);
  });

  it('after a navigation that works, a later deploy is handled again', async () => {
    const { router, go } = setup();
    await router.push('/gone').catch(() => undefined);
    await router.push('/ok');
    await router.push('/gone').catch(() => undefined);
    expect(go).toHaveBeenCalledTimes(2);
  });
});
