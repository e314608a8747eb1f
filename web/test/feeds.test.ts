import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory, createRouter } from 'vue-router';
import type { EpisodeSummary, Feed } from '../src/api/schema';

/** The Feeds page against a small in-memory api (fetch stubbed): what it sends, what it shows. */

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

const skippedEpisode = (key: string, title: string): EpisodeSummary => ({
  episode_key: key,
  feed_id: 'f1',
  feed_title: 'Show',
  title,
  published_at: '2021-03-04T10:00:00Z',
  duration_s: 3600,
  state: 'skipped',
  state_reason: 'backfill policy: not among the newest 3 when the feed was added',
  failed_stage: null,
  last_error: null,
  updated_at: '2026-11-20T10:00:00Z',
  position_ms: 0,
  played: false,
  image: null,
});

interface Sent {
  method: string;
  url: string;
  body: unknown;
}

function fakeApi() {
  const feed: Feed = {
    id: 'f1',
    url: 'https://example.com/show.xml',
    title: 'Show',
    image: null,
    link: null,
    description: null,
    last_polled_at: '2026-11-20T10:00:00Z',
    last_error: null,
    error_count: 0,
    paused: false,
    policy: { backfill: { newest: 3 }, include: [], exclude: [], min_duration_s: null, max_duration_s: null, audio_retention: null, audio_download: null },
    audio: { retention: 'keep-all', retention_overridden: false, download: 'when-needed', download_overridden: false },
    episode_count: 5,
    skipped_count: 2,
  };
  let skipped = [skippedEpisode('k1', 'Old one'), skippedEpisode('k2', 'Older one')];
  const sent: Sent[] = [];
  const fetch = vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET';
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    sent.push({ method, url, body });
    const path = new URL(url, 'http://localhost').pathname;
    if (method === 'GET' && path === '/api/feeds') return jsonResponse(200, { items: [feed] });
    if (method === 'POST' && path === '/api/feeds') return jsonResponse(202, { ...feed, id: 'f2', url: body.url, policy: { include: [], exclude: [], min_duration_s: null, max_duration_s: null, ...body } });
    if (method === 'PATCH' && path === '/api/feeds/f1') {
      if (body.paused !== undefined) feed.paused = body.paused;
      const { paused: _p, ...policy } = body;
      Object.assign(feed.policy, policy);
      feed.audio = {
        retention: feed.policy.audio_retention ?? 'keep-all',
        retention_overridden: feed.policy.audio_retention !== null,
        download: feed.policy.audio_download ?? 'when-needed',
        download_overridden: feed.policy.audio_download !== null,
      };
      return jsonResponse(200, feed);
    }
    if (method === 'GET' && path === '/api/episodes') return jsonResponse(200, { items: skipped, next_cursor: null });
    if (method === 'POST' && path.startsWith('/api/episodes/')) {
      const key = path.split('/')[3]!;
      skipped = skipped.filter((e) => e.episode_key !== key);
      feed.skipped_count = skipped.length;
      return jsonResponse(202, { episode_key: key, queued: true, state: 'pending', priority_class: 'interactive', job_id: `ingest.${key}.x` });
    }
    if (method === 'POST' && path === '/api/feeds/f1/process-skipped') {
      const n = skipped.length;
      skipped = [];
      feed.skipped_count = 0;
      return jsonResponse(202, { feed_id: 'f1', queued: n, episodes: n });
    }
    return jsonResponse(404, { error: { code: 'not_found', message: `no route ${method} ${path}` } });
  });
  return { fetch, sent, feed };
}

async function mountFeeds() {
  const { default: FeedsView } = await import('../src/views/FeedsView.vue');
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: FeedsView }, { path: '/episodes/:key', component: FeedsView }] });
  const w = mount(FeedsView, { global: { plugins: [router] } });
  await flushPromises();
  return w;
}

beforeEach(() => {
  vi.resetModules();
  localStorage.clear();
  vi.stubGlobal('confirm', () => true);
});
afterEach(() => vi.unstubAllGlobals());

