import pino, { type Logger } from 'pino';
import { logContextMixin } from '../telemetry/correlation';

export type { Logger };

/**
 * JSON logs to stdout with the fields ARCHITECTURE §9 names. Children add
 * correlation_id / episode_key / queue / worker_id as they become known.
 */
export function createLogger(opts: { service: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: opts.service },
      messageKey: 'msg',
      // correlation_id / episode_key / queue / worker_id of the work in progress (telemetry/correlation.ts)
      mixin: logContextMixin,
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
