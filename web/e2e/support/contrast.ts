import type { Locator } from '@playwright/test';

export interface LowContrast { text: string; ratio: number; fg: string; bg: string }

/**
 * Enabled buttons and links inside `scope` whose text has less than `min`:1 contrast (WCAG) with
 * the background they sit on: the nearest solid background-color of the element or an ancestor.
 * Text over a background image (cover placeholders) is left out, as is invisible or empty text.
 */
export async function lowContrastControls(scope: Locator, min = 4.5): Promise<LowContrast[]> {
  return scope.evaluate((root, minRatio) => {
    const rgba = (c: string): number[] | null => {
      const m = c.match(/^rgba?\(([^)]+)\)$/);
      if (!m) return null;
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p[3] ?? 1];
    };
    const lum = ([r, g, b]: number[]) => {
      const ch = (v: number) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
    };
    const backgroundOf = (el: Element): number[] | 'image' | null => {
      for (let e: Element | null = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.backgroundImage !== 'none') return 'image';
        const c = rgba(s.backgroundColor);
        if (c && c[3] > 0.5) return c;
      }
      return rgba(getComputedStyle(document.body).backgroundColor);
    };
    const out: { text: string; ratio: number; fg: string; bg: string }[] = [];
    for (const el of root.querySelectorAll<HTMLElement>('button:not(:disabled), a[href]')) {
      const text = el.innerText.trim();
      const r = el.getBoundingClientRect();
      if (!text || r.width === 0 || r.height === 0) continue;
      const fg = rgba(getComputedStyle(el).color);
      const bg = backgroundOf(el);
      if (!fg || !bg || bg === 'image') continue;
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      if (ratio < minRatio) out.push({ text, ratio: Math.round(ratio * 100) / 100, fg: getComputedStyle(el).color, bg: `rgb(${bg.slice(0, 3).join(', ')})` });
    }
    return out;
  }, min);
}
