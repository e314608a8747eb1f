import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory, createRouter } from 'vue-router';
import type { EpisodeSummary } from '../src/api/schema';

/** A controllable EventSource: the test pushes `episode` events by hand. */
class FakeEventSource {
  static last: FakeEventSource | null = null;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, ((m: MessageEvent<string>) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.last = this;
    queueMicrotask(() => this.onopen?.());
  }
  addEventListener(type: string, fn: (m: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  push(type: string, data: unknown) {
    for (const fn of this.listeners.get(type) ?? []) fn({ data: JSON.stringify(data) } as MessageEvent<string>);
  }
}

const episode = (key: string, state: EpisodeSummary['state']): EpisodeSummary => ({
  episode_key: key,
  feed_id: 'f1',
  feed_title: 'Show',
  title: `Title ${key}`,
  published_at: '2026-11-20T10:00:00Z',
  duration_s: 60,
  state,
  state_reason: null,
  failed_stage: null,
  last_error: null,
  updated_at: '2026-11-20T10:00:00Z',
  position_ms: 0,
  played: false,
  image: null,
});

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

beforeEach(() => {
  vi.resetModules();
  vi.stubGlobal('EventSource', FakeEventSource);
  localStorage.clear();
});
afterEach(() => vi.unstubAllGlobals());

describe('api client', () => {
  it('treats a 404 transcript as "not yet" (null), surfaces the api error message, and says where to set a missing key', async () => {
    const fetchMock = vi.fn(async (url: string) => {
      if (url.endsWith('/transcript')) return jsonResponse(404, { error: { code: 'not_found', message: 'episode k has no transcript yet' } });
      if (url.endsWith('/episodes/k')) return jsonResponse(404, { error: { code: 'not_found', message: 'No episode k' } });
      return jsonResponse(401, { error: { code: 'unauthorized', message: 'this route needs the API key' } });
    });
    vi.stubGlobal('fetch', fetchMock);
    const { api, apiKey } = await import('../src/api/client');
    expect(await api.transcript('k')).toBeNull();
    await expect(api.episode('k')).rejects.toThrow('No episode k');
    await expect(api.addFeed('http://x/feed.xml')).rejects.toThrow('this route needs the API key — set the API key on the Admin page');
    apiKey.set('s3cret');
    await api.addFeed('http://x/feed.xml').catch(() => undefined);
    const headers = (fetchMock.mock.calls.at(-1) as unknown as [string, RequestInit])[1].headers as Record<string, string>;
    expect(headers.Authorization).toBe('Bearer s3cret');
  });
});

describe('LibraryView', () => {
  it('applies SSE state changes in place, and a list read that was in flight does not roll them back', async () => {
    let resolveSecondRead: (r: Response) => void = () => undefined;
    let reads = 0;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        if (url.includes('/feeds')) return jsonResponse(200, { items: [] });
        if (url.includes('/playback')) return jsonResponse(200, { items: [] });
        reads++;
        if (reads === 1) return jsonResponse(200, { items: [episode('a', 'pending')], next_cursor: null });
        // The second read was answered by the server before `a` moved on, but arrives after the event.
        return new Promise<Response>((r) => (resolveSecondRead = r));
      }),
    );
    const { default: LibraryView } = await import('../src/views/LibraryView.vue');
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: LibraryView }, { path: '/episodes/:key', component: LibraryView }] });
    const w = mount(LibraryView, { global: { plugins: [router] } });
    await flushPromises();
    const badge = (key: string) => w.find(`[data-episode="${key}"] [data-testid=state-badge]`);
    expect(badge('a').text()).toBe('queued');

    FakeEventSource.last!.push('episode', { episode_key: 'a', feed_id: 'f1', state: 'transcribing' });
    await flushPromises();
    expect(badge('a').text()).toBe('transcribing');
    expect(reads).toBe(1); // known episode: patched in place, no re-read

    // An unknown episode makes the list re-read (once, after a short pause)…
    FakeEventSource.last!.push('episode', { episode_key: 'b', feed_id: 'f1', state: 'pending' });
    await new Promise((r) => setTimeout(r, 300));
    expect(reads).toBe(2);
    // …and while that read is in flight, `a` fails.
    FakeEventSource.last!.push('episode', { episode_key: 'a', feed_id: 'f1', state: 'failed', reason: 'enclosure 404' });
    resolveSecondRead(jsonResponse(200, { items: [episode('b', 'pending'), episode('a', 'transcribing')], next_cursor: null }));
    await flushPromises();
    expect(badge('b').text()).toBe('queued');
    expect(badge('a').text()).toBe('failed: enclosure 404');
    w.unmount();
  });
});

