import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { isQueueName, type QueueName } from '../queue/queues';

/**
 * The control channel (issue 14): admin commands to running role processes over Redis pub/sub,
 * `<prefix>:control`. Every non-api role subscribes (roles/roles.ts); each acts on the messages
 * that concern it and ignores the rest:
 *  - restart-role: that role stops gracefully (bounded) and exits RESTART_EXIT_CODE; the
 *    restart policy (`unless-stopped`) starts it afresh;
 *  - set-concurrency: every WorkerHost serving the queue changes its worker's concurrency now;
 *  - cancel-job: the WorkerHost running the job aborts its signal ('cancelled by an admin');
 *  - settings-changed: a runtime setting was stored; every role reads them again now
 *    (control/runtime-settings-watcher.ts) instead of at its next periodic refresh.
 * Pub/sub is fire-and-forget: a process that is down or reconnecting misses a message
 * (publish answers how many processes received it).
 */
export type ControlMessage =
  | { type: 'restart-role'; role: string; reason?: string }
  | { type: 'set-concurrency'; queue: QueueName; concurrency: number }
  | { type: 'cancel-job'; queue: QueueName; jobId: string }
  | { type: 'settings-changed'; key?: string };

/** The exit code of a role restarted through the control channel (distinct from 1 = failed, 3 = unhealthy). */
export const RESTART_EXIT_CODE = 4;

/** The reason a cancelled job's signal carries (and its attempt fails with). */
export const CANCELLED_BY_ADMIN = 'cancelled by an admin';

export function controlChannel(config: Pick<Config, 'queue'>): string {
  return `${config.queue.prefix}:control`;
}

/** A message from the channel, or null when it is not one this version knows. */
export function parseControlMessage(raw: string): ControlMessage | null {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!m || typeof m !== 'object') return null;
  if (m.type === 'restart-role' && typeof m.role === 'string') return { type: 'restart-role', role: m.role, ...(typeof m.reason === 'string' ? { reason: m.reason } : {}) };
  if (m.type === 'set-concurrency' && typeof m.queue === 'string' && isQueueName(m.queue) && Number.isInteger(m.concurrency) && (m.concurrency as number) >= 1)
    return { type: 'set-concurrency', queue: m.queue, concurrency: m.concurrency as number };
  if (m.type === 'cancel-job' && typeof m.queue === 'string' && isQueueName(m.queue) && typeof m.jobId === 'string') return { type: 'cancel-job', queue: m.queue, jobId: m.jobId };
  if (m.type === 'settings-changed') return { type: 'settings-changed', ...(typeof m.key === 'string' ? { key: m.key } : {}) };
  return null;
}

/** Publishes one message; answers how many subscribed processes received it. */
export function publishControl(redis: Redis, config: Pick<Config, 'queue'>, message: ControlMessage): Promise<number> {
  return redis.publish(controlChannel(config), JSON.stringify(message));
}

/**
 * Subscribes on its own connection (a subscribed connection runs no other commands); ioredis
 * resubscribes after a reconnect. A handler that throws is logged, never fatal.
 */
export async function subscribeControl(redis: Redis, config: Pick<Config, 'queue'>, log: Logger, onMessage: (m: ControlMessage) => void | Promise<void>): Promise<{ close(): void }> {
  const sub = redis.duplicate();
  sub.on('error', (e) => log.debug({ err: e.message }, 'control channel connection error'));
  const channel = controlChannel(config);
  sub.on('message', (ch: string, raw: string) => {
    if (ch !== channel) return;
    const m = parseControlMessage(raw);
    if (!m) return log.warn({ raw: raw.slice(0, 200) }, 'control channel: unknown message ignored');
    Promise.resolve()
      .then(() => onMessage(m))
      .catch((e: unknown) => log.warn({ err: errorMessage(e), message: m }, 'control channel: handling a message failed'));
  });
  await sub.subscribe(channel);
  return { close: () => sub.disconnect() };
}
