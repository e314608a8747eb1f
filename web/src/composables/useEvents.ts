import { onBeforeUnmount, ref } from 'vue';
import { api } from '../api/client';
import type { EpisodeEvent } from '../api/schema';

type Listener = (e: EpisodeEvent) => void;
const listeners = new Set<Listener>();
const reconnectListeners = new Set<() => void>();
export const eventsConnected = ref(false);
let source: EventSource | null = null;
let wasConnected = false;

function connect() {
  if (source || typeof EventSource === 'undefined') return;
  source = new EventSource(api.eventsUrl());
  source.onopen = () => {
    eventsConnected.value = true;
    // Events sent while we were away are lost: let views re-read their state.
    if (wasConnected) for (const l of reconnectListeners) l();
    wasConnected = true;
  };
  source.onerror = () => (eventsConnected.value = false); // EventSource reconnects by itself
  source.addEventListener('episode', (msg) => {
    const event = JSON.parse((msg as MessageEvent<string>).data) as EpisodeEvent;
    for (const l of listeners) l(event);
  });
}

/** Live episode state changes over SSE (one shared connection for the whole app). */
export function useEpisodeEvents(listener: Listener, onReconnect?: () => void): void {
  connect();
  listeners.add(listener);
  if (onReconnect) reconnectListeners.add(onReconnect);
  onBeforeUnmount(() => {
    listeners.delete(listener);
    if (onReconnect) reconnectListeners.delete(onReconnect);
  });
}
