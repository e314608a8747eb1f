import type { Config } from '../config/config';
import { createLogger, type Logger } from '../core/logger';
import { settleWithin, SHUTDOWN_BUDGET_MS } from '../core/shutdown';
import { parseQueueList, QUEUE_NAMES, ROLE_QUEUES, type QueueName } from '../queue/queues';
import type { WorkerHost } from '../queue/worker-host';
import type { Scheduler } from '../scheduler/scheduler';
import { checksForRole, createHealth, type HealthModel } from '../telemetry/health';
import { startTelemetryServer } from '../telemetry/server';
import { NestFactory } from '@nestjs/core';
import { subscribeControl } from '../control/control-bus';
import { startRoleReports } from '../control/role-registry';
import { roleControlHandler } from '../control/role-control';
import { RuntimeSettingsWatcher } from '../control/runtime-settings-watcher';
import { queueConcurrencyKey } from '../control/runtime-settings';
import { SettingsRepository } from '../repositories/settings.repository';
import { createRoleContext, type RoleContext } from './context';
import { roleModule, SchedulerModule, SchedulerService, WorkersModule, WorkersService } from './role.module';

export const ROLE_NAMES = ['api', 'scheduler', 'worker-io', 'worker-gpu', 'worker-ml', 'worker'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export interface RunningRole {
  role: RoleName;
  healthPort: number;
  /** The role's health model (/healthz), for the unhealthy-exit rule. */
  health: HealthModel;
  /** Graceful stop (SIGTERM): finish current work within the grace period. */
  stop(): Promise<void>;
}

export function isRoleName(s: string): s is RoleName {
  return (ROLE_NAMES as readonly string[]).includes(s);
}

function queuesForRole(role: Exclude<RoleName, 'api' | 'scheduler'>, spec: string): QueueName[] {
  return role === 'worker' ? parseQueueList(spec) : [...ROLE_QUEUES[role]];
}

/** Starts one role in this process; every role serves /healthz and /metrics on HEALTH_PORT. */
/**
 * `onRestart`: what a restart-role message for this role does (main.ts: graceful stop, exit
 * RESTART_EXIT_CODE); without it the message is logged and ignored.
 */
export async function startRole(role: RoleName, config: Config, opts: { log?: Logger; queues?: string; onRestart?: (reason: string) => void } = {}): Promise<RunningRole> {
  const log = opts.log ?? createLogger({ service: `podbrain-${role}`, level: config.logLevel });
  if (role === 'api') return startApiRole(config, log);

  const ctx = await createRoleContext({ ...config, role }, { log });
  const probeQueue = ctx.queues.get('ingest');
  const health = createHealth({
    role,
    checks: checksForRole(role, {
      postgresPing: () => ctx.database.ping(),
      ping: () => ctx.redis.ping(),
      queueProbe: () => probeQueue.getJobCounts('waiting'),
      dataDir: config.dataDir,
    }, config), // worker-gpu's whisper/GPU/ffmpeg checks read their settings from config
  });
  const telemetry = await startTelemetryServer({ port: config.healthPort, health, config });
  const queues = role === 'scheduler' ? [] : queuesForRole(role, opts.queues ?? config.worker.queues);
  const feature = role === 'scheduler' ? SchedulerModule : WorkersModule.forQueues(queues);
  const app = await NestFactory.createApplicationContext(roleModule(ctx, feature), { logger: false, abortOnError: false });
  await app.init();
  const workers = role === 'scheduler' ? null : app.get(WorkersService).host;
  const settings = watchRuntimeSettings(ctx, log, workers, role === 'scheduler' ? app.get(SchedulerService).scheduler : null);
  const control = await subscribeControl(ctx.redis, config, log, roleControlHandler({ role, workers, log, onRestart: opts.onRestart, onSettingsChanged: () => settings.refresh() }));
  await settings.start();
  const stopReports = startRoleReports({ redis: ctx.redis, config, role, health, queues, log });
  log.info({ health_port: telemetry.port, ...(role === 'scheduler' ? {} : { queues }) }, `${role} started`);
  return {
    role,
    healthPort: telemetry.port,
    health,
    async stop() {
      control.close();
      settings.stop();
      await settleWithin(stopReports(), SHUTDOWN_BUDGET_MS.close);
      await app.close(); // workers finish their jobs / the scheduler releases its lock (both bounded)
      if ((await settleWithin(telemetry.close(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') log.warn('health server did not close in time: leaving it');
      await ctx.close();
    },
  };
}

/**
 * Runtime settings (control/runtime-settings.ts) applied live: each WorkerHost takes
 * queue.<q>.concurrency, the scheduler feeds.poll_interval_s. Read at start, every
 * RUNTIME_SETTINGS_REFRESH_S and on a settings-changed control message.
 */
function watchRuntimeSettings(ctx: RoleContext, log: Logger, workers: WorkerHost | null, scheduler: Scheduler | null): RuntimeSettingsWatcher {
  const watcher = new RuntimeSettingsWatcher({ config: ctx.config, settings: new SettingsRepository(ctx.database), log });
  watcher.onChange(async (values, changed) => {
    if (workers) for (const q of QUEUE_NAMES) if (changed.includes(queueConcurrencyKey(q))) workers.setConcurrency(q, values[queueConcurrencyKey(q)]);
    if (scheduler && changed.includes('feeds.poll_interval_s')) await scheduler.setPollInterval(values['feeds.poll_interval_s']);
    if (scheduler && changed.includes('reprocess.auto')) scheduler.setReprocessAuto(values['reprocess.auto']);
  });
  return watcher;
}

async function startApiRole(config: Config, log: Logger): Promise<RunningRole> {
  // Loaded only here, so the worker and scheduler roles never load Nest's HTTP stack.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { bootstrapApi } = require('../api/bootstrap') as typeof import('../api/bootstrap');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { API_HEALTH } = require('../api/health/health.controller') as typeof import('../api/health/health.controller');
  const app = await bootstrapApi({ ...config, role: 'api' }, { log });
  return {
    role: 'api',
    healthPort: config.apiPort,
    health: app.get<HealthModel>(API_HEALTH),
    stop: () => app.close(),
  };
}
