// The player's pure parts (speeds, skip settings, queue, keyboard mapping) and the store's saving
// rules (throttled PUTs, played at 95 % and at the end, the queue advancing, a failing save said once)
// driven through a fake <audio>.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { shortcutFor } from '../src/player/keys';
import { DEFAULT_SKIP, loadRate, loadSkip, saveRate, saveSkip, stepRate } from '../src/player/prefs';
import { enqueue, loadQueue, move, type PlayerEpisode, removeAt, saveQueue, toPlayerEpisode } from '../src/player/queue';

const ep = (key: string, over: Partial<PlayerEpisode> = {}): PlayerEpisode => ({
  episode_key: key,
  title: `Title ${key}`,
  feed_title: 'Show',
  image: null,
  audio_url: `/api/episodes/${key}/audio`,
  duration_s: 100,
  ...over,
});

beforeEach(() => localStorage.clear());

describe('player settings', () => {
  it('steps the speed through 0.5–3× and stops at the ends', () => {
    expect(stepRate(1, 1)).toBe(1.1);
    expect(stepRate(1, -1)).toBe(0.75);
    expect(stepRate(3, 1)).toBe(3);
    expect(stepRate(0.5, -1)).toBe(0.5);
    expect(stepRate(1.3, 1)).toBe(1.5); // from a speed between steps
    expect(stepRate(1.3, -1)).toBe(1.25);
  });

  it('remembers speed and skip lengths, clamped; defaults 1× and 15 s / 30 s', () => {
    expect(loadRate()).toBe(1);
    expect(loadSkip()).toEqual(DEFAULT_SKIP);
    expect(saveRate(9)).toBe(3);
    expect(loadRate()).toBe(3);
    expect(saveSkip({ back: '10', forward: 1000 })).toEqual({ back: 10, forward: 300 });
    expect(loadSkip()).toEqual({ back: 10, forward: 300 });
    expect(saveSkip({ back: 'x', forward: -4 })).toEqual(DEFAULT_SKIP);
    localStorage.setItem('podbrain.player.skip', '{broken');
    expect(loadSkip()).toEqual(DEFAULT_SKIP);
    localStorage.setItem('podbrain.player.rate', 'NaN');
    expect(loadRate()).toBe(1);
  });
});

describe('up-next queue', () => {
  it('adds at the end or in front, never twice, moves and removes', () => {
    let q = enqueue([], ep('a'));
    q = enqueue(q, ep('b'));
    q = enqueue(q, ep('c'), true);
    expect(q.map((e) => e.episode_key)).toEqual(['c', 'a', 'b']);
    q = enqueue(q, ep('a'));
    expect(q.map((e) => e.episode_key)).toEqual(['c', 'b', 'a']);
    expect(move(q, 0, 1).map((e) => e.episode_key)).toEqual(['b', 'c', 'a']);
    expect(move(q, 2, -1).map((e) => e.episode_key)).toEqual(['c', 'a', 'b']);
    expect(move(q, 0, -1).map((e) => e.episode_key)).toEqual(['c', 'b', 'a']);
    expect(move(q, 2, 1).map((e) => e.episode_key)).toEqual(['c', 'b', 'a']);
    expect(removeAt(q, 1).map((e) => e.episode_key)).toEqual(['c', 'a']);
  });

  it('survives a reload (localStorage) and drops entries it cannot play', () => {
    saveQueue([ep('a'), ep('b')]);
    expect(loadQueue().map((e) => e.episode_key)).toEqual(['a', 'b']);
    localStorage.setItem('podbrain.player.queue', JSON.stringify([ep('a'), { episode_key: 'x', title: 'no audio', audio_url: null }, 'junk', null]));
    expect(loadQueue().map((e) => e.episode_key)).toEqual(['a']);
    localStorage.setItem('podbrain.player.queue', 'not json');
    expect(loadQueue()).toEqual([]);
  });

  it('an episode without audio is nothing to play', () => {
    expect(toPlayerEpisode({ episode_key: 'k', title: 't', audio_url: null })).toBeNull();
    expect(toPlayerEpisode({ episode_key: 'k', title: 't', audio_url: '/a' })).toEqual({ episode_key: 'k', title: 't', feed_title: null, feed_id: null, image: null, audio_url: '/a', duration_s: null });
  });
});

