import type { TrendCountRow } from '../repositories/digests.repository';
import type { Trend, TrendChange, TrendKind } from './types';

/** The windows before the digest's own that its trends compare with. */
export const TREND_WINDOWS_BEFORE = 4;
export const MAX_TRENDS = 30;

const KIND: Record<string, TrendKind> = { Topic: 'topic', Person: 'person', Organization: 'organization' };
const ORDER: Record<TrendChange, number> = { new: 0, rising: 1, steady: 2, falling: 3 };

/**
 * What rose or appeared: per entity, the episodes of this window that mention it (bucket 0) against
 * the average of the windows before. new: none before; rising: at least 2 now and at least 1.5× the
 * average (and one more); falling: under half the average (it was in at least one episode a window);
 * else steady. New and rising first, the bigger counts and jumps first within each.
 */
export function computeTrends(rows: readonly TrendCountRow[], windowsBefore = TREND_WINDOWS_BEFORE, max = MAX_TRENDS): Trend[] {
  const by = new Map<string, { label: string; kind: TrendKind; now: number; before: number }>();
  for (const r of rows) {
    const kind = KIND[r.kind];
    if (!kind || r.bucket < 0 || r.bucket > windowsBefore) continue;
    let t = by.get(r.id);
    if (!t) by.set(r.id, (t = { label: r.label, kind, now: 0, before: 0 }));
    if (r.bucket === 0) t.now += r.episodes;
    else t.before += r.episodes;
  }
  const out: (Trend & { jump: number })[] = [];
  for (const t of by.values()) {
    const before = windowsBefore ? t.before / windowsBefore : 0;
    let change: TrendChange;
    if (t.now > 0 && t.before === 0) change = 'new';
    else if (t.now >= 2 && t.now >= 1.5 * before && t.now - before >= 1) change = 'rising';
    else if (before >= 1 && t.now < before / 2) change = 'falling';
    else if (t.now > 0) change = 'steady';
    else continue;
    out.push({ label: t.label, kind: t.kind, count: t.now, before: Math.round(before * 100) / 100, change, jump: t.now - before });
  }
  out.sort((a, b) => ORDER[a.change] - ORDER[b.change] || (a.change === 'falling' ? a.jump - b.jump : b.count - a.count || b.jump - a.jump) || a.label.localeCompare(b.label));
  return out.slice(0, max).map(({ jump: _jump, ...t }) => t);
}
