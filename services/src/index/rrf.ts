/** One ranked list's entry; ids are whatever the caller uses to identify a document. */
export interface Ranked {
  id: string;
}

export interface Fused {
  id: string;
  score: number;
  /** 1-based rank of the id in each input list, null where absent. */
  ranks: (number | null)[];
}

/**
 * Reciprocal rank fusion (Cormack et al. 2009): score(d) = Σ 1 / (k + rank_i(d)).
 * Pure, so the atomic (BM25) and stage (Postgres full-text) modes fuse the same way.
 * Ties keep the order of first appearance across the lists.
 */
export function reciprocalRankFusion(lists: readonly (readonly Ranked[])[], k = 60): Fused[] {
  const byId = new Map<string, Fused & { order: number }>();
  let order = 0;
  lists.forEach((list, li) => {
    const seen = new Set<string>();
    list.forEach((item, pos) => {
      if (seen.has(item.id)) return;
      seen.add(item.id);
      let f = byId.get(item.id);
      if (!f) byId.set(item.id, (f = { id: item.id, score: 0, ranks: lists.map(() => null), order: order++ }));
      f.ranks[li] = pos + 1;
      f.score += 1 / (k + pos + 1);
    });
  });
  return [...byId.values()].sort((a, b) => b.score - a.score || a.order - b.order).map(({ id, score, ranks }) => ({ id, score, ranks }));
}