describe('LibraryView paging', () => {
  it('shows older episodes page by page through the cursor', async () => {
    const calls: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        calls.push(url);
        if (url.includes('/feeds')) return jsonResponse(200, { items: [] });
        if (url.includes('/playback')) return jsonResponse(200, { items: [] });
        if (url.includes('cursor=c2')) return jsonResponse(200, { items: [episode('old', 'done')], next_cursor: null });
        return jsonResponse(200, { items: [episode('new', 'done')], next_cursor: 'c2' });
      }),
    );
    const { default: LibraryView } = await import('../src/views/LibraryView.vue');
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: LibraryView }, { path: '/episodes/:key', component: LibraryView }] });
    const w = mount(LibraryView, { global: { plugins: [router] } });
    await flushPromises();
    expect(w.findAll('[data-episode]').map((li) => li.attributes('data-episode'))).toEqual(['new']);
    await w.find('[data-testid=show-older]').trigger('click');
    await flushPromises();
    expect(w.findAll('[data-episode]').map((li) => li.attributes('data-episode'))).toEqual(['new', 'old']);
    expect(w.find('[data-testid=show-older]').exists()).toBe(false);
    expect(calls.some((c) => c.includes('cursor=c2') && c.includes('limit=50'))).toBe(true);
    w.unmount();
  });
});

describe('SearchView', () => {
  const mountSearch = async (body: unknown, q = 'country') => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(200, body)));
    const { default: SearchView } = await import('../src/views/SearchView.vue');
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/search', component: SearchView }, { path: '/episodes/:key', component: SearchView }] });
    await router.push(`/search?q=${encodeURIComponent(q)}`);
    const w = mount(SearchView, { global: { plugins: [router] } });
    await flushPromises();
    return w;
  };
  const snippet = 'ask «not» what <img src=x onerror="alert(1)"> your <b>country</b> can do';
  const hit = (extra: Record<string, unknown> = {}) => ({
    chunk_id: 'c1', episode_key: 'e1', episode_title: 'Ep', feed_id: 'f', feed_title: 'Show', start_ms: 65_000, end_ms: 90_000,
    snippet, highlights: [{ start: snippet.indexOf('country'), end: snippet.indexOf('country') + 7 }], matched_terms: ['country'], why: 'matched: country', relevance: 1, ...extra,
  });

  it('marks the highlight ranges as text, never renders the snippet as HTML, links to the sentence and says why', async () => {
    const w = await mountSearch({ query: 'country', took_ms: 1, vector: true, note: null, hits: [hit()] });
    const a = w.find('[data-testid=search-results] a');
    expect(a.findAll('mark').map((m) => m.text())).toEqual(['country']);
    expect(a.find('img').exists()).toBe(false);
    expect(a.find('b').exists()).toBe(false);
    expect(a.text()).toContain('ask «not» what <img src=x onerror="alert(1)"> your <b>');
    expect(a.text()).toContain('Show · 1:05');
    expect(a.attributes('href')).toBe('/episodes/e1?t=65');
    expect(a.find('[data-testid=hit-why]').text()).toBe('matched: country');
    expect(w.text()).not.toMatch(/score|relevance|0\.0\d/);
    expect(w.find('[data-testid=search-note]').exists()).toBe(false);
  });

  it('says "similar meaning" for a vector-only hit and skips bogus highlight ranges', async () => {
    const w = await mountSearch({
      query: 'country', took_ms: 1, vector: true, note: null,
      hits: [hit({ why: 'similar meaning', matched_terms: [], highlights: [{ start: 50, end: 40 }, { start: 0, end: 999 }, { start: 0, end: 3 }, { start: 1, end: 5 }] })],
    });
    const a = w.find('[data-testid=search-results] a');
    expect(a.findAll('mark').map((m) => m.text())).toEqual(['ask']);
    expect(a.text()).toContain(snippet.slice(3));
    expect(a.find('[data-testid=hit-why]').text()).toBe('similar meaning');
  });

  it('shows the empty state for no hits and the search note quietly', async () => {
    const note = 'searching with keyword hashing because the embedding model is not present';
    const w = await mountSearch({ query: 'xqzv blorf', took_ms: 1, vector: true, note, hits: [] }, 'xqzv blorf');
    expect(w.find('[data-testid=search-results]').exists()).toBe(false);
    expect(w.find('[role=status]').text()).toBe('Nothing in your episodes matches “xqzv blorf”. Try other words, or fewer of them.');
    expect(w.find('[data-testid=search-note]').text()).toBe(note);
  });
});

