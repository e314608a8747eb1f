import type { Redis } from 'ioredis';
import type { Config } from '../config/config';

/**
 * The agent's two Redis pub/sub channels:
 *  - `<prefix>:agent` wakes the agent (scheduler leader) now instead of at its next tick: an alert
 *    arrived, an action was approved or denied, the mode changed;
 *  - `<prefix>:incidents` carries incident changes to every api process, which sends them to SSE
 *    clients as `event: incident`.
 * Both are fire-and-forget: the agent also ticks every AGENT_TICK_MS, the viewer re-reads on reconnect.
 */
export function agentChannel(config: Pick<Config, 'queue'>): string {
  return `${config.queue.prefix}:agent`;
}

export function incidentsChannel(config: Pick<Config, 'queue'>): string {
  return `${config.queue.prefix}:incidents`;
}

/** What `event: incident` carries (the contract's IncidentEvent). */
export interface IncidentSignal {
  id: string;
  status: string;
  kind: string;
  at: string;
}

export function parseIncidentSignal(raw: string): IncidentSignal | null {
  try {
    const m = JSON.parse(raw) as Record<string, unknown>;
    if (m && typeof m.id === 'string' && typeof m.status === 'string' && typeof m.kind === 'string' && typeof m.at === 'string') return { id: m.id, status: m.status, kind: m.kind, at: m.at };
  } catch {
    // not one of ours
  }
  return null;
}

/** Never throws: a lost signal only delays the agent to its next tick (or a viewer to its next read). */
export async function wakeAgent(redis: Redis, config: Pick<Config, 'queue'>, reason: string): Promise<void> {
  await redis.publish(agentChannel(config), reason).catch(() => undefined);
}

export async function publishIncident(redis: Redis, config: Pick<Config, 'queue'>, s: Omit<IncidentSignal, 'at'>): Promise<void> {
  await redis.publish(incidentsChannel(config), JSON.stringify({ ...s, at: new Date().toISOString() })).catch(() => undefined);
}
