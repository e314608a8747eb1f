#!/usr/bin/env node
// The viewer's app icons (issue 18, installable): drawn here with node:zlib into PNGs, no
// downloads and no image library. `node scripts/make-icons.mjs` rewrites web/public/icons/;
// the PNGs are committed, so a build does not run this.
//
// The glyph: a podcast mark (a dot on a stem inside two open rings), white on the accent colour.
// `any` icons are a rounded square; `maskable` ones fill the square edge to edge with the glyph
// inside the 80 % safe circle (the launcher cuts its own shape).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const OUT = path.resolve(import.meta.dirname, '../web/public/icons');
const ACCENT = [0x4f, 0x46, 0xe5];
const WHITE = [0xff, 0xff, 0xff];

// ---------- shapes in unit coordinates (0..1), centred glyph at scale s ----------
const inRoundedSquare = (x, y, r) => {
  const dx = Math.max(r - x, 0, x - (1 - r));
  const dy = Math.max(r - y, 0, y - (1 - r));
  return dx * dx + dy * dy <= r * r;
};

/** True where the glyph is white; (x, y) in the unit square, s = glyph scale around the centre. */
function inGlyph(x, y, s) {
  const u = (x - 0.5) / s;
  const v = (y - 0.5) / s;
  const cy = -0.06; // the rings' centre, a little above the middle
  const dx = u;
  const dy = v - cy;
  const d = Math.hypot(dx, dy);
  if (d <= 0.085) return true; // the dot
  if (Math.abs(u) <= 0.04 && v >= cy && v <= 0.36) return true; // the stem
  if (Math.hypot(u, v - 0.36) <= 0.04) return true; // its rounded end
  // Open rings: everything but a 100° wedge pointing down.
  const angleFromDown = Math.acos(Math.max(-1, Math.min(1, dy / (d || 1))));
  if (angleFromDown < (50 * Math.PI) / 180) return false;
  const ring = (r, w) => Math.abs(d - r) <= w / 2;
  return ring(0.2, 0.06) || ring(0.32, 0.06);
}

function render(size, { maskable }) {
  const SS = 4; // supersamples per axis
  const px = Buffer.alloc(size * size * 4);
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let bg = 0;
      let fg = 0;
      for (let sj = 0; sj < SS; sj++) {
        for (let si = 0; si < SS; si++) {
          const x = (i + (si + 0.5) / SS) / size;
          const y = (j + (sj + 0.5) / SS) / size;
          if (!(maskable || inRoundedSquare(x, y, 0.22))) continue;
          bg++;
          if (inGlyph(x, y, maskable ? 0.78 : 1)) fg++;
        }
      }
      const n = SS * SS;
      const o = (j * size + i) * 4;
      const a = bg / n;
      const f = bg ? fg / bg : 0;
      for (let c = 0; c < 3; c++) px[o + c] = Math.round(ACCENT[c] * (1 - f) + WHITE[c] * f);
      px[o + 3] = Math.round(a * 255);
    }
  }
  return png(size, size, px);
}

// ---------- PNG (RGBA, 8 bit, no filter) ----------
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

function png(w, h, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((w * 4 + 1) * h);
  for (let y = 0; y < h; y++) rgba.copy(raw, y * (w * 4 + 1) + 1, y * w * 4, (y + 1) * w * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------- SVG (the same glyph, for browsers that take a vector icon) ----------
function svg() {
  const hex = `#${ACCENT.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
  const c = { x: 256, y: 256 - 0.06 * 512 };
  const arc = (r) => {
    const a = (50 * Math.PI) / 180;
    const sx = c.x - r * Math.sin(a);
    const ex = c.x + r * Math.sin(a);
    const yy = c.y + r * Math.cos(a);
    return `<path d="M${sx.toFixed(1)} ${yy.toFixed(1)}A${r} ${r} 0 1 1 ${ex.toFixed(1)} ${yy.toFixed(1)}" fill="none" stroke="#fff" stroke-width="${0.06 * 512}"/>`;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">
<rect width="512" height="512" rx="${0.22 * 512}" fill="${hex}"/>
<circle cx="${c.x}" cy="${c.y.toFixed(1)}" r="${0.085 * 512}" fill="#fff"/>
<path d="M256 ${c.y.toFixed(1)}V${256 + 0.36 * 512}" stroke="#fff" stroke-width="${0.08 * 512}" stroke-linecap="round"/>
${arc(0.2 * 512)}
${arc(0.32 * 512)}
</svg>
`;
}

mkdirSync(OUT, { recursive: true });
const files = {
  'icon-192.png': render(192, { maskable: false }),
  'icon-512.png': render(512, { maskable: false }),
  'maskable-512.png': render(512, { maskable: true }),
  'apple-touch-icon.png': render(180, { maskable: true }), // iOS rounds the corners itself
  'icon.svg': svg(),
};
for (const [name, data] of Object.entries(files)) {
  writeFileSync(path.join(OUT, name), data);
  console.log(`web/public/icons/${name}  ${data.length} bytes`);
}