describe('AdminView failed jobs', () => {
  it('groups failed jobs by cause and retries a whole group with one request', async () => {
    const calls: { method: string; url: string; body?: string }[] = [];
    let retried = false;
    const job = (id: string, queue: string, reason: string, cause: string) => ({ id, queue, episode_key: `ep-${id}`, failed_reason: reason, cause, attempts: 3, timestamp: 1 });
    const dead = 'cannot resolve the host of https://cdn.dead.example/…';
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        calls.push({ method: init.method ?? 'GET', url, body: init.body as string | undefined });
        if (url.endsWith('/admin/queues')) return jsonResponse(200, { queues: [] });
        if (url.endsWith('/health')) return jsonResponse(200, { status: 'healthy', roles: {} });
        if (url.endsWith('/admin/failures/retry')) {
          retried = true;
          return jsonResponse(202, { cause: dead, retried: 2, skipped: 0, jobs: [] });
        }
        if (url.endsWith('/admin/failures')) {
          const groups = [
            { cause: dead, count: 2, queues: { ingest: 2 }, latest: 1, jobs: [job('a', 'ingest', 'cannot resolve the host of https://cdn.dead.example/1.mp3', dead), job('b', 'ingest', 'cannot resolve the host of https://cdn.dead.example/2.mp3', dead)] },
            { cause: 'whisper exited with code 1', count: 1, queues: { transcribe: 1 }, latest: 1, jobs: [job('c', 'transcribe', 'whisper exited with code 1', 'whisper exited with code 1')] },
          ];
          return jsonResponse(200, { groups: retried ? groups.slice(1) : groups, total: retried ? 1 : 3, truncated: false });
        }
        return jsonResponse(404, { error: { code: 'not_found', message: url } });
      }),
    );
    const { default: AdminView } = await import('../src/views/AdminView.vue');
    const w = mount(AdminView);
    await flushPromises();
    const groups = w.findAll('[data-testid=failure-group]');
    expect(groups.map((g) => g.find('.cause').text())).toEqual([dead, 'whisper exited with code 1']);
    expect(groups[0].text()).toContain('2 jobs · ingest 2');
    expect(groups[0].findAll('li')).toHaveLength(2);
    await groups[0].find('button[aria-label^="Retry all"]').trigger('click');
    await flushPromises();
    // A group of more than one job asks first: nothing is sent until the confirm.
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
    await w.find('[data-testid=retry-confirm]').trigger('click');
    await flushPromises();
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.url).toMatch(/\/admin\/failures\/retry$/);
    expect(JSON.parse(post!.body!)).toEqual({ cause: dead });
    expect(w.text()).toContain(`Retried 2 jobs: ${dead}`);
    expect(w.findAll('[data-testid=failure-group]')).toHaveLength(1);
    w.unmount();
  });
});

describe('AdminView stale panel', () => {
  const stale = (n: number) => ({
    feed_id: null,
    items: [
      { stage: 'ingest', stale: 0, done_total: 5, unknown: 0, current_recipe: ['aaaaaaaaaaaa'] },
      { stage: 'transcribe', stale: 0, done_total: 5, unknown: 0, current_recipe: ['bbbbbbbbbbbb', 'cccccccccccc'] },
      { stage: 'enrich', stale: n, done_total: 5, unknown: 1, current_recipe: ['dddddddddddd'] },
      { stage: 'index', stale: 0, done_total: 5, unknown: 0, current_recipe: [] },
    ],
    reprocess: { auto: true, window: '01:00-06:00', batch: 50 },
  });

  it('shows the stale count per stage and reprocesses after a confirm, never without one', async () => {
    const calls: { method: string; url: string; body?: string }[] = [];
    let left = 3;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        calls.push({ method: init.method ?? 'GET', url, body: init.body as string | undefined });
        if (url.endsWith('/admin/queues')) return jsonResponse(200, { queues: [] });
        if (url.endsWith('/health')) return jsonResponse(200, { status: 'healthy', roles: {} });
        if (url.endsWith('/admin/failures')) return jsonResponse(200, { groups: [], total: 0, truncated: false });
        if (url.endsWith('/admin/stale')) return jsonResponse(200, stale(left));
        if (url.endsWith('/admin/reprocess-stale')) {
          left = 0;
          return jsonResponse(202, { queued: 4, checked: 4, current: 0, unable: 0, remaining: 0 });
        }
        return jsonResponse(404, { error: { code: 'not_found', message: url } });
      }),
    );
    let answer = false;
    const asked: string[] = [];
    vi.stubGlobal('confirm', (m: string) => (asked.push(m), answer));
    const { default: AdminView } = await import('../src/views/AdminView.vue');
    const w = mount(AdminView);
    await flushPromises();
    const rows = w.findAll('[data-testid=stale] tbody tr').map((r) => r.findAll('td').map((d) => d.text()));
    expect(rows[2].slice(0, 3)).toEqual(['enrich', '3 (+1 not yet checked)', '5']);
    expect(rows[1][3]).toContain('cccccccccccc');
    expect(rows[3][3]).toBe('not configured');
    expect(w.text()).toContain('Automatic: on, 01:00-06:00');
    const button = w.findAll('button').find((b) => b.text() === 'Reprocess stale')!;
    expect(button.attributes('disabled')).toBeUndefined();

    await button.trigger('click');
    await flushPromises();
    expect(asked).toHaveLength(1);
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0); // cancelled: nothing sent

    answer = true;
    await button.trigger('click');
    await flushPromises();
    const post = calls.filter((c) => c.method === 'POST');
    expect(post).toHaveLength(1);
    expect(post[0].url).toMatch(/\/admin\/reprocess-stale$/);
    expect(w.find('[data-testid=reprocessed]').text()).toBe('Queued 4 stale episodes.');
    expect(w.findAll('[data-testid=stale] tbody tr')[2].findAll('td')[1].text()).toBe('0 (+1 not yet checked)');
    w.unmount();
  });
});
