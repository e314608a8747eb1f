import { onBeforeUnmount, ref } from 'vue';
import { api } from '../api/client';
import { onSignedIn } from '../api/sign-in';
import { renewSession } from './useSession';
import type { EpisodeEvent, IncidentSignal } from '../api/schema';

type Listener = (e: EpisodeEvent) => void;
const listeners = new Set<Listener>();
const incidentListeners = new Set<(e: IncidentSignal) => void>();
const reconnectListeners = new Set<() => void>();
export const eventsConnected = ref(false);
let source: EventSource | null = null;
let wasConnected = false;
let retryMs = 3000;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

function reconnect() {
  clearTimeout(retryTimer);
  retryTimer = undefined;
  void renewSession().finally(connect);
}
// Refused before the viewer had a session: connect as soon as it has one.
onSignedIn(() => {
  if (!source) reconnect();
});

function connect() {
  if (source || typeof EventSource === 'undefined') return;
  source = new EventSource(api.eventsUrl());
  source.onopen = () => {
    eventsConnected.value = true;
    retryMs = 3000;
    // Events sent while we were away are lost: let views re-read their state.
    if (wasConnected) for (const l of reconnectListeners) l();
    wasConnected = true;
  };
  source.onerror = () => {
    eventsConnected.value = false;
    // After a network error EventSource reconnects by itself; after a refusal (a private server's
    // 401 without a valid session cookie, a proxy's 502) it gives up: renew the session and retry.
    if (source?.readyState !== EventSource.CLOSED) return;
    source = null;
    retryTimer = setTimeout(reconnect, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  };
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