describe('FeedsView', () => {
  it('adds a feed with the chosen back catalogue and filters (durations in minutes sent as seconds)', async () => {
    const api = fakeApi();
    vi.stubGlobal('fetch', api.fetch);
    const w = await mountFeeds();
    await w.find('[data-testid=feed-url]').setValue('https://example.com/new.xml');
    await w.find('[data-testid=backfill-since]').setValue(true);
    await w.find('[data-testid=backfill-date]').setValue('2024-01-31');
    await w.find('[data-testid=add-include]').setValue('interview\n  /^ep \\d+/  \n');
    await w.find('[data-testid=add-exclude]').setValue('bonus');
    const minutes = w.findAll('.filters input[type=number]');
    await minutes[0]!.setValue('10');
    await w.find('[data-testid=add-form]').trigger('submit');
    await flushPromises();
    const post = api.sent.find((s) => s.method === 'POST' && s.url.endsWith('/api/feeds'))!;
    expect(post.body).toEqual({ url: 'https://example.com/new.xml', backfill: { since: '2024-01-31' }, include: ['interview', '/^ep \\d+/'], exclude: ['bonus'], min_duration_s: 600, max_duration_s: null });
    expect(w.find('[data-testid=notice]').text()).toContain('back catalogue: since 2024-01-31');
    // the default choice is the newest 3
    await w.find('[data-testid=feed-url]').setValue('https://example.com/other.xml');
    await w.find('[data-testid=add-form]').trigger('submit');
    await flushPromises();
    expect(api.sent.filter((s) => s.method === 'POST' && s.url.endsWith('/api/feeds')).at(-1)!.body).toMatchObject({ backfill: { newest: 3 }, include: [] });
    w.unmount();
  });

  it('shows the policy, pauses and resumes a feed, and edits its policy', async () => {
    const api = fakeApi();
    vi.stubGlobal('fetch', api.fetch);
    const w = await mountFeeds();
    expect(w.find('[data-testid=policy-summary]').text()).toBe('back catalogue: newest 3');
    await w.find('[data-testid=pause-feed]').trigger('click');
    await flushPromises();
    expect(api.sent.find((s) => s.method === 'PATCH')!.body).toEqual({ paused: true });
    expect(w.find('[data-testid=paused-badge]').exists()).toBe(true);
    await w.find('[data-testid=resume-feed]').trigger('click');
    await flushPromises();
    expect(api.sent.filter((s) => s.method === 'PATCH').at(-1)!.body).toEqual({ paused: false });
    expect(w.find('[data-testid=paused-badge]').exists()).toBe(false);

    await w.find('[data-testid=edit-policy]').trigger('click');
    await w.find('[data-testid=edit-exclude]').setValue('trailer\nbonus');
    await w.find('[data-testid=edit-max]').setValue('90');
    await w.find('[data-testid=policy-form]').trigger('submit');
    await flushPromises();
    expect(api.sent.filter((s) => s.method === 'PATCH').at(-1)!.body).toEqual({ backfill: { newest: 3 }, include: [], exclude: ['trailer', 'bonus'], min_duration_s: null, max_duration_s: 5400, audio_retention: null, audio_download: null });
    expect(w.find('[data-testid=policy-form]').exists()).toBe(false);
    expect(w.find('[data-testid=policy-summary]').text()).toBe('back catalogue: newest 3 · not: trailer, bonus · 0–90 min');
    w.unmount();
  });

  it("edits the feed's audio retention and download; the default is the appliance's setting, and choosing it again sends null", async () => {
    const api = fakeApi();
    vi.stubGlobal('fetch', api.fetch);
    const w = await mountFeeds();
    const lastPatch = () => api.sent.filter((s) => s.method === 'PATCH').at(-1)!.body as Record<string, unknown>;
    await w.find('[data-testid=edit-policy]').trigger('click');
    const retention = w.find('[data-testid=edit-retention]');
    const download = w.find('[data-testid=edit-download]');
    expect((retention.element as HTMLSelectElement).value).toBe('default');
    expect(retention.find('option[value=default]').text()).toBe("as the appliance's setting (keep-all)");
    expect((download.element as HTMLSelectElement).value).toBe('default');
    expect(download.find('option[value=default]').text()).toBe("as the appliance's setting (when-needed)");
    expect(w.find('[data-testid=edit-retention-count]').exists()).toBe(false);

    await retention.setValue('last');
    await w.find('[data-testid=edit-retention-count]').setValue('1');
    await download.setValue('always');
    await w.find('[data-testid=policy-form]').trigger('submit');
    await flushPromises();
    expect(lastPatch()).toMatchObject({ audio_retention: 'last:1', audio_download: 'always' });
    expect(w.find('[data-testid=policy-summary]').text()).toBe('back catalogue: newest 3 · audio kept for the newest 1 episodes · audio always downloaded');

    // the editor opens on the feed's own choices
    await w.find('[data-testid=edit-policy]').trigger('click');
    expect((w.find('[data-testid=edit-retention]').element as HTMLSelectElement).value).toBe('last');
    expect((w.find('[data-testid=edit-retention-count]').element as HTMLInputElement).value).toBe('1');
    expect((w.find('[data-testid=edit-download]').element as HTMLSelectElement).value).toBe('always');
    await w.find('[data-testid=edit-retention]').setValue('days');
    await w.find('[data-testid=edit-retention-count]').setValue('30');
    await w.find('[data-testid=edit-download]').setValue('default');
    await w.find('[data-testid=policy-form]').trigger('submit');
    await flushPromises();
    expect(lastPatch()).toMatchObject({ audio_retention: 'days:30', audio_download: null });
    expect(w.find('[data-testid=policy-summary]').text()).toBe('back catalogue: newest 3 · audio kept 30 days');

    await w.find('[data-testid=edit-policy]').trigger('click');
    await w.find('[data-testid=edit-retention]').setValue('default');
    await w.find('[data-testid=policy-form]').trigger('submit');
    await flushPromises();
    expect(lastPatch()).toMatchObject({ audio_retention: null, audio_download: null });
    expect(w.find('[data-testid=policy-summary]').text()).toBe('back catalogue: newest 3');
    w.unmount();
  });

  it('lists the skipped episodes of a feed, processes one, then all', async () => {
    const api = fakeApi();
    vi.stubGlobal('fetch', api.fetch);
    const w = await mountFeeds();
    await w.find('[data-testid=show-skipped]').trigger('click');
    await flushPromises();
    const read = api.sent.find((s) => s.url.includes('/api/episodes?'))!;
    expect(read.url).toContain('feed_id=f1');
    expect(read.url).toContain('state=skipped');
    const items = () => w.findAll('[data-testid=skipped-list] li');
    expect(items().map((li) => li.attributes('data-episode'))).toEqual(['k1', 'k2']);
    expect(items()[0]!.text()).toContain('Old one');
    expect(items()[0]!.text()).toContain('backfill policy');

    await items()[0]!.find('[data-testid=process-one]').trigger('click');
    await flushPromises();
    expect(api.sent.some((s) => s.method === 'POST' && s.url.endsWith('/api/episodes/k1/process'))).toBe(true);
    expect(items().map((li) => li.attributes('data-episode'))).toEqual(['k2']);
    expect(w.find('[data-testid=notice]').text()).toContain('Queued “Old one” ahead of the backlog');

    await w.find('[data-testid=process-all]').trigger('click');
    await flushPromises();
    expect(api.sent.some((s) => s.method === 'POST' && s.url.endsWith('/api/feeds/f1/process-skipped'))).toBe(true);
    expect(items()).toHaveLength(0);
    expect(w.find('[data-testid=notice]').text()).toBe('Queued 1 skipped episode(s) of Show');
    expect(w.find('[data-testid=show-skipped]').exists()).toBe(false); // none left
    w.unmount();
  });

  it('says why the server refused a filter', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) =>
        init.method === 'POST' ? jsonResponse(400, { error: { code: 'invalid_request', message: 'invalid body: include.0: title filter /(?=a)/: lookarounds and backreferences are not allowed' } }) : jsonResponse(200, { items: [] }),
      ),
    );
    const w = await mountFeeds();
    await w.find('[data-testid=feed-url]').setValue('https://example.com/new.xml');
    await w.find('[data-testid=add-include]').setValue('/(?=a)/');
    await w.find('[data-testid=add-form]').trigger('submit');
    await flushPromises();
    expect(w.find('[data-testid=add-error]').text()).toContain('lookarounds and backreferences are not allowed');
    w.unmount();
  });
});

