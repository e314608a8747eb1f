import { onBeforeUnmount, ref, watch } from 'vue';
import { useRoute } from 'vue-router';
import { api, isAuthError } from '../api/client';
import { useIncidentEvents } from './useEvents';

const POLL_MS = 60_000;

/**
 * How many incidents are not resolved (open + escalated), for the nav badge; null when unknown
 * (no key, the api down). Read on incident events, on entering the Incidents page and once a
 * minute — not after a refusal: every admin call is audited, a refused one too.
 */
export function useOpenIncidents() {
  const count = ref<number | null>(null);
  let refused = false;
  const read = async () => {
    try {
      const [open, escalated] = await Promise.all([api.incidents({ status: 'open', limit: 200 }), api.incidents({ status: 'escalated', limit: 200 })]);
      count.value = open.items.length + escalated.items.length;
      refused = false;
    } catch (e) {
      count.value = null;
      refused = isAuthError(e);
    }
  };
  void read();
  useIncidentEvents(() => void read(), () => void read());
  const route = useRoute();
  watch(() => route.path, (p) => p.startsWith('/incidents') && void read());
  const timer = setInterval(() => !refused && void read(), POLL_MS);
  onBeforeUnmount(() => clearInterval(timer));
  return count;
}
