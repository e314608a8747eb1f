/**
 * Story clusters (issue 17): passages (insights and chunks) of different episodes about the same
 * subject, found by embedding similarity plus shared graph entities. Bounded: the caller caps the
 * passages per episode, the pairs are compared once, and each cluster grows around one seed
 * (no chaining: a member is close to the seed itself, so a cluster never drifts off its subject).
 */

export interface ClusterPassage {
  /** Index of the passage's episode (passages of one episode never link). */
  episode: number;
  feed: string;
  /** Unit length (the providers' vectors are). */
  vector: Float32Array;
  /** Graph entity ids the passage names. */
  entities: readonly string[];
  /** Its own standing (an insight's confidence; chunks less), to break ties between seeds. */
  weight: number;
}

export interface ClusterOptions {
  /** The score (cosine + entity bonus) two passages need to be about the same subject. */
  threshold: number;
  /** Added per entity both passages name, at most `maxBonus` in all. */
  entityBonus: number;
  maxBonus: number;
  /** The most episodes one cluster lists. */
  maxEpisodes: number;
  /** Clusters kept (the best ranked). */
  maxClusters: number;
}

export interface Cluster {
  /** Passage indices: the seed first, then one per other episode, best scored first. */
  members: number[];
  /** Each member's score against the seed (the seed: 1). */
  scores: number[];
  episodes: number;
  feeds: number;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

function shared(a: readonly string[], b: ReadonlySet<string>): number {
  let n = 0;
  for (const x of a) if (b.has(x)) n++;
  return n;
}

export function clusterPassages(passages: readonly ClusterPassage[], opts: ClusterOptions): Cluster[] {
  const n = passages.length;
  const entitySets = passages.map((p) => new Set(p.entities));
  const neighbours: { j: number; s: number }[][] = passages.map(() => []);
  for (let i = 0; i < n; i++) {
    const a = passages[i];
    for (let j = i + 1; j < n; j++) {
      const b = passages[j];
      if (a.episode === b.episode) continue;
      const cos = dot(a.vector, b.vector);
      if (cos + opts.maxBonus < opts.threshold) continue;
      const s = cos + Math.min(opts.maxBonus, opts.entityBonus * shared(a.entities, entitySets[j]));
      if (s < opts.threshold) continue;
      neighbours[i].push({ j, s });
      neighbours[j].push({ j: i, s });
    }
  }
  // Seeds in order of how many shows, then episodes, their neighbours span.
  const spread = passages.map((p, i) => {
    const feeds = new Set(neighbours[i].map((x) => passages[x.j].feed));
    feeds.delete(p.feed);
    const episodes = new Set(neighbours[i].map((x) => passages[x.j].episode)).size;
    const strength = neighbours[i].reduce((sum, x) => sum + x.s, 0);
    return { i, feeds: feeds.size, episodes, strength };
  });
  spread.sort((a, b) => b.feeds - a.feeds || b.episodes - a.episodes || b.strength - a.strength || passages[b.i].weight - passages[a.i].weight || a.i - b.i);

  const used = new Uint8Array(n);
  const clusters: Cluster[] = [];
  for (const { i: seed, episodes } of spread) {
    if (!episodes) break;
    if (used[seed]) continue;
    const best = new Map<number, { j: number; s: number }>();
    for (const x of neighbours[seed]) {
      if (used[x.j]) continue;
      const e = passages[x.j].episode;
      const cur = best.get(e);
      if (!cur || x.s > cur.s) best.set(e, x);
    }
    if (!best.size) continue;
    const picked = [...best.values()].sort((a, b) => b.s - a.s || a.j - b.j).slice(0, opts.maxEpisodes - 1);
    const members = [seed, ...picked.map((x) => x.j)];
    const memberEpisodes = new Set(members.map((m) => passages[m].episode));
    // The seed's other close passages in these episodes tell the same story: they seed no second cluster.
    used[seed] = 1;
    for (const x of neighbours[seed]) if (memberEpisodes.has(passages[x.j].episode)) used[x.j] = 1;
    clusters.push({
      members,
      scores: [1, ...picked.map((x) => x.s)],
      episodes: memberEpisodes.size,
      feeds: new Set(members.map((m) => passages[m].feed)).size,
    });
  }
  const mean = (c: Cluster) => c.scores.slice(1).reduce((a, b) => a + b, 0) / Math.max(1, c.scores.length - 1);
  clusters.sort((a, b) => Number(b.feeds >= 2) - Number(a.feeds >= 2) || b.feeds - a.feeds || b.episodes - a.episodes || mean(b) - mean(a));
  return clusters.slice(0, opts.maxClusters);
}