describe('EpisodeView process now', () => {
  it('opening a skipped episode queues nothing; Process now does', async () => {
    const sent: string[] = [];
    let state: EpisodeSummary['state'] = 'skipped';
    vi.stubGlobal('EventSource', class { addEventListener() {} close() {} });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        sent.push(`${init.method ?? 'GET'} ${new URL(url, 'http://localhost').pathname}`);
        if (init.method === 'POST') {
          state = 'pending';
          return jsonResponse(202, { episode_key: 'k1', queued: true, state: 'pending', priority_class: 'interactive', job_id: 'ingest.k1.x' });
        }
        if (url.endsWith('/episodes/k1')) return jsonResponse(200, { ...skippedEpisode('k1', 'Old one'), state, description: null, image: null, enclosure_url: null, audio_url: null });
        return jsonResponse(404, { error: { code: 'not_found', message: 'not yet' } });
      }),
    );
    const { default: EpisodeView } = await import('../src/views/EpisodeView.vue');
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/episodes/:key', component: EpisodeView }] });
    await router.push('/episodes/k1');
    const w = mount(EpisodeView, { global: { plugins: [router] } });
    await flushPromises();
    expect(sent.filter((s) => s.startsWith('POST'))).toEqual([]);
    await w.find('[data-testid=process-now]').trigger('click');
    await flushPromises();
    expect(sent.filter((s) => s.startsWith('POST'))).toEqual(['POST /api/episodes/k1/process']);
    expect(w.find('[data-testid=process-note]').text()).toBe('Queued ahead of the backlog.');
    w.unmount();
  });
});
