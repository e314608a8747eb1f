/// <reference types="node" />
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The design system's colours (src/style.css): the main text pairs reach WCAG AA (4.5:1) and the
// borders that are a control's only outline (inputs) reach 3:1, in light and in dark.
const css = readFileSync(path.join(import.meta.dirname, '../src/style.css'), 'utf8');

function block(selector: string): Record<string, string> {
  const start = css.indexOf(`${selector} {`);
  expect(start, selector).toBeGreaterThanOrEqual(0);
  const body = css.slice(start + selector.length + 2, css.indexOf('}', start));
  return Object.fromEntries([...body.matchAll(/--([\w-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1], m[2].toLowerCase()]));
}

const luminance = (hex: string) => {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const contrast = (a: string, b: string) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};

const light = block(':root');
const darkMedia = block(":root:not([data-theme='light'])");
const dark = { ...light, ...block(":root[data-theme='dark']") };

const TEXT_PAIRS: [string, string][] = [
  ['fg', 'bg'],
  ['fg', 'surface'],
  ['fg', 'muted-bg'],
  ['fg', 'hl-bg'],
  ['accent', 'hl-bg'], // the playing transcript line's timestamp link
  ['muted-fg', 'bg'],
  ['muted-fg', 'surface'],
  ['muted-fg', 'muted-bg'],
  ['accent', 'bg'],
  ['accent', 'surface'],
  ['accent-fg', 'accent'],
  ['bad-fg', 'bg'],
  ['warn-fg', 'bg'], // Admin: a degraded role
  ['ok-fg', 'ok-bg'],
  ['bad-fg', 'bad-bg'],
  ['busy-fg', 'busy-bg'],
];

describe('design tokens', () => {
  it('the dark scheme is the same whether chosen by the system or by the toggle', () => {
    expect(darkMedia).toEqual(block(":root[data-theme='dark']"));
  });

  for (const [scheme, tokens] of [['light', light], ['dark', dark]] as const) {
    it(`${scheme}: text pairs ≥ 4.5:1, control borders ≥ 3:1`, () => {
      for (const [fg, bg] of TEXT_PAIRS) {
        expect(tokens[fg], `--${fg}`).toBeDefined();
        expect(tokens[bg], `--${bg}`).toBeDefined();
        expect(contrast(tokens[fg], tokens[bg]), `${scheme} --${fg} on --${bg}`).toBeGreaterThanOrEqual(4.5);
      }
      expect(contrast(tokens['control-border'], tokens.bg), `${scheme} --control-border on --bg`).toBeGreaterThanOrEqual(3);
    });
  }

  it('has the spacing, type, radius, shadow and focus scales', () => {
    for (const name of ['space-1', 'space-4', 'space-7', 'text-xs', 'text-md', 'text-2xl', 'radius', 'radius-lg', 'shadow-1', 'shadow-2', 'focus-ring']) {
      expect(css, name).toMatch(new RegExp(`--${name}:`));
    }
  });
});
