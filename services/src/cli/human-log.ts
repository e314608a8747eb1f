import type { DestinationStream } from 'pino';

/**
 * Log lines for a person at a terminal (or reading a piped stderr): `warning: msg: err (stage
 * transcribe, episode …)` instead of pino's JSON. `podbrain run` without --json logs through
 * this, so no JSON ever lands between its progress bars or its summary; --json keeps JSON lines.
 */

const LABEL: Record<string, string> = { fatal: 'error', error: 'error', warn: 'warning', info: 'info', debug: 'debug', trace: 'trace' };
/** Fields worth showing, in this order; the rest (time, service, correlation_id, …) is for machines. */
const CONTEXT = ['stage', 'engine', 'feed', 'episode_key'] as const;
const CONTEXT_NAME: Record<string, string> = { episode_key: 'episode' };

function formatLogLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const label = LABEL[String(o.level)] ?? String(o.level ?? 'log');
  const err = typeof o.err === 'string' ? o.err : o.err && typeof o.err === 'object' ? String((o.err as { message?: unknown }).message ?? '') : '';
  const context = CONTEXT.filter((k) => o[k] !== undefined && o[k] !== null && o[k] !== '').map((k) => `${CONTEXT_NAME[k] ?? k} ${String(o[k])}`);
  return `${label}: ${String(o.msg ?? '')}${err ? `: ${err}` : ''}${context.length ? ` (${context.join(', ')})` : ''}`;
}

/** A pino destination that hands each record, formatted for people, to `sink` (one line, no newline). */
export function humanLogDestination(sink: (line: string) => void): DestinationStream {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim()) sink(formatLogLine(line));
    },
  };
}

/**
 * The level of the human log: warnings and errors by default (the summary says the rest), more
 * only when LOG_LEVEL asks for debug/trace, less when it asks for error/fatal/silent.
 */
export function humanLogLevel(configured: string): string {
  return ['debug', 'trace', 'error', 'fatal', 'silent'].includes(configured) ? configured : 'warn';
}
