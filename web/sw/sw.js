/* podbrain's service worker (issue 18, installable). Hand-written; web/sw/plugin.ts fills in
 * VERSION and SHELL at build time (the app shell: index.html, every hashed file of the build and
 * the icons), so a new build is a new worker with a new shell cache, and the old cache is dropped
 * when it activates.
 *
 * - navigations: network first, the cached shell when offline (the app routes on the client);
 * - /assets/*: cache first (content-hashed names never change);
 * - the reads an episode page makes (GET /api/episodes/:key and its /transcript, /summary,
 *   /insights, /chapters): network first, the last good answer kept, so an episode you opened is
 *   readable offline; at most MAX_EPISODES episodes, the least recently opened dropped first.
 *   The copies are kept per identity (the Authorization the page sent, hashed; none is "anon"):
 *   offline, a request is answered only from its own identity's copies, and storing one identity's
 *   copies drops every other's — on a private server (AUTH_READS) a forgotten or changed key must
 *   not read the previous key's episodes from this device;
 * - everything else goes to the network untouched: the event stream (/api/events), audio (and any
 *   Range request), admin, writes, every other api read.
 */
const VERSION = '__VERSION__';
const SHELL = __SHELL__;
const SHELL_CACHE = `podbrain-shell-${VERSION}`;
// v1 copies were shared by every key: dropped on activate.
const EPISODE_CACHE_PREFIX = 'podbrain-episodes-v2-';
const MAX_EPISODES = 50;
const SCOPE = new URL(self.registration.scope);
const INDEX_URL = new URL('index.html', SCOPE).href;
const EPISODE_READ = /^api\/episodes\/([^/]+)(?:\/(?:transcript|summary|insights|chapters))?$/;
const LRU_KEY = new URL('__podbrain/episodes-lru', SCOPE).href;

self.addEventListener('install', (event) => {
  // Not skipWaiting(): a new version waits until the page says "reload" (pwa.ts), so a page never
  // runs against a shell it was not built with.
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL.map((p) => new Request(new URL(p, SCOPE).href, { cache: 'reload' })))),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('podbrain-shell-') && name !== SHELL_CACHE) await caches.delete(name);
        if (name === 'podbrain-episodes-v1') await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'SKIP_WAITING') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || req.headers.has('range')) return;
  const url = new URL(req.url);
  if (url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return;
  const rel = url.pathname.slice(SCOPE.pathname.length);

  if (rel.startsWith('api/')) {
    const m = EPISODE_READ.exec(rel);
    if (m && !url.search) event.respondWith(episodeRead(event, req, decodeURIComponent(m[1])));
    return;
  }
  if (req.mode === 'navigate') {
    event.respondWith(navigation(req));
    return;
  }
  if (rel.startsWith('assets/')) {
    event.respondWith(cacheFirst(req));
    return;
  }
  if (SHELL.includes(rel)) event.respondWith(networkFirst(req));
});

async function navigation(req) {
  try {
    return await fetch(req);
  } catch (e) {
    const shell = await caches.match(INDEX_URL, { cacheName: SHELL_CACHE });
    if (shell) return shell;
    throw e;
  }
}

async function cacheFirst(req) {
  const hit = await caches.match(req);
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok) {
    const copy = res.clone();
    caches.open(SHELL_CACHE).then((c) => c.put(req, copy));
  }
  return res;
}

async function networkFirst(req) {
  try {
    return await fetch(req);
  } catch (e) {
    const hit = await caches.match(req);
    if (hit) return hit;
    throw e;
  }
}

/** The episode cache of the identity `req` was sent with: a hash of its Authorization header, or "anon". */
async function episodeCacheOf(req) {
  const auth = req.headers.get('authorization');
  if (!auth) return `${EPISODE_CACHE_PREFIX}anon`;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(auth)));
  return EPISODE_CACHE_PREFIX + Array.from(digest.subarray(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function episodeRead(event, req, key) {
  const cacheName = await episodeCacheOf(req);
  let res;
  try {
    res = await fetch(req);
  } catch (e) {
    const hit = (await caches.has(cacheName)) ? await caches.match(req, { cacheName }) : undefined;
    if (hit) return hit;
    throw e;
  }
  // Only complete, successful JSON answers: a 401/404/5xx is the network's word, never cached.
  if (res.status === 200 && (res.headers.get('content-type') || '').includes('json')) {
    const copy = res.clone();
    event.waitUntil(remember(cacheName, req, copy, key));
  }
  return res;
}

// One bookkeeping step at a time: an episode page makes four reads at once.
let queue = Promise.resolve();
function remember(cacheName, req, res, key) {
  queue = queue.then(() => rememberNow(cacheName, req, res, key)).catch(() => undefined);
  return queue;
}

async function rememberNow(cacheName, req, res, key) {
  // One identity's copies at a time: another key's (or no key's) go before these are kept.
  for (const name of await caches.keys()) {
    if (name.startsWith(EPISODE_CACHE_PREFIX) && name !== cacheName) await caches.delete(name);
  }
  const cache = await caches.open(cacheName);
  await cache.put(req, res);
  const lruHit = await cache.match(LRU_KEY);
  const lru = lruHit ? await lruHit.json() : [];
  const next = [key, ...lru.filter((k) => k !== key)];
  const dropped = next.splice(MAX_EPISODES);
  if (dropped.length) {
    const gone = new Set(dropped);
    for (const r of await cache.keys()) {
      const m = EPISODE_READ.exec(new URL(r.url).pathname.slice(SCOPE.pathname.length));
      if (m && gone.has(decodeURIComponent(m[1]))) await cache.delete(r);
    }
  }
  await cache.put(LRU_KEY, new Response(JSON.stringify(next), { headers: { 'content-type': 'application/json' } }));
}
