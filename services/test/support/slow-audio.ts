import { readFileSync } from 'node:fs';
import { fixture } from './fixtures';
import type { FixtureServer } from './http-fixture-server';

/**
 * Serves a real clip at `path` that drips out in `parts` writes over `ms` (a download that is still
 * running when a test acts on it); returns the clip's length in bytes.
 */
export function serveSlowAudio(server: FixtureServer, path: string, ms: number, parts: number): number {
  const audio = readFileSync(fixture('audio', 'fleurs-en-004.ogg'));
  server.route(path, (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/ogg', 'content-length': String(audio.length) });
    let i = 0;
    const tick = () => {
      if (res.destroyed) return;
      res.write(audio.subarray(Math.floor((i * audio.length) / parts), Math.floor(((i + 1) * audio.length) / parts)));
      if (++i < parts) setTimeout(tick, ms / parts);
      else res.end();
    };
    tick();
  });
  return audio.length;
}