describe('keyboard shortcuts', () => {
  const el = (tag: string, attrs: Record<string, string> = {}) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  it('maps space, j/k/l, arrows and < > to the player', () => {
    const body = document.body;
    expect(shortcutFor({ key: ' ', target: body })).toBe('toggle');
    expect(shortcutFor({ key: 'k', target: body })).toBe('toggle');
    expect(shortcutFor({ key: 'j', target: body })).toBe('back');
    expect(shortcutFor({ key: 'ArrowLeft', target: body })).toBe('back');
    expect(shortcutFor({ key: 'l', target: body })).toBe('forward');
    expect(shortcutFor({ key: 'ArrowRight', target: body })).toBe('forward');
    expect(shortcutFor({ key: '<', target: body })).toBe('slower');
    expect(shortcutFor({ key: '>', target: body })).toBe('faster');
    expect(shortcutFor({ key: '?', target: body })).toBe('help');
    expect(shortcutFor({ key: 'x', target: body })).toBeNull();
  });
  it('leaves keys alone while typing, with a modifier, and Space on a focused button', () => {
    for (const t of [el('input'), el('textarea'), el('select'), el('div', { contenteditable: 'true' })]) {
      expect(shortcutFor({ key: 'k', target: t })).toBeNull();
      expect(shortcutFor({ key: ' ', target: t })).toBeNull();
    }
    expect(shortcutFor({ key: 'l', ctrlKey: true, target: document.body })).toBeNull();
    expect(shortcutFor({ key: 'ArrowLeft', altKey: true, target: document.body })).toBeNull();
    expect(shortcutFor({ key: ' ', target: el('button') })).toBeNull();
    expect(shortcutFor({ key: ' ', target: el('a') })).toBeNull();
    expect(shortcutFor({ key: 'k', target: el('button') })).toBe('toggle');
  });
});

/** Just enough of an <audio> for the store: time, duration, play/pause and its events. */
class FakeAudio extends EventTarget {
  currentTime = 0;
  duration = 100;
  readyState = 1;
  paused = true;
  playbackRate = 1;
  defaultPlaybackRate = 1;
  private attrs = new Map<string, string>();
  set src(v: string) {
    this.attrs.set('src', v);
  }
  getAttribute(n: string) {
    return this.attrs.get(n) ?? null;
  }
  play() {
    this.paused = false;
    this.dispatchEvent(new Event('play'));
    return Promise.resolve();
  }
  pause() {
    if (this.paused) return;
    this.paused = true;
    this.dispatchEvent(new Event('pause'));
  }
  /** Playback moves on by `s` seconds, one timeupdate per second. */
  advance(s: number) {
    for (let i = 0; i < s; i++) {
      vi.advanceTimersByTime(1000);
      this.currentTime += 1;
      this.dispatchEvent(new Event('timeupdate'));
    }
  }
}

