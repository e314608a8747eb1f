import type { Router } from 'vue-router';

/**
 * A tab opened before a deploy runs the old build: its pages' chunks (content-hashed names) are
 * gone from the server once the new build is there, so a click on a page not yet loaded fails to
 * import it and the navigation silently does nothing. Such a failure loads the target as a full
 * page instead: the new index.html, the new build. Once per target, so a chunk that is missing
 * from the new build too (or offline without a copy) stays an error, not a reload loop.
 */
const LOAD_FAILED = /Failed to fetch dynamically imported module|error loading dynamically imported module|Importing a module script failed|Unable to preload CSS/i;

export function isStaleChunkError(e: unknown): boolean {
  return LOAD_FAILED.test(e instanceof Error ? e.message : String(e));
}

const TRIED = 'podbrain.staleBuildReload';

type Marker = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
const whenIdle = (fn: () => void) => (window.requestIdleCallback ?? ((cb: () => void) => setTimeout(cb, 1)))(() => fn());

/**
 * `storage` is asked for only when needed: the first touch of sessionStorage is a synchronous round
 * trip to the browser (5–70 ms in Chromium), which must not sit between the first page's data and its
 * first paint. So the marker of a reload is cleared once per page load, when the page is idle.
 */
export function reloadOnStaleChunks(router: Router, storage: () => Marker = () => sessionStorage, go = (href: string) => window.location.assign(href), later: (fn: () => void) => void = whenIdle): void {
  router.onError((err, to) => {
    if (!isStaleChunkError(err)) return;
    const href = router.resolve(to.fullPath).href;
    const marker = storage();
    if (marker.getItem(TRIED) === href) return;
    marker.setItem(TRIED, href);
    go(href);
  });
  let cleared = false;
  router.afterEach((_to, _from, failure) => {
    if (failure || cleared) return;
    cleared = true;
    later(() => storage().removeItem(TRIED));
  });
}
