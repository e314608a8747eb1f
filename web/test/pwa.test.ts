import { describe, expect, it } from 'vitest';
import { serviceWorkerAllowed } from '../src/pwa';

describe('service worker registration', () => {
  it('only in a production build, on https or a local host', () => {
    if (!('serviceWorker' in navigator)) Object.defineProperty(navigator, 'serviceWorker', { value: {}, configurable: true });
    const at = (protocol: string, hostname: string) => ({ protocol, hostname });
    expect(serviceWorkerAllowed(at('https:', 'podcasts.example.org'), true)).toBe(true);
    expect(serviceWorkerAllowed(at('http:', 'localhost'), true)).toBe(true);
    expect(serviceWorkerAllowed(at('http:', '127.0.0.1'), true)).toBe(true);
    expect(serviceWorkerAllowed(at('http:', 'app.localhost'), true)).toBe(true);
    // Plain http to a LAN address: browsers refuse workers there, so do not try.
    expect(serviceWorkerAllowed(at('http:', '192.168.1.20'), true)).toBe(false);
    // The dev server (vite) never registers one: it would cache modules that hot reload replaces.
    expect(serviceWorkerAllowed(at('https:', 'podcasts.example.org'), false)).toBe(false);
  });
});
