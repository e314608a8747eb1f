/**
 * Registers the service worker (/sw.js, built by web/sw/plugin.ts) in production builds on a
 * secure origin (https, or localhost where browsers allow workers over http), a while after the page
 * has loaded: installing fetches the whole shell, which must not compete with the first page's own
 * reads (the 3-hour episode's transcript; bench/viewer measures it with and without the worker). A new version waits (sw.js does not
 * skipWaiting on its own); the page offers "New version — reload", and only that click swaps it.
 */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function serviceWorkerAllowed(loc: Pick<Location, 'protocol' | 'hostname'>, prod: boolean): boolean {
  if (!prod || typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return false;
  return loc.protocol === 'https:' || LOCAL_HOSTS.has(loc.hostname) || loc.hostname.endsWith('.localhost');
}

export const REGISTER_AFTER_LOAD_MS = 2_000;

export function registerServiceWorker(): void {
  if (!serviceWorkerAllowed(location, import.meta.env.PROD)) return;
  const start = () => {
    const idle = window.requestIdleCallback ?? ((cb: () => void) => setTimeout(cb, 1));
    setTimeout(() => idle(() => void register(), { timeout: 3000 }), REGISTER_AFTER_LOAD_MS);
  };
  if (document.readyState === 'complete') start();
  else window.addEventListener('load', start, { once: true });
}

async function register(): Promise<void> {
  const base = import.meta.env.BASE_URL;
  let reg: ServiceWorkerRegistration;
  try {
    reg = await navigator.serviceWorker.register(`${base}sw.js`, { scope: base });
  } catch (e) {
    console.warn('service worker not registered:', e);
    return;
  }
  // A worker already waiting from an earlier visit, or one that finishes installing now.
  const offer = (w: ServiceWorker | null) => {
    if (w && navigator.serviceWorker.controller) showUpdateToast(w);
  };
  offer(reg.waiting);
  reg.addEventListener('updatefound', () => {
    const w = reg.installing;
    w?.addEventListener('statechange', () => {
      if (w.state === 'installed') offer(w);
    });
  });
  // Long-lived tabs (an installed app stays open for days) look for a new version now and then.
  setInterval(() => void reg.update().catch(() => undefined), 60 * 60 * 1000);
}

function showUpdateToast(waiting: ServiceWorker): void {
  if (document.querySelector('[data-testid=update-toast]')) return;
  const toast = document.createElement('div');
  toast.className = 'update-toast';
  toast.dataset.testid = 'update-toast';
  toast.setAttribute('role', 'status');
  const text = document.createElement('span');
  text.textContent = 'New version — ';
  const reload = document.createElement('button');
  reload.type = 'button';
  reload.textContent = 'reload';
  const dismiss = document.createElement('button');
  dismiss.type = 'button';
  dismiss.className = 'ghost';
  dismiss.setAttribute('aria-label', 'Dismiss');
  dismiss.textContent = '×';
  reload.addEventListener('click', () => {
    reload.disabled = true;
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    waiting.postMessage({ type: 'SKIP_WAITING' });
  });
  dismiss.addEventListener('click', () => toast.remove());
  toast.append(text, reload, dismiss);
  document.body.append(toast);
}