describe('player store', () => {
  let puts: { url: string; body: Record<string, unknown>; keepalive: boolean }[];
  let failWith: number | null;

  beforeEach(() => {
    vi.resetModules();
    vi.useFakeTimers();
    puts = [];
    failWith = null;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        if (init.method === 'PUT') {
          puts.push({ url, body: JSON.parse(String(init.body)), keepalive: !!init.keepalive });
          if (failWith) return new Response(JSON.stringify({ error: { code: 'x', message: 'no' } }), { status: failWith, headers: { 'content-type': 'application/json' } });
        }
        if (url.endsWith('/episodes/c')) return new Response(JSON.stringify({ ...ep('c'), position_ms: 0, played: false }), { headers: { 'content-type': 'application/json' } });
        if (url.endsWith('/episodes/d')) return new Response(JSON.stringify({ ...ep('d'), audio_url: null }), { headers: { 'content-type': 'application/json' } });
        if (url.endsWith('/playback')) return new Response(JSON.stringify({ episode_key: 'b', position_ms: 30_000, duration_ms: null, played: false, updated_at: null }), { headers: { 'content-type': 'application/json' } });
        return new Response(JSON.stringify({ source: null, items: [] }), { headers: { 'content-type': 'application/json' } });
      }),
    );
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  async function started() {
    const { usePlayer } = await import('../src/player/usePlayer');
    const player = usePlayer();
    const audio = new FakeAudio();
    player.attach(audio as unknown as HTMLAudioElement);
    return { player, audio };
  }

  it('saves every ~10 s while playing, on pause and on a seek; not while nothing moved', async () => {
    const { player, audio } = await started();
    player.load(ep('a'), 0, false);
    audio.advance(3); // paused: timeupdates from seeking around save nothing by themselves
    expect(puts).toHaveLength(0);
    audio.currentTime = 0;
    player.play();
    audio.advance(25);
    await vi.runOnlyPendingTimersAsync();
    // 10 s apart, counted from the load (3 s before playing started).
    expect(puts.map((p) => p.body.position_ms)).toEqual([7_000, 17_000]);
    expect(puts[0]).toMatchObject({ url: '/api/episodes/a/playback', body: { duration_ms: 100_000 } });
    player.pause();
    await vi.runOnlyPendingTimersAsync();
    expect(puts.at(-1)!.body).toEqual({ position_ms: 25_000, duration_ms: 100_000 });
    player.pause(); // already paused: nothing new
    audio.dispatchEvent(new Event('seeked')); // same place: nothing new
    expect(puts).toHaveLength(3);
    audio.currentTime = 40;
    audio.dispatchEvent(new Event('seeked'));
    await vi.runOnlyPendingTimersAsync();
    expect(puts.at(-1)!.body.position_ms).toBe(40_000);
    // Leaving the page saves with keepalive (so the request outlives the page).
    player.start();
    audio.currentTime = 41;
    window.dispatchEvent(new Event('pagehide'));
    await vi.runOnlyPendingTimersAsync();
    expect(puts).toHaveLength(5);
    expect(puts.at(-1)).toMatchObject({ body: { position_ms: 41_000 }, keepalive: true });
  });

  it('marks played at 95 %, and at the end starts the next queued episode where it was left', async () => {
    const { player, audio } = await started();
    player.load(ep('a'), 90_000, false);
    await player.addToQueue(ep('b'));
    expect(player.queue.value.map((e) => e.episode_key)).toEqual(['b']);
    audio.currentTime = 90;
    player.play();
    audio.advance(5);
    await vi.runOnlyPendingTimersAsync();
    expect(puts.at(-1)!.body).toMatchObject({ position_ms: 95_000, played: true });
    expect(player.isPlayed('a')).toBe(true);
    audio.advance(5);
    audio.paused = true;
    audio.dispatchEvent(new Event('ended'));
    await vi.runAllTimersAsync();
    expect(puts.some((p) => p.url.endsWith('/a/playback') && p.body.played === true && p.body.position_ms === 100_000)).toBe(true);
    expect(player.current.value?.episode_key).toBe('b');
    expect(player.queue.value).toEqual([]);
    expect(audio.getAttribute('src')).toBe('/api/episodes/b/audio');
    expect(audio.currentTime).toBe(30); // b's saved position (GET playback)
    expect(audio.paused).toBe(false);
  });

  it('an episode loaded from the queue leaves it on this device too (a reload does not bring it back)', async () => {
    const { player } = await started();
    player.load(ep('a'), 0, false);
    await player.addToQueue(ep('b'));
    expect(loadQueue().map((e) => e.episode_key)).toEqual(['b']);
    player.load(ep('b'), 0, false); // e.g. its page opened while nothing plays
    expect(player.queue.value).toEqual([]);
    expect(loadQueue()).toEqual([]);
  });

  it('opened paused at a moment past 95 % or past the end (?t=99999), or seeked there paused, it is not marked played', async () => {
    const { player, audio } = await started();
    player.load(ep('a'), 99_999_000, false);
    // The browser clamps a position past the end to the duration, then says it seeked.
    audio.currentTime = 100;
    audio.dispatchEvent(new Event('seeked'));
    player.seek(97_000);
    audio.dispatchEvent(new Event('seeked'));
    await vi.runOnlyPendingTimersAsync();
    expect(puts.some((p) => p.body.played === true)).toBe(false);
    expect(player.isPlayed('a')).toBe(false);
    // Played on from there, it is.
    player.play();
    audio.advance(1);
    await vi.runOnlyPendingTimersAsync();
    expect(puts.at(-1)!.body).toMatchObject({ played: true });
  });

  it('queues a list entry (no audio_url field) by looking it up; one without audio is not queued', async () => {
    const { player } = await started();
    player.load(ep('a'), 0, false);
    expect(await player.addToQueue({ episode_key: 'c', title: 'Title c' })).toBe(true);
    expect(player.queue.value.map((e) => e.audio_url)).toEqual(['/api/episodes/c/audio']);
    expect(await player.playNext({ episode_key: 'd', title: 'Title d' })).toBe(false);
    expect(player.queue.value.map((e) => e.episode_key)).toEqual(['c']);
    expect(player.status.value).toContain('no audio');
  });

  it('plays a list entry from a row: looked up and loaded playing; one without audio says so and leaves the player alone', async () => {
    const { player } = await started();
    player.load(ep('a'), 0, false);
    expect(await player.playEpisode({ episode_key: 'd', title: 'Title d' })).toBe(false);
    expect(player.current.value?.episode_key).toBe('a');
    expect(player.status.value).toContain('Nothing to play');
    expect(await player.playEpisode({ episode_key: 'c', title: 'Title c' })).toBe(true);
    expect(player.current.value?.audio_url).toBe('/api/episodes/c/audio');
  });

  it('a failing save is said once and playback goes on', async () => {
    const { player, audio } = await started();
    failWith = 401;
    player.load(ep('a'), 0, false);
    player.play();
    audio.advance(11);
    await vi.runOnlyPendingTimersAsync();
    expect(player.status.value).toContain('not being saved (sign in to keep it)');
    player.say('');
    audio.advance(11);
    await vi.runOnlyPendingTimersAsync();
    expect(puts.length).toBe(2);
    expect(player.status.value).toBe('');
    expect(audio.paused).toBe(false);
  });

  it('skips by the configured lengths within the audio, and a moment link names the second', async () => {
    const { player, audio } = await started();
    player.load(ep('a'), 50_000, false);
    audio.currentTime = 50;
    player.setSkip({ back: 10, forward: 20 });
    player.skipBy(1);
    expect(audio.currentTime).toBe(70);
    player.skipBy(-1);
    expect(audio.currentTime).toBe(60);
    audio.currentTime = 95;
    player.skipBy(1);
    expect(audio.currentTime).toBe(100);
    audio.currentTime = 3;
    player.skipBy(-1);
    expect(audio.currentTime).toBe(0);
    audio.currentTime = 12.34;
    expect(player.momentUrl()).toBe(`${location.origin}/episodes/a?t=12.3`);
  });
});
