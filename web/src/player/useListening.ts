// Where the listener is in one episode, for the components that show it (the Episode page's
// controls, a list row's mark and buttons): the player's live figures while it is the episode in the
// player, else the page's or list's own playback fields.
import { computed, type ComputedRef } from 'vue';
import { usePlayer } from './usePlayer';

export interface ListenedEpisode {
  episode_key: string;
  played?: boolean;
  position_ms?: number;
  duration_s: number | null;
}

export interface Listening {
  isCurrent: ComputedRef<boolean>;
  isPlaying: ComputedRef<boolean>;
  played: ComputedRef<boolean>;
  positionMs: ComputedRef<number>;
  /** 0 when the length is unknown (no itunes:duration and not loaded in the player). */
  durationMs: ComputedRef<number>;
}

export function useListening(episode: () => ListenedEpisode): Listening {
  const player = usePlayer();
  const isCurrent = computed(() => player.current.value?.episode_key === episode().episode_key);
  return {
    isCurrent,
    isPlaying: computed(() => isCurrent.value && player.playing.value),
    played: computed(() => player.isPlayed(episode().episode_key, episode().played)),
    positionMs: computed(() => (isCurrent.value ? player.nowMs.value : (episode().position_ms ?? 0))),
    durationMs: computed(() => (isCurrent.value && player.durationMs.value ? player.durationMs.value : (episode().duration_s ?? 0) * 1000)),
  };
}
