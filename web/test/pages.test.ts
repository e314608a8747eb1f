import { flushPromises, mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import { createMemoryHistory, createRouter } from 'vue-router';
import CoverArt from '../src/components/CoverArt.vue';
import ShowNotes from '../src/components/ShowNotes.vue';

/** Cover art's fallback and the show notes' timestamp links (issue 18 pages). */

describe('CoverArt', () => {
  it('shows the image only once it loaded; a failed one leaves the placeholder and no <img>', async () => {
    const w = mount(CoverArt, { props: { src: 'https://example.com/cover.jpg', title: 'Money Talk weekly', seed: 'feed1', size: '4rem' } });
    const img = w.find('img');
    expect(img.attributes()).toMatchObject({ loading: 'lazy', decoding: 'async', referrerpolicy: 'no-referrer', alt: '' });
    expect(w.attributes('data-cover')).toBe('placeholder');
    expect(w.find('[data-testid=cover-placeholder]').text()).toBe('MT');
    await img.trigger('load');
    expect(w.attributes('data-cover')).toBe('image');
    await w.setProps({ src: 'https://example.com/other.jpg' });
    await w.find('img').trigger('error');
    expect(w.find('img').exists()).toBe(false);
    expect(w.attributes('data-cover')).toBe('placeholder');
  });

  it('no image for a non-http(s) URL; the colour is stable per feed and differs between feeds', () => {
    const a = mount(CoverArt, { props: { src: 'javascript:alert(1)', title: 'x', seed: 'feed-a' } });
    expect(a.find('img').exists()).toBe(false);
    const hueOf = (seed: string) => mount(CoverArt, { props: { seed, title: 'Show' } }).attributes('style');
    expect(hueOf('feed-a')).toBe(hueOf('feed-a'));
    expect(hueOf('feed-a')).not.toBe(hueOf('feed-b'));
  });
});

describe('ShowNotes', () => {
  it('links clock times in the text (not inside links) to ?t= on the same route, and a click moves there', async () => {
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/episodes/:key', component: { template: '<div />' } }] });
    await router.push('/episodes/k1');
    const w = mount(ShowNotes, {
      props: { html: '<p>Intro at 0:45, the interview from 12:34 and the end at 1:02:03.</p><p><a href="https://example.com/12:30" rel="noopener nofollow ugc" target="_blank">see 12:30</a></p>' },
      global: { plugins: [router] },
      attachTo: document.body,
    });
    await flushPromises();
    const moments = w.findAll('a.moment');
    expect(moments.map((a) => [a.text(), a.attributes('href')])).toEqual([
      ['0:45', '/episodes/k1?t=45'],
      ['12:34', '/episodes/k1?t=754'],
      ['1:02:03', '/episodes/k1?t=3723'],
    ]);
    expect(w.text()).toContain('see 12:30');
    await moments[1].trigger('click', { button: 0 });
    await flushPromises();
    expect(router.currentRoute.value.fullPath).toBe('/episodes/k1?t=754');
    w.unmount();
  });

  it('renders nothing without notes', () => {
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: { template: '<div />' } }] });
    const w = mount(ShowNotes, { props: { html: null }, global: { plugins: [router] } });
    expect(w.find('[data-testid=show-notes]').exists()).toBe(false);
  });
});
