import { describe, expect, it } from 'vitest';
import { clusterPassages, type ClusterPassage } from '../src/digest/cluster';
import { MAX_PASSAGES, trimPassages } from '../src/digest/generate';
import { extractiveTitle, shorten } from '../src/digest/titles';
import { computeTrends } from '../src/digest/trends';

const unit = (...xs: number[]) => {
  const v = new Float32Array(4);
  xs.forEach((x, i) => (v[i] = x));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const passage = (episode: number, feed: string, vector: Float32Array, entities: string[] = [], weight = 0.5): ClusterPassage => ({ episode, feed, vector, entities, weight });
const OPTS = { threshold: 0.8, entityBonus: 0.08, maxBonus: 0.16, maxEpisodes: 12, maxClusters: 10 };

describe('digest clustering (pure)', () => {
  it('groups close passages of different episodes, never one episode alone, never chains away from the seed', () => {
    // Along an arc, 25° apart, the threshold at cos 30°: A–B and B–C and C–D are close, A–C and B–D are not.
    const at = (deg: number) => unit(Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180), 0, 0);
    const ps = [
      passage(0, 'a', at(0)),
      passage(1, 'b', at(25)),
      passage(2, 'c', at(50)),
      passage(3, 'd', at(75)),
      passage(4, 'e', unit(0, 0, 1, 0)),
      passage(5, 'e', unit(0, 0, 1, 0.05)), // same show as 4: a cluster within one show ranks after cross-show ones
      passage(0, 'a', unit(0, 0, 0.05, 1)), // alone
    ];
    const cs = clusterPassages(ps, { ...OPTS, threshold: Math.cos(Math.PI / 6) });
    // B seeds A and C (both close to B); D is close only to C, already taken: no chain to D.
    expect(cs.map((c) => c.members[0])).toEqual([1, 4]);
    expect(cs.map((c) => [...c.members].sort())).toEqual([
      [0, 1, 2],
      [4, 5],
    ]);
    expect(cs.map((c) => c.feeds)).toEqual([3, 1]);
  });

  it('shared graph entities pull passages over the line; the same episode twice is no link', () => {
    const a = passage(0, 'a', unit(1, 0.9, 0, 0), ['topic:x', 'org:y']);
    const b = passage(1, 'b', unit(1, 0, 0, 0), ['topic:x', 'org:y']);
    expect(clusterPassages([a, b], OPTS)).toHaveLength(1);
    expect(clusterPassages([{ ...a, entities: [] }, b], OPTS)).toHaveLength(0);
    expect(clusterPassages([a, { ...b, episode: 0 }], OPTS)).toHaveLength(0);
  });

  it('keeps at most maxClusters and maxEpisodes', () => {
    const ps = Array.from({ length: 30 }, (_, i) => passage(i, `f${i % 3}`, unit(1, 0, 0, 0)));
    const [c] = clusterPassages(ps, { ...OPTS, maxEpisodes: 5 });
    expect(c.members).toHaveLength(5);
    expect(clusterPassages(ps, { ...OPTS, maxEpisodes: 2, maxClusters: 3 })).toHaveLength(3);
  });

  it('trims a huge window to MAX_PASSAGES, the same best ones of every episode', () => {
    const ps = Array.from({ length: 1000 }, (_, e) => Array.from({ length: 8 }, (_, i) => ({ key: `e${e}`, i }))).flat();
    trimPassages(ps);
    expect(ps.length).toBeLessThanOrEqual(MAX_PASSAGES);
    expect(ps.filter((p) => p.key === 'e7').map((p) => p.i)).toEqual([0, 1, 2]);
  });
});

describe('digest trends and titles (pure)', () => {
  it('new, rising, steady, falling against the average of the windows before', () => {
    const row = (id: string, kind: string, bucket: number, episodes: number) => ({ id, kind, label: id, bucket, episodes });
    const t = computeTrends([row('new', 'Topic', 0, 2), row('up', 'Person', 0, 4), row('up', 'Person', 1, 1), row('up', 'Person', 3, 1), row('flat', 'Organization', 0, 1), row('flat', 'Organization', 2, 2), row('down', 'Topic', 1, 4), row('down', 'Topic', 2, 4), row('odd', 'Episode', 0, 9)]);
    expect(t).toEqual([
      { label: 'new', kind: 'topic', count: 2, before: 0, change: 'new' },
      { label: 'up', kind: 'person', count: 4, before: 0.5, change: 'rising' },
      { label: 'flat', kind: 'organization', count: 1, before: 0.5, change: 'steady' },
      { label: 'down', kind: 'topic', count: 0, before: 2, change: 'falling' },
    ]);
  });

  it('extractive titles: the shared entities, else the first sentence, shortened at a word', () => {
    expect(extractiveTitle({ entities: ['Bitcoin', 'SEC', 'ETF', 'Wall Street'], texts: [] })).toBe('Bitcoin, SEC and ETF');
    expect(extractiveTitle({ entities: [], texts: ['The spot ETF changed how institutions buy bitcoin. And more after that.'] })).toBe('The spot ETF changed how institutions buy bitcoin');
    expect(shorten('one two three four five six', 14)).toBe('one two three…');
  });
});
