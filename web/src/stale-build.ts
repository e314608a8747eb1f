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

export function reloadOnStaleChunks(router: Router, storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> = sessionStorage, go = (href: string) => window.location.assign(href)): void {
  router.onError((err, to) => {
    if (!isStaleChunkError(err)) return;
    const href = router.resolve(to.fullPath).href;
    if (storage.getItem(TRIED) === href) return;
    storage.setItem(TRIED, href);
    go(href);
  });
  router.afterEach((_to, _from, failure) => {
    if (!failure) storage.removeItem(TRIED);
  });
}
