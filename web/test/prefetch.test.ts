import { afterEach, describe, expect, it, vi } from 'vitest';
import { PREFETCH_TTL_MS, prefetch, take } from '../src/api/prefetch';

describe('api/prefetch', () => {
  afterEach(() => vi.useRealTimers());

  it('hands the started read to the page once; a second take reads again', async () => {
    const read = vi.fn(async () => 'from the router');
    prefetch('ep:a', read);
    prefetch('ep:a', read); // the router entering twice does not ask twice
    expect(read).toHaveBeenCalledTimes(1);
    const again = vi.fn(async () => 'fresh');
    expect(await take('ep:a', again)).toBe('from the router');
    expect(again).not.toHaveBeenCalled();
    expect(await take('ep:a', again)).toBe('fresh');
    expect(again).toHaveBeenCalledTimes(1);
  });

  it('drops a read nobody took in time (an aborted navigation) instead of serving it stale', async () => {
    vi.useFakeTimers();
    prefetch('ep:b', async () => 'stale');
    vi.advanceTimersByTime(PREFETCH_TTL_MS + 1);
    expect(await take('ep:b', async () => 'fresh')).toBe('fresh');
  });

  it('a failed read is the page\'s error, not an unhandled rejection', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      prefetch('ep:c', async () => {
        throw new Error('HTTP 503');
      });
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).not.toHaveBeenCalled();
      await expect(take('ep:c', async () => 'never')).rejects.toThrow('HTTP 503');
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('reads for another id are not handed out', async () => {
    prefetch('ep:d', async () => 'd');
    expect(await take('ep:e', async () => 'e')).toBe('e');
    expect(await take('ep:d', async () => 'x')).toBe('d');
  });
});
