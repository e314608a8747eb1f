// The one player of the app (issue 18): a single <audio> in PlayerBar (mounted by App, so it keeps
// playing while you browse), driven through this module-level store. Pages ask it to open, seek,
// queue and mark episodes; it saves the position to the server (resume), keeps the up-next queue
// (per device) and feeds the Media Session (lock screen, headset buttons).
import { computed, reactive, ref, shallowRef } from 'vue';
import { api, HttpError } from '../api/client';
import type { Chapter } from '../api/schema';
import { momentParam } from '../format';
import { loadRate, loadSkip, saveRate, saveSkip, stepRate } from './prefs';
import { enqueue, loadQueue, move, type PlayerEpisode, removeAt, saveQueue, toPlayerEpisode } from './queue';

export type { PlayerEpisode } from './queue';
export { toPlayerEpisode } from './queue';

/** Saves while playing at most this often (plus on pause, seek, end and when the page is hidden). */
export const SAVE_EVERY_MS = 10_000;
/** Past this share of the audio an episode counts as played. */
export const PLAYED_AT = 0.95;
const CURRENT_KEY = 'podbrain.player.current';

const audio = shallowRef<HTMLAudioElement | null>(null);
const current = ref<PlayerEpisode | null>(null);
const playing = ref(false);
const nowMs = ref(0);
const durationMs = ref(0);
const rate = ref(loadRate());
const skip = ref(loadSkip());
const queue = ref<PlayerEpisode[]>(loadQueue());
const chapters = shallowRef<Chapter[]>([]);
/** Played state the listener changed here (or the server told us), by episode key: wins over a page's stale copy. */
const played = reactive(new Map<string, boolean>());
/** What the player last said (aria-live): "Copied", "Added to the queue", a save problem. */
const status = ref('');

let loadSeq = 0;
let pending: { seq: number; startMs: number; autoplay: boolean } | null = null;
let lastSaved = { key: '', pos: -1, at: 0 };
let autoMarked = false;
let saveWarned = false;

const durationOf = (el: HTMLAudioElement) => (Number.isFinite(el.duration) && el.duration > 0 ? Math.round(el.duration * 1000) : 0);

function say(message: string) {
  status.value = message;
}

// ---------- loading ----------

/** Opens `ep` in the player at `startMs` (playing when `autoplay`); replaces what was loaded. */
function load(ep: PlayerEpisode, startMs = 0, autoplay = false) {
  if (current.value && current.value.episode_key !== ep.episode_key) void save();
  const seq = ++loadSeq;
  current.value = ep;
  nowMs.value = startMs;
  durationMs.value = ep.duration_s ? ep.duration_s * 1000 : 0;
  lastSaved = { key: ep.episode_key, pos: startMs, at: Date.now() };
  autoMarked = false;
  pending = { seq, startMs, autoplay };
  if (queue.value.some((q) => q.episode_key === ep.episode_key)) setQueue(queue.value.filter((q) => q.episode_key !== ep.episode_key));
  localStorage.setItem(CURRENT_KEY, JSON.stringify(ep));
  chapters.value = [];
  void api.chapters(ep.episode_key).then(
    (c) => seq === loadSeq && (chapters.value = c?.items ?? []),
    () => undefined,
  );
  setMediaMetadata(ep);
  apply();
}

/** Puts a pending load on the element (once PlayerBar has rendered it). */
function apply() {
  const el = audio.value;
  const ep = current.value;
  const p = pending;
  if (!el || !ep || !p) return;
  pending = null;
  if (el.getAttribute('src') !== ep.audio_url) el.src = ep.audio_url;
  el.defaultPlaybackRate = rate.value;
  el.playbackRate = rate.value;
  const go = () => {
    if (p.seq !== loadSeq) return;
    if (p.startMs > 0) el.currentTime = p.startMs / 1000;
    if (p.autoplay) void el.play().catch(() => undefined);
  };
  if (el.readyState >= 1) go();
  else el.addEventListener('loadedmetadata', go, { once: true });
}

/** Where `ep` resumes: its saved position unless it was played through (then from the start). */
function resumeAt(ep: { position_ms?: number; played?: boolean }): number {
  return ep.played ? 0 : (ep.position_ms ?? 0);
}

async function savedPosition(key: string): Promise<number> {
  try {
    return resumeAt(await api.playback(key));
  } catch {
    return 0;
  }
}

// ---------- what the Episode page calls ----------

type EpisodeLike = Parameters<typeof toPlayerEpisode>[0] & { position_ms?: number; played?: boolean };

