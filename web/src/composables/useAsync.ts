import { type Ref, ref, shallowRef } from 'vue';

export interface AsyncState<T> {
  data: Ref<T | null>;
  error: Ref<string | null>;
  /** The HTTP status of the failed read (404: not there), null when it did not come from the api. */
  status: Ref<number | null>;
  loading: Ref<boolean>;
  reload: () => Promise<void>;
}

/** data / loading / error for one API call, so every view has the three states. */
export function useAsync<T>(load: () => Promise<T>, opts: { immediate?: boolean } = {}): AsyncState<T> {
  const data = shallowRef<T | null>(null) as Ref<T | null>;
  const error = ref<string | null>(null);
  const status = ref<number | null>(null);
  const loading = ref(false);
  let seq = 0;
  const reload = async () => {
    const mine = ++seq;
    loading.value = true;
    error.value = null;
    status.value = null;
    try {
      const value = await load();
      if (mine === seq) data.value = value;
    } catch (e) {
      if (mine === seq) {
        error.value = e instanceof Error ? e.message : String(e);
        const code = (e as { status?: unknown } | null)?.status;
        status.value = typeof code === 'number' ? code : null;
      }
    } finally {
      if (mine === seq) loading.value = false;
    }
  };
  if (opts.immediate !== false) void reload();
  return { data, error, status, loading, reload };
}
