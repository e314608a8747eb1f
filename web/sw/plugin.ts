import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Plugin } from 'vite';

const TEMPLATE = path.join(import.meta.dirname, 'sw.js');

/** Files under `dir`, as paths relative to it with forward slashes. */
function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    return statSync(full).isDirectory() ? listFiles(full, rel) : [rel];
  });
}

/**
 * Writes dist/sw.js from web/sw/sw.js with the app shell it precaches: index.html, every file of
 * this build (the hashed /assets/*) and the public files (manifest, icons). Its version is a hash
 * of all of them, so a new build is a new worker (the browser compares sw.js byte for byte).
 * Paths are relative to the worker's scope, so a build with another `base` works too.
 */
export function serviceWorker(): Plugin {
  let publicDir = '';
  return {
    name: 'podbrain-service-worker',
    apply: 'build',
    enforce: 'post',
    configResolved(config) {
      publicDir = config.publicDir;
    },
    generateBundle(_options, bundle) {
      const built = Object.values(bundle)
        .map((f) => f.fileName)
        .filter((f) => !f.startsWith('.vite/') && !f.endsWith('.map'));
      const shell = [...new Set([...built, ...listFiles(publicDir)])].filter((f) => f !== 'sw.js').sort();
      const hash = createHash('sha256');
      const template = readFileSync(TEMPLATE, 'utf8');
      hash.update(template);
      for (const f of shell) {
        const out = bundle[f];
        hash.update(f);
        if (out?.type === 'asset') hash.update(typeof out.source === 'string' ? out.source : Buffer.from(out.source));
        else if (!out) hash.update(readFileSync(path.join(publicDir, f)));
      }
      const version = hash.digest('hex').slice(0, 12);
      const source = template.replace("'__VERSION__'", JSON.stringify(version)).replace('__SHELL__', JSON.stringify(shell));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}
