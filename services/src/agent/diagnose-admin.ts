import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import { failureCause } from '../api/admin/failure-cause';
import { liveRoles } from '../control/role-registry';
import type { Database } from '../db/database';
import { QUEUE_NAMES, QUEUE_SETTINGS, type Queues } from '../queue/queues';
import { SettingsRepository } from '../repositories/settings.repository';
import { ADMIN_READS, type AdminRead } from './runbooks';

/**
 * The admin reads a runbook's `admin:` diagnose step names, done in-process (the agent runs in
 * the scheduler, which has Redis, the queues and Postgres): the same facts the admin API shows,
 * as text for the incident record.
 */
export { ADMIN_READS, type AdminRead };

export function isAdminRead(s: string): s is AdminRead {
  return (ADMIN_READS as readonly string[]).includes(s);
}

export interface AdminReadDeps {
  config: Config;
  redis: Redis;
  queues: Queues;
  database: Database;
}

/** Failed jobs read per queue (newest first) for grouping by cause. */
const FAILED_SCAN = 1000;
const STUCK_SCAN = 200;

const line = (o: unknown) => JSON.stringify(o);

export async function runAdminRead(read: AdminRead, deps: AdminReadDeps): Promise<string> {
  switch (read) {
    case 'roles': {
      const roles = await liveRoles(deps.redis, deps.config);
      if (!roles.length) return 'no role process has reported in the last three health ticks';
      return roles.map((r) => line({ role: r.role, hostname: r.hostname, pid: r.pid, status: r.status, version: r.version, started_at: r.started_at, reported_at: r.reported_at, queues: r.queues })).join('\n');
    }
    case 'queues': {
      const rows = await Promise.all(
        QUEUE_NAMES.map(async (name) => {
          const q = deps.queues.get(name);
          const [c, paused] = await Promise.all([q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'), q.isPaused()]);
          return line({ queue: name, paused, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0, completed: c.completed ?? 0 });
        }),
      );
      return rows.join('\n');
    }
    case 'failures': {
      const groups = new Map<string, { cause: string; count: number; queues: Record<string, number>; latest: number }>();
      for (const name of QUEUE_NAMES) {
        for (const job of await deps.queues.get(name).getJobs(['failed'], 0, FAILED_SCAN - 1)) {
          if (!job) continue;
          const cause = failureCause(job.failedReason || null);
          const g = groups.get(cause) ?? { cause, count: 0, queues: {}, latest: 0 };
          g.count++;
          g.queues[name] = (g.queues[name] ?? 0) + 1;
          g.latest = Math.max(g.latest, job.finishedOn ?? job.timestamp);
          groups.set(cause, g);
        }
      }
      if (!groups.size) return 'no failed jobs';
      return [...groups.values()]
        .sort((a, b) => b.count - a.count || b.latest - a.latest)
        .map((g) => line({ ...g, latest: new Date(g.latest).toISOString() }))
        .join('\n');
    }
    case 'stuck-jobs': {
      const out: string[] = [];
      for (const name of QUEUE_NAMES) {
        const cutoff = Date.now() - QUEUE_SETTINGS[name].timeoutMs;
        for (const j of await deps.queues.get(name).getJobs(['active'], 0, STUCK_SCAN - 1)) {
          const since = j ? (j.processedOn ?? j.timestamp) : Infinity;
          if (j && since < cutoff) out.push(line({ queue: name, id: String(j.id), name: j.name, active_since: new Date(since).toISOString(), attempts: j.attemptsMade }));
        }
      }
      return out.length ? out.join('\n') : 'no job has been active longer than its queue timeout';
    }
    case 'workers': {
      const rows = await Promise.all(
        QUEUE_NAMES.map(async (name) => {
          const workers = await deps.queues.get(name).getWorkers();
          return line({ queue: name, workers: workers.length, names: workers.map((w) => w.rawname ?? w.name ?? '').slice(0, 20) });
        }),
      );
      return rows.join('\n');
    }
    case 'settings':
      return Object.entries(await new SettingsRepository(deps.database).effective(deps.config))
        .map(([key, value]) => `${key} = ${JSON.stringify(value)}`)
        .join('\n');
  }
}
