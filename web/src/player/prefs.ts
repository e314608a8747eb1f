// The player's settings, remembered per browser (localStorage): speed and skip lengths.

export const SPEEDS = [0.5, 0.75, 1, 1.1, 1.25, 1.5, 1.75, 2, 2.5, 3] as const;
export const DEFAULT_SKIP = { back: 15, forward: 30 } as const;
export const SKIP_MIN = 5;
export const SKIP_MAX = 300;

const RATE_KEY = 'podbrain.player.rate';
const SKIP_KEY = 'podbrain.player.skip';

/** The speed one step slower (dir -1) or faster (+1) than `rate`, within 0.5–3×. */
export function stepRate(rate: number, dir: -1 | 1): number {
  if (dir > 0) return SPEEDS.find((s) => s > rate + 1e-9) ?? SPEEDS[SPEEDS.length - 1];
  return [...SPEEDS].reverse().find((s) => s < rate - 1e-9) ?? SPEEDS[0];
}

const clampRate = (r: number) => (Number.isFinite(r) ? Math.min(3, Math.max(0.5, r)) : 1);
const clampSkip = (s: unknown, dflt: number) => {
  const n = Math.round(Number(s));
  return Number.isFinite(n) && n > 0 ? Math.min(SKIP_MAX, Math.max(SKIP_MIN, n)) : dflt;
};

export function loadRate(): number {
  const v = localStorage.getItem(RATE_KEY);
  return v === null ? 1 : clampRate(Number(v));
}

export function saveRate(rate: number): number {
  const r = clampRate(rate);
  localStorage.setItem(RATE_KEY, String(r));
  return r;
}

export function loadSkip(): { back: number; forward: number } {
  try {
    const v = JSON.parse(localStorage.getItem(SKIP_KEY) ?? 'null') as { back?: unknown; forward?: unknown } | null;
    return { back: clampSkip(v?.back, DEFAULT_SKIP.back), forward: clampSkip(v?.forward, DEFAULT_SKIP.forward) };
  } catch {
    return { ...DEFAULT_SKIP };
  }
}

export function saveSkip(skip: { back: unknown; forward: unknown }): { back: number; forward: number } {
  const s = { back: clampSkip(skip.back, DEFAULT_SKIP.back), forward: clampSkip(skip.forward, DEFAULT_SKIP.forward) };
  localStorage.setItem(SKIP_KEY, JSON.stringify(s));
  return s;
}
