#!/usr/bin/env node
import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/config';
import { errorMessage } from './core/errors';
import { createLogger } from './core/logger';
import { SHUTDOWN_MARGIN_MS } from './core/shutdown';
import { startEventLoopWatchdog, WATCHDOG_EXIT_STATUS } from './core/watchdog';
import { isRoleName, ROLE_NAMES, startRole, type RunningRole } from './roles/roles';
import { RESTART_EXIT_CODE } from './control/control-bus';
import { buildInfo, UNHEALTHY_EXIT_CODE, watchUnhealthy } from './telemetry/health';
import { initMetrics } from './telemetry/metrics';

/**
 * One image, one entrypoint (ARCHITECTURE §3):
 *   node services/dist/main.js <role> [--queues all|a,b]     (or PODBRAIN_ROLE)
 * SIGTERM/SIGINT → graceful stop (finish the current job within SHUTDOWN_GRACE_MS) → exit 0; whatever Redis
 * and Postgres do, the process is gone within SHUTDOWN_GRACE_MS + SHUTDOWN_MARGIN_MS (exit 1 if the last-resort timer ends it).
 * Self-healing (issue 14), for Docker's restart policy: unhealthy for UNHEALTHY_EXIT_AFTER checks in a row →
 * stop within SHUTDOWN_MARGIN_MS → exit UNHEALTHY_EXIT_CODE (3); event loop blocked for EVENT_LOOP_WATCHDOG_S →
 * the watchdog thread ends the process (status 140, core/watchdog.ts). A restart-role message on the control
 * channel (control/control-bus.ts) → graceful stop → exit RESTART_EXIT_CODE (4).
 */
async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const qi = args.indexOf('--queues');
  const queues = qi >= 0 ? args[qi + 1] : args.find((a) => a.startsWith('--queues='))?.slice('--queues='.length);
  const positional = args.filter((a, i) => !a.startsWith('--') && (qi < 0 || i !== qi + 1));
  const roleArg = positional[0] ?? process.env.PODBRAIN_ROLE;
  if (!roleArg || !isRoleName(roleArg)) {
    process.stderr.write(`usage: main.js <${ROLE_NAMES.join('|')}> [--queues all|ingest,transcribe,...]\n`);
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig({ overrides: { PODBRAIN_ROLE: roleArg, ...(queues ? { WORKER_QUEUES: queues } : {}) } });
  } catch (e) {
    process.stderr.write(`podbrain: ${e instanceof ConfigError ? e.message : errorMessage(e)}\n`);
    process.exit(2);
  }
  const log = createLogger({ service: `podbrain-${roleArg}`, level: config.logLevel });
  const { version, gitSha } = buildInfo();
  initMetrics({ role: roleArg, version, gitSha });

  let running: RunningRole;
  // A restart-role message (control/control-bus.ts) that arrives while the role is starting is acted on once it is up.
  let pendingRestart: string | null = null;
  let requestRestart = (reason: string) => void (pendingRestart = reason);
  try {
    running = await startRole(roleArg, config, { log, queues, onRestart: (reason) => requestRestart(reason) });
  } catch (e) {
    log.fatal({ err: errorMessage(e) }, 'role failed to start');
    process.stderr.write(`podbrain ${roleArg}: ${errorMessage(e)}\n`);
    setTimeout(() => process.exit(1), 100);
    return;
  }
  startEventLoopWatchdog(config.telemetry.eventLoopWatchdogS * 1000);
  log.info({ after_s: config.telemetry.eventLoopWatchdogS, exit_status: WATCHDOG_EXIT_STATUS }, 'event-loop watchdog armed');
  let stopping = false;
  /** graceful (a signal, a restart request): the role gets its grace period; otherwise it is given up (bounded by the margin alone). */
  const shutdown = (signal: string, exitCode = 0, graceful = exitCode === 0) => {
    if (stopping) return;
    stopping = true;
    stopWatchingHealth();
    log.info({ signal }, 'shutting down');
    // Last resort: the graceful stop is bounded step by step (core/shutdown.ts); if one step is not, the process still ends.
    const hardMs = graceful ? config.worker.shutdownGraceMs + SHUTDOWN_MARGIN_MS : SHUTDOWN_MARGIN_MS;
    setTimeout(() => {
      log.error({ after_ms: hardMs }, 'shutdown did not finish in time: exiting now');
      log.flush?.();
      process.exit(exitCode || 1);
    }, hardMs);
    running
      .stop()
      .then(() => {
        log.info('stopped');
        log.flush?.();
        setTimeout(() => process.exit(exitCode), 50);
      })
      .catch((e) => {
        log.error({ err: errorMessage(e) }, 'unclean shutdown');
        setTimeout(() => process.exit(exitCode || 1), 50);
      });
  };
  const limit = config.telemetry.unhealthyExitAfter;
  const stopWatchingHealth = watchUnhealthy({
    health: running.health,
    intervalMs: config.telemetry.healthCheckIntervalS * 1000,
    limit,
    onUnhealthy: (count, failing) => log.warn({ count, limit, failing }, 'role unhealthy'),
    onLimit: (reason) => {
      log.error({ reason, exit_code: UNHEALTHY_EXIT_CODE }, 'role stayed unhealthy: exiting so the restart policy starts it afresh');
      shutdown('unhealthy', UNHEALTHY_EXIT_CODE);
    },
  });
  requestRestart = (reason) => {
    log.warn({ reason, exit_code: RESTART_EXIT_CODE }, 'restart requested over the control channel: stopping gracefully, the restart policy starts the role again');
    shutdown('restart-role', RESTART_EXIT_CODE, true);
  };
  if (pendingRestart) requestRestart(pendingRestart);
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main(process.argv);
