// "Forget key" signs the browser out: on a private server the session cookie (HttpOnly, 30 days by
// default) opened every read after the key was forgotten, so a shared device stayed signed in.
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import ApiKeyForm from '../src/components/ApiKeyForm.vue';

let calls: { url: string; method: string; auth: string | null }[];
let deleted: string[];

beforeEach(() => {
  localStorage.clear();
  calls = [];
  deleted = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      calls.push({ url, method: init.method ?? 'GET', auth: new Headers(init.headers).get('authorization') });
      return new Response(null, { status: 204 });
    }),
  );
  const names = ['podbrain-shell-abc', 'podbrain-episodes-v2-0123456789abcdef01234567', 'podbrain-episodes-v2-anon'];
  vi.stubGlobal('caches', {
    keys: async () => names.filter((n) => !deleted.includes(n)),
    delete: async (n: string) => (deleted.push(n), true),
  });
});
afterEach(() => vi.unstubAllGlobals());

describe('ApiKeyForm: Forget key', () => {
  it('ends the session with the key before forgetting it, and deletes the offline episode copies (not the app shell)', async () => {
    localStorage.setItem('podbrain.apiKey', 'the-key');
    localStorage.setItem('podbrain.session', 'private');
    const w = mount(ApiKeyForm);
    await w.get('button[type=button]').trigger('click');
    await flushPromises();
    expect(calls).toEqual([{ url: '/api/session', method: 'DELETE', auth: 'Bearer the-key' }]);
    expect(localStorage.getItem('podbrain.apiKey')).toBeNull();
    expect(localStorage.getItem('podbrain.session')).toBeNull();
    expect(deleted.sort()).toEqual(['podbrain-episodes-v2-0123456789abcdef01234567', 'podbrain-episodes-v2-anon']);
    expect(w.find('button[type=button]').exists()).toBe(false);
  });

  it('forgets the key even when the server cannot be reached', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    localStorage.setItem('podbrain.apiKey', 'the-key');
    const w = mount(ApiKeyForm);
    await w.get('button[type=button]').trigger('click');
    await flushPromises();
    expect(localStorage.getItem('podbrain.apiKey')).toBeNull();
  });
});
