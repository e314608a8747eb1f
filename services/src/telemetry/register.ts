/**
 * Preload for every role (`node --require services/dist/telemetry/register.js services/dist/main.js <role>`):
 * starts OpenTelemetry before http/pg/ioredis are loaded so they are instrumented. Without
 * an OTLP endpoint it does nothing. On SIGTERM/SIGINT pending spans are flushed; the role's
 * own signal handlers still run, and when there are none the signal is re-raised after the
 * flush so the process still ends the way it would have without us.
 */
import { startTracing } from './tracing';

const role = process.env.PODBRAIN_ROLE || process.argv[2] || 'cli';
const handle = startTracing({ role, version: process.env.PODBRAIN_VERSION });
if (handle.enabled) {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const othersListen = process.listenerCount(signal) > 0;
      void handle
        .shutdown()
        .catch(() => undefined)
        .finally(() => {
          if (!othersListen) process.kill(process.pid, signal);
        });
    });
  }
  process.once('beforeExit', () => void handle.shutdown().catch(() => undefined));
}
