import { type Ref, ref, shallowRef } from 'vue';

export interface AsyncState<T> {
  data: Ref<T | null>;
  error: Ref<string | null>;
  loading: Ref<boolean>;
  reload: () => Promise<void>;
}

/** data / loading / error for one API call, so every view has the three states. */
export function useAsync<T>(load: () => Promise<T>, opts: { immediate?: boolean } = {}): AsyncState<T> {
  const data = shallowRef<T | null>(null) as Ref<T | null>;
  const error = ref<string | null>(null);
  const loading = ref(false);
  let seq = 0;
  const reload = async () => {
    const mine = ++seq;
    loading.value = true;
    error.value = null;
    try {
      const value = await load();
      if (mine === seq) data.value = value;
    } catch (e) {
      if (mine === seq) error.value = e instanceof Error ? e.message : String(e);
    } finally {
      if (mine === seq) loading.value = false;
    }
  };
  if (opts.immediate !== false) void reload();
  return { data, error, loading, reload };
}
