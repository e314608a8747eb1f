import { onBeforeUnmount, ref } from 'vue';
import { api } from '../api/client';
import type { EpisodeEvent, IncidentSignal } from '../api/schema';

type Listener = (e: EpisodeEvent) => void;
const listeners = new Set<Listener>();
const incidentListeners = new Set<(e: IncidentSignal) => void>();
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
  source.addEventListener('incident', (msg) => {
    const signal = JSON.parse((msg as MessageEvent<string>).data) as IncidentSignal;
    for (const l of incidentListeners) l(signal);
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

/** Incident changes over the same SSE connection (`event: incident`: something changed, read it again). */
export function useIncidentEvents(listener: (e: IncidentSignal) => void, onReconnect?: () => void): void {
  connect();
  incidentListeners.add(listener);
  if (onReconnect) reconnectListeners.add(onReconnect);
  onBeforeUnmount(() => {
    incidentListeners.delete(listener);
    if (onReconnect) reconnectListeners.delete(onReconnect);
  });
}
