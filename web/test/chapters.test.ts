import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import type { Chapter } from '../src/api/schema';
import ChapterList, { chapterAt } from '../src/components/ChapterList.vue';

const chapters: Chapter[] = [
  { start_ms: 0, end_ms: 60_000, title: 'Intro', source: 'publisher', url: null, image: null },
  { start_ms: 60_000, end_ms: 3_700_000, title: 'Backups <b>not html</b>', source: 'publisher', url: 'https://example.com/b', image: null },
  { start_ms: 3_700_000, end_ms: null, title: 'Bread', source: 'publisher', url: null, image: null },
];

describe('ChapterList', () => {
  it('finds the chapter playing at a time', () => {
    expect(chapterAt(chapters, 0)).toBe(0);
    expect(chapterAt(chapters, 59_999)).toBe(0);
    expect(chapterAt(chapters, 60_000)).toBe(1);
    expect(chapterAt(chapters, 9_999_999)).toBe(2);
    expect(chapterAt([], 10)).toBe(-1);
    expect(chapterAt([{ ...chapters[1] }], 0)).toBe(-1);
  });

  it('lists title and time, seeks on click (a button: keyboard too), marks the current one, text only', async () => {
    const w = mount(ChapterList, { props: { chapters, source: 'publisher', nowMs: 61_000 } });
    const buttons = w.findAll('[data-testid=chapter]');
    expect(buttons.map((b) => b.text())).toEqual(['0:00Intro', '1:00Backups <b>not html</b>', '1:01:40Bread']);
    expect(w.find('b').exists()).toBe(false);
    expect(buttons[1].attributes('aria-current')).toBe('true');
    expect(buttons[0].attributes('aria-current')).toBeUndefined();
    expect(buttons[0].element.tagName).toBe('BUTTON');
    await buttons[2].trigger('click');
    expect(w.emitted('seek')?.[0]).toEqual([3_700_000]);
    expect(w.find('a.link').attributes()).toMatchObject({ href: 'https://example.com/b', rel: 'noopener noreferrer nofollow' });
    expect(w.find('[data-testid=chapters-source]').text()).toBe("(publisher's)");
    await w.setProps({ nowMs: 3_800_000 });
    expect(w.findAll('[data-testid=chapter]')[2].attributes('aria-current')).toBe('true');
  });
});