/**
 * What to play of `ep`: an episode detail as it is; a list entry (an episode summary: no `audio_url`
 * field) is looked up first. Null when it has no audio.
 */
async function playable(ep: EpisodeLike): Promise<{ pe: PlayerEpisode; ep: EpisodeLike } | null> {
  if (!('audio_url' in ep)) {
    try {
      ep = await api.episode(ep.episode_key);
    } catch {
      return null;
    }
  }
  const pe = toPlayerEpisode(ep);
  return pe ? { pe, ep } : null;
}

/**
 * The Episode page opened `ep`. A moment (`?t=`) opens it paused there; otherwise it opens at its
 * saved position — unless another episode is playing, which goes on (the page offers Play).
 */
function openEpisode(ep: EpisodeLike, tMs: number | null) {
  const pe = toPlayerEpisode(ep);
  if (!pe) return;
  if (ep.played !== undefined && !played.has(pe.episode_key)) played.set(pe.episode_key, ep.played);
  const same = current.value?.episode_key === pe.episode_key;
  if (tMs !== null) {
    if (same) {
      audio.value?.pause();
      seek(tMs);
    } else load(pe, tMs, false);
    return;
  }
  if (same || playing.value) return;
  load(pe, resumeAt({ ...ep, played: played.get(pe.episode_key) ?? ep.played }), false);
}

/** Play `ep` from `ms` (a transcript line, a quote, a chapter): loads it first if another episode is in the player. */
function playAt(ep: EpisodeLike, ms: number) {
  const pe = toPlayerEpisode(ep);
  if (!pe) return;
  if (current.value?.episode_key !== pe.episode_key) return load(pe, ms, true);
  seek(ms);
  void audio.value?.play().catch(() => undefined);
}

/** Play `ep` where it was left off (or carry on, when it is the one loaded); false when it has no audio. */
async function playEpisode(episode: EpisodeLike): Promise<boolean> {
  const found = await playable(episode);
  if (!found) {
    say('Nothing to play: this episode has no audio.');
    return false;
  }
  const { pe, ep } = found;
  if (current.value?.episode_key === pe.episode_key) {
    play();
    return true;
  }
  const seq = loadSeq;
  const at = ep.position_ms !== undefined ? resumeAt({ ...ep, played: played.get(pe.episode_key) ?? ep.played }) : await savedPosition(pe.episode_key);
  if (seq === loadSeq || current.value?.episode_key !== pe.episode_key) load(pe, at, true);
  return true;
}

// ---------- transport ----------

function play() {
  void audio.value?.play().catch(() => undefined);
}
function pause() {
  audio.value?.pause();
}
function toggle() {
  if (!audio.value) return;
  if (audio.value.paused) play();
  else pause();
}

/** Moves to `ms` (clamped to the audio); before the audio is ready, the move waits for it. */
function seek(ms: number) {
  const el = audio.value;
  const dur = el ? durationOf(el) : 0;
  const to = Math.max(0, dur ? Math.min(ms, dur) : ms);
  nowMs.value = to;
  if (!el) {
    if (pending) pending.startMs = to;
    return;
  }
  if (el.readyState >= 1 && !pending) el.currentTime = to / 1000;
  else if (pending) pending.startMs = to;
  else {
    const seq = loadSeq;
    el.addEventListener('loadedmetadata', () => seq === loadSeq && (el.currentTime = to / 1000), { once: true });
  }
}

function skipBy(dir: -1 | 1) {
  const el = audio.value;
  const from = el ? Math.round(el.currentTime * 1000) : nowMs.value;
  seek(from + dir * (dir < 0 ? skip.value.back : skip.value.forward) * 1000);
}

function setRate(r: number) {
  rate.value = saveRate(r);
  if (audio.value) {
    audio.value.defaultPlaybackRate = rate.value;
    audio.value.playbackRate = rate.value;
  }
}
const slower = () => setRate(stepRate(rate.value, -1));
const faster = () => setRate(stepRate(rate.value, 1));

function setSkip(s: { back: unknown; forward: unknown }) {
  skip.value = saveSkip(s);
}

// ---------- saving (resume, played) ----------

