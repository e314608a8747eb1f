import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/api/client';
import { useAsync } from '../src/composables/useAsync';

describe('useAsync', () => {
  it('keeps the HTTP status of a failed read (the Episode page tells 404 from an outage), and clears it on a good reload', async () => {
    let fail: Error | null = new HttpError(404, 'not_found', 'No episode nope');
    const read = useAsync(async () => {
      if (fail) throw fail;
      return 'ok';
    }, { immediate: false });
    await read.reload();
    expect(read.error.value).toBe('No episode nope');
    expect(read.status.value).toBe(404);

    fail = new TypeError('Failed to fetch');
    await read.reload();
    expect(read.status.value).toBeNull();

    fail = null;
    await read.reload();
    expect([read.data.value, read.error.value, read.status.value]).toEqual(['ok', null, null]);
  });
});
