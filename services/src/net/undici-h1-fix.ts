import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/**
 * undici 7's HTTP/1 parser asserts `!this.paused` in `finish()`, which runs from the socket's
 * 'end' / 'close' / ECONNRESET listeners when a response without keep-alive ends. A body
 * that is read slower than it arrives (every download: each chunk is written to disk
 * first) pauses the parser; a peer that closes right after the last chunk (HTTP/1.0,
 * `Connection: close`: python's http.server, many small servers) then makes the assertion
 * throw from inside a socket event listener, where no caller can catch it: the process dies
 * (nodejs/undici#5360, fixed by nodejs/undici#5389 in undici 8.5.0).
 *
 * undici 8 needs Node ≥ 22.19 and does not load on Node 20, which podbrain still supports
 * (package.json engines), so this applies the upstream fix to the 7.x parser instead: a
 * paused parser at end of stream is resumed and drained (the bytes already received are
 * handed to the body, past its high-water mark) before llhttp is finished. Nothing is done
 * for undici ≥ 8.5.0. Drop this file once the Node floor is 22.19 and undici is ≥ 8.5.
 */

/** The parts of undici's internal HTTP/1 `Parser` the fix touches (lib/dispatcher/client-h1.js). */
interface H1Parser {
  paused: boolean;
  ptr: number | null;
  socket: Socket;
  llhttp: { llhttp_resume(ptr: number): void };
  execute(data: Buffer): void;
  finish(): Error | null;
}

const FIXED_IN: readonly number[] = [8, 5, 0];
const EMPTY = Buffer.alloc(0);

function undiciVersion(): number[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('undici/package.json') as { version: string };
  return version.split(/[.-]/).slice(0, 3).map(Number);
}

function olderThan(v: readonly number[], than: readonly number[]): boolean {
  for (let i = 0; i < than.length; i++) if ((v[i] ?? 0) !== than[i]) return (v[i] ?? 0) < than[i];
  return false;
}

/** True when the installed undici still has the paused-parser assertion. */
export const UNDICI_NEEDS_H1_FIX = olderThan(undiciVersion(), FIXED_IN);

let kParser: symbol | undefined;
let fixedPrototype: object | null = null;

/** Whether the parser class in use has the fix applied (tests). */
export function h1FixApplied(): boolean {
  return fixedPrototype !== null;
}

function parserSymbol(): symbol | undefined {
  if (kParser === undefined) {
    // undici has no "exports" map, so its internal symbols module resolves.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    kParser = (require('undici/lib/core/symbols') as { kParser?: symbol }).kParser;
  }
  return kParser;
}

function fixParserClass(parser: H1Parser): void {
  const proto = Object.getPrototypeOf(parser) as H1Parser;
  if (fixedPrototype === proto || typeof proto.finish !== 'function' || typeof proto.execute !== 'function') return;
  const finish = proto.finish;
  // The body of nodejs/undici#5389's change to Parser.finish().
  proto.finish = function finishEvenWhenPaused(this: H1Parser): Error | null {
    if (this.paused && this.ptr != null) {
      let data: Buffer;
      do {
        this.llhttp.llhttp_resume(this.ptr);
        this.paused = false;
        data = (this.socket.read() as Buffer | null) ?? EMPTY;
        this.execute(data);
      } while (this.paused && data.length > 0 && this.ptr != null);
      if (this.paused && this.ptr != null) {
        this.llhttp.llhttp_resume(this.ptr);
        this.paused = false;
      }
    }
    return finish.call(this);
  };
  fixedPrototype = proto;
}

/**
 * Runs before undici's own listeners on every event that can end a response (they are
 * registered after the connector returns; prepending keeps ours first regardless).
 */
function watch(socket: Socket): void {
  const ensure = () => {
    const sym = parserSymbol();
    const parser = sym ? ((socket as unknown as Record<symbol, H1Parser | null | undefined>)[sym] ?? null) : null;
    if (parser) fixParserClass(parser);
  };
  // ('data' / 'readable' listeners would change how undici reads the socket: not those.)
  for (const event of ['end', 'error', 'close']) socket.prependListener(event, ensure);
}

/**
 * undici's default connector (same options the Agent would use: connect timeout, our guarded
 * lookup, TLS session cache), with the HTTP/1 fix hooked onto each socket when needed.
 */
export function fixedConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  if (!UNDICI_NEEDS_H1_FIX) return connect;
  return (opts, callback) =>
    connect(opts, (err, socket) => {
      if (!err && socket && fixedPrototype === null) watch(socket as Socket);
      // callback's overloads: (err, null) | (null, socket)
      (callback as (e: Error | null, s: unknown) => void)(err, socket);
    });
}