async function save(opts: { played?: boolean; keepalive?: boolean } = {}) {
  const ep = current.value;
  const el = audio.value;
  if (!ep || !el || el.readyState < 1) return;
  const dur = durationOf(el);
  const pos = Math.min(Math.round(el.currentTime * 1000), dur || Infinity);
  if (opts.played === undefined && lastSaved.key === ep.episode_key && Math.abs(lastSaved.pos - pos) < 500) return;
  lastSaved = { key: ep.episode_key, pos, at: Date.now() };
  const body = { position_ms: pos, ...(dur ? { duration_ms: dur } : {}), ...(opts.played !== undefined ? { played: opts.played } : {}) };
  try {
    await api.savePlayback(ep.episode_key, body, opts.keepalive ?? false);
    if (opts.played !== undefined) played.set(ep.episode_key, opts.played);
  } catch (e) {
    if (opts.played !== undefined) played.set(ep.episode_key, opts.played);
    // Once, quietly: playback goes on either way.
    if (!saveWarned) {
      saveWarned = true;
      const why = e instanceof HttpError ? (e.status === 401 ? 'sign in to keep it' : e.message) : 'offline';
      say(`Your place is not being saved (${why}); playback goes on.`);
    }
  }
}

/** Mark an episode played or unplayed (the Episode page's and the player's button). */
async function markPlayed(key: string, value: boolean) {
  played.set(key, value);
  if (current.value?.episode_key === key) {
    autoMarked = value;
    lastSaved = { key, pos: value ? lastSaved.pos : -1, at: 0 };
  }
  try {
    await api.markPlayed([key], value);
    say(value ? 'Marked played.' : 'Marked unplayed.');
  } catch (e) {
    played.set(key, !value);
    say(`Could not mark it ${value ? 'played' : 'unplayed'}: ${(e as Error).message}`);
  }
}

const isPlayed = (key: string, fallback = false) => played.get(key) ?? fallback;

// ---------- queue ----------

function setQueue(q: PlayerEpisode[]) {
  queue.value = q;
  saveQueue(q);
}

/**
 * Adds `ep` to the up-next queue (`next`: in front). With nothing loaded, it goes into the player
 * (paused). False when it has no audio.
 */
async function addToQueue(episode: EpisodeLike, next = false): Promise<boolean> {
  const found = await playable(episode);
  if (!found) {
    say('Nothing to queue: this episode has no audio.');
    return false;
  }
  const { pe, ep } = found;
  if (!current.value) {
    load(pe, resumeAt(ep), false);
    say(`${pe.title} is in the player.`);
  } else if (current.value.episode_key === pe.episode_key) say(`${pe.title} is already playing.`);
  else {
    setQueue(enqueue(queue.value, pe, next));
    say(next ? `${pe.title} plays next.` : `${pe.title} added to the queue.`);
  }
  return true;
}
const playNext = (ep: EpisodeLike) => addToQueue(ep, true);
const moveInQueue = (i: number, delta: -1 | 1) => setQueue(move(queue.value, i, delta));
const removeFromQueue = (i: number) => setQueue(removeAt(queue.value, i));

/** The next queued episode starts (at its saved position); false when the queue is empty. */
async function next(): Promise<boolean> {
  const [first, ...rest] = queue.value;
  if (!first) return false;
  setQueue(rest);
  load(first, 0, false);
  const seq = loadSeq;
  const at = await savedPosition(first.episode_key);
  if (seq !== loadSeq) return true;
  if (pending) {
    pending.startMs = at;
    pending.autoplay = true;
  } else {
    seek(at);
    play();
  }
  return true;
}

// ---------- moments ----------

/** `<origin>/episodes/<key>?t=<seconds>` of where the player is. */
function momentUrl(): string | null {
  const ep = current.value;
  if (!ep) return null;
  const ms = audio.value ? Math.round(audio.value.currentTime * 1000) : nowMs.value;
  return `${location.origin}/episodes/${encodeURIComponent(ep.episode_key)}?t=${momentParam(ms)}`;
}

async function copyMoment() {
  const url = momentUrl();
  if (!url) return;
  try {
    await navigator.clipboard.writeText(url);
    say(`Copied: ${url}`);
  } catch {
    say(`Copy this link: ${url}`);
  }
}

// ---------- the element's events ----------

function onTime() {
  const el = audio.value;
  if (!el || pending) return;
  nowMs.value = Math.round(el.currentTime * 1000);
  const dur = durationOf(el);
  // Listened past 95 % — not put there paused: a moment link past the end (?t=99999) or a seek
  // near it must not mark the episode played (ended still does at the real end).
  if (dur && !el.paused && !autoMarked && !isPlayed(current.value?.episode_key ?? '') && nowMs.value >= dur * PLAYED_AT) {
    autoMarked = true;
    void save({ played: true });
  } else if (!el.paused && Date.now() - lastSaved.at >= SAVE_EVERY_MS) void save();
  updatePositionState();
}

