// The API reads of the Episode page, by name: the router starts them while EpisodeView's chunk
// loads (api/prefetch.ts) and the page takes them. One list, so the two cannot drift apart.
import { api } from '../api/client';
import { prefetch, take } from '../api/prefetch';

const READS = {
  episode: api.episode,
  transcript: api.transcript,
  summary: api.summary,
  insights: api.insights,
  chapters: api.chapters,
};
type Reads = typeof READS;

export function prefetchEpisode(key: string): void {
  for (const [name, read] of Object.entries(READS)) prefetch(`episode:${key}:${name}`, () => read(key));
}

export function episodeRead<N extends keyof Reads>(name: N, key: string): ReturnType<Reads[N]> {
  return take(`episode:${key}:${name}`, () => READS[name](key)) as ReturnType<Reads[N]>;
}
