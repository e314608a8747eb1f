import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { buildInfo, type HealthModel } from '../telemetry/health';
import { roleProcess } from '../api/contract/responses';
import type { z } from 'zod';

/**
 * Which role processes run (GET /api/admin/roles): each non-api role writes itself to
 * `<prefix>:roles:<role>:<hostname>:<pid>` on every health tick (HEALTH_CHECK_INTERVAL_S) with a
 * TTL of three ticks, so a process that died or hangs drops out of the list by itself.
 */
/** One role process as GET /api/admin/roles lists it: the contract's schema, also used to read entries back. */
export type RoleReport = z.output<typeof roleProcess>;

const keyPrefix = (config: Pick<Config, 'queue'>) => `${config.queue.prefix}:roles:`;

/** Reports now and on every tick; returns the stop, which also removes the entry (a clean stop leaves the list at once). */
export function startRoleReports(deps: { redis: Redis; config: Config; role: string; health: HealthModel; queues: readonly string[]; log: Logger }): () => Promise<void> {
  const { version, gitSha } = buildInfo();
  const startedAt = new Date().toISOString();
  const intervalMs = deps.config.telemetry.healthCheckIntervalS * 1000;
  const key = `${keyPrefix(deps.config)}${deps.role}:${os.hostname()}:${process.pid}`;
  let busy = false;
  const report = async () => {
    if (busy) return;
    busy = true;
    try {
      const health = await deps.health.report();
      const entry: RoleReport = { role: deps.role, pid: process.pid, hostname: os.hostname(), version, git_sha: gitSha, status: health.status, started_at: startedAt, reported_at: new Date().toISOString(), queues: [...deps.queues] };
      await deps.redis.set(key, JSON.stringify(entry), 'PX', intervalMs * 3);
    } catch (e) {
      deps.log.debug({ err: errorMessage(e) }, 'role report failed');
    } finally {
      busy = false;
    }
  };
  void report();
  const timer = setInterval(() => void report(), intervalMs).unref();
  return async () => {
    clearInterval(timer);
    await deps.redis.del(key).catch(() => undefined);
  };
}

/** The live role processes (entries whose TTL has not run out), by role then hostname and pid. */
export async function liveRoles(redis: Redis, config: Pick<Config, 'queue'>): Promise<RoleReport[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${keyPrefix(config)}*`, 'COUNT', 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (!keys.length) return [];
  const values = await redis.mget(...keys);
  // An entry that does not parse (another version's shape, a hand-edited key) is left out, not trusted.
  const out = values.flatMap((v) => {
    if (!v) return [];
    try {
      const parsed = roleProcess.safeParse(JSON.parse(v));
      return parsed.success ? [parsed.data] : [];
    } catch {
      return [];
    }
  });
  return out.sort((a, b) => a.role.localeCompare(b.role) || a.hostname.localeCompare(b.hostname) || a.pid - b.pid);
}

/** One live entry of a role with its Redis key and when it runs out (the restarter tells a clean stop from a lapse by it). */
export interface RoleEntry {
  key: string;
  report: RoleReport;
  /** Epoch ms at which the entry lapses unless its process reports again. */
  expiresAt: number;
}

/** The live entries of one role (`worker` does not match `worker-gpu`). */
export async function roleEntries(redis: Redis, config: Pick<Config, 'queue'>, role: string): Promise<RoleEntry[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${keyPrefix(config)}${role}:*`, 'COUNT', 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (!keys.length) return [];
  const multi = redis.multi();
  for (const k of keys) multi.get(k).pttl(k);
  const answers = (await multi.exec()) ?? [];
  const now = Date.now();
  return keys.flatMap((key, i) => {
    const [value, ttl] = [answers[2 * i]?.[1], answers[2 * i + 1]?.[1]];
    if (typeof value !== 'string' || typeof ttl !== 'number' || ttl < 0) return [];
    try {
      const parsed = roleProcess.safeParse(JSON.parse(value));
      return parsed.success && parsed.data.role === role ? [{ key, report: parsed.data, expiresAt: now + ttl }] : [];
    } catch {
      return [];
    }
  });
}