const handlers: Record<string, () => void> = {
  timeupdate: onTime,
  seeked: () => {
    onTime();
    void save();
  },
  play: () => (playing.value = true),
  pause: () => {
    playing.value = false;
    void save();
  },
  ended: () => {
    playing.value = false;
    const key = current.value?.episode_key;
    void save({ played: true }).then(() => key === current.value?.episode_key && next());
  },
  loadedmetadata: () => {
    const el = audio.value;
    if (el && durationOf(el)) durationMs.value = durationOf(el);
    updatePositionState();
  },
  durationchange: () => {
    const el = audio.value;
    if (el && durationOf(el)) durationMs.value = durationOf(el);
  },
  ratechange: updatePositionState,
};

function onHide() {
  if (document.visibilityState === 'hidden' || !document.visibilityState) void save({ keepalive: true });
}
const onPageHide = () => void save({ keepalive: true });

/** PlayerBar hands over its <audio> (null when it goes away). */
function attach(el: HTMLAudioElement | null) {
  if (audio.value === el) return;
  if (audio.value) for (const [ev, fn] of Object.entries(handlers)) audio.value.removeEventListener(ev, fn);
  audio.value = el;
  if (!el) return;
  for (const [ev, fn] of Object.entries(handlers)) el.addEventListener(ev, fn);
  apply();
}

let started = false;
/** Once per app: page-hide saves, Media Session handlers, and the episode that was loaded before a reload (paused at its saved place). */
function start() {
  if (started) return;
  started = true;
  document.addEventListener('visibilitychange', onHide);
  window.addEventListener('pagehide', onPageHide);
  setMediaHandlers();
  let stored: PlayerEpisode | null = null;
  try {
    stored = toPlayerEpisode(JSON.parse(localStorage.getItem(CURRENT_KEY) ?? 'null') ?? { episode_key: '', title: '' });
  } catch {
    stored = null;
  }
  if (!stored) return;
  const seq = loadSeq;
  const ep = stored;
  void savedPosition(ep.episode_key).then((at) => seq === loadSeq && !current.value && load(ep, at, false));
}

// ---------- Media Session ----------

function setMediaMetadata(ep: PlayerEpisode) {
  if (!('mediaSession' in navigator) || typeof MediaMetadata === 'undefined') return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: ep.title,
    artist: ep.feed_title ?? '',
    album: ep.feed_title ?? '',
    artwork: ep.image ? [{ src: ep.image, sizes: '512x512' }] : [],
  });
}

function setMediaHandlers() {
  if (!('mediaSession' in navigator)) return;
  const ms = navigator.mediaSession;
  const set = (action: MediaSessionAction, fn: MediaSessionActionHandler) => {
    try {
      ms.setActionHandler(action, fn);
    } catch {
      // an action this browser does not know
    }
  };
  set('play', play);
  set('pause', pause);
  set('seekbackward', (d) => (d.seekOffset ? seek(nowMs.value - d.seekOffset * 1000) : skipBy(-1)));
  set('seekforward', (d) => (d.seekOffset ? seek(nowMs.value + d.seekOffset * 1000) : skipBy(1)));
  set('seekto', (d) => d.seekTime !== undefined && seek(d.seekTime * 1000));
  set('previoustrack', () => seek(0));
  set('nexttrack', () => void next());
}

function updatePositionState() {
  const el = audio.value;
  if (!el || !('mediaSession' in navigator) || !navigator.mediaSession.setPositionState) return;
  const dur = el.duration;
  if (!Number.isFinite(dur) || dur <= 0) return;
  try {
    navigator.mediaSession.setPositionState({ duration: dur, playbackRate: el.playbackRate || 1, position: Math.min(el.currentTime, dur) });
  } catch {
    // a position the browser refuses (mid-load): the next update sets it
  }
}

// ---------- the store ----------

// (ChapterList's chapterAt, restated: importing the component would pull it into the initial bundle.)
const currentChapter = computed(() => {
  let at: Chapter | null = null;
  for (const c of chapters.value) if (c.start_ms <= nowMs.value) at = c;
  return at;
});

const store = {
  audio,
  current,
  playing,
  nowMs,
  durationMs,
  rate,
  skip,
  queue,
  chapters,
  currentChapter,
  status,
  attach,
  start,
  load,
  openEpisode,
  playAt,
  playEpisode,
  play,
  pause,
  toggle,
  seek,
  skipBy,
  setRate,
  slower,
  faster,
  setSkip,
  save,
  markPlayed,
  isPlayed,
  addToQueue,
  playNext,
  moveInQueue,
  removeFromQueue,
  next,
  momentUrl,
  copyMoment,
  say,
};

export type Player = typeof store;

/** The app's one player. */
export function usePlayer(): Player {
  return store;
}
