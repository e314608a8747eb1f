import { flushPromises, mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import AsyncBlock from '../src/components/AsyncBlock.vue';
import StateBadge from '../src/components/StateBadge.vue';
import TranscriptList from '../src/components/TranscriptList.vue';
import { formatTime, segmentAt } from '../src/format';

const segments = Array.from({ length: 2500 }, (_, i) => ({ start_ms: i * 4000, end_ms: i * 4000 + 3900, text: `segment number ${i}`, speaker: null }));

describe('TranscriptList', () => {
  it('renders only a window of a 2,500-segment transcript', async () => {
    const w = mount(TranscriptList, { props: { segments, current: -1, follow: true }, attachTo: document.body });
    await flushPromises();
    const rows = w.findAll('[data-index]');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(80);
    expect(rows[0].text()).toContain('segment number 0');
    w.unmount();
  });

  it('emits seek with the segment start when a line is clicked, and marks the current line', async () => {
    const w = mount(TranscriptList, { props: { segments, current: 2, follow: false } });
    await flushPromises();
    await w.findAll('[data-index]')[3].find('.text').trigger('click');
    expect(w.emitted('seek')?.[0]).toEqual([12000]);
    expect(w.find('[aria-current="true"]').attributes('data-index')).toBe('2');
  });
});

describe('StateBadge', () => {
  it('shows queued for pending and the reason for failures', () => {
    expect(mount(StateBadge, { props: { state: 'pending' } }).text()).toBe('queued');
    const failed = mount(StateBadge, { props: { state: 'failed', reason: 'enclosure 404' } });
    expect(failed.text()).toContain('enclosure 404');
    expect(failed.classes()).toContain('bad');
  });
});

describe('AsyncBlock', () => {
  it('has loading, error and empty states', async () => {
    expect(mount(AsyncBlock, { props: { loading: true, error: null, empty: true } }).text()).toContain('Loading');
    const err = mount(AsyncBlock, { props: { loading: false, error: 'boom', empty: true } });
    expect(err.find('[role="alert"]').text()).toContain('boom');
    await err.find('button').trigger('click');
    expect(err.emitted('retry')).toHaveLength(1);
    expect(mount(AsyncBlock, { props: { loading: false, error: null, empty: true, emptyText: 'Nada' } }).text()).toBe('Nada');
    expect(mount(AsyncBlock, { props: { loading: false, error: null, empty: false }, slots: { default: 'content' } }).text()).toBe('content');
  });
});

describe('format', () => {
  it('finds the playing segment by binary search', () => {
    expect(segmentAt(segments, 0)).toBe(0);
    expect(segmentAt(segments, 4001)).toBe(1);
    expect(segmentAt(segments, 9_999_999)).toBe(2499);
    expect(segmentAt([{ start_ms: 500, end_ms: 900 }], 100)).toBe(-1);
    expect(formatTime(3_725_000)).toBe('1:02:05');
    expect(formatTime(65_000)).toBe('1:05');
  });
});
