// The up-next queue: plain list operations, stored per device (localStorage), not on the server.

/** What the player needs to play an episode (a subset of the episode detail). */
export interface PlayerEpisode {
  episode_key: string;
  title: string;
  feed_title: string | null;
  /** The show's id: its placeholder cover's colour (optional: entries stored before it). */
  feed_id?: string | null;
  image: string | null;
  audio_url: string;
  duration_s: number | null;
}

const QUEUE_KEY = 'podbrain.player.queue';
const MAX_QUEUE = 200;

/** An episode detail as a queue entry; null when it has no audio (nothing to play). */
export function toPlayerEpisode(ep: { episode_key: string; title: string; feed_id?: string | null; feed_title?: string | null; image?: string | null; audio_url?: string | null; duration_s?: number | null }): PlayerEpisode | null {
  if (!ep.audio_url) return null;
  return { episode_key: ep.episode_key, title: ep.title, feed_title: ep.feed_title ?? null, feed_id: ep.feed_id ?? null, image: ep.image ?? null, audio_url: ep.audio_url, duration_s: ep.duration_s ?? null };
}

/** `ep` added at the end (`next`: at the front); an episode already queued moves instead of appearing twice. */
export function enqueue(queue: readonly PlayerEpisode[], ep: PlayerEpisode, next = false): PlayerEpisode[] {
  const rest = queue.filter((q) => q.episode_key !== ep.episode_key);
  return (next ? [ep, ...rest] : [...rest, ep]).slice(0, MAX_QUEUE);
}

/** The entry at `i` moved one place up (-1) or down (+1); unchanged at the ends. */
export function move(queue: readonly PlayerEpisode[], i: number, delta: -1 | 1): PlayerEpisode[] {
  const j = i + delta;
  if (i < 0 || i >= queue.length || j < 0 || j >= queue.length) return [...queue];
  const out = [...queue];
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

export function removeAt(queue: readonly PlayerEpisode[], i: number): PlayerEpisode[] {
  return queue.filter((_, n) => n !== i);
}

export function loadQueue(): PlayerEpisode[] {
  try {
    const v = JSON.parse(localStorage.getItem(QUEUE_KEY) ?? '[]') as unknown;
    if (!Array.isArray(v)) return [];
    return v.map((e) => (e && typeof e === 'object' && typeof e.episode_key === 'string' && typeof e.title === 'string' ? toPlayerEpisode(e) : null)).filter((e): e is PlayerEpisode => e !== null);
  } catch {
    return [];
  }
}

export function saveQueue(queue: readonly PlayerEpisode[]): void {
  localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
}
