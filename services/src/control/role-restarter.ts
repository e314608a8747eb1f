import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { ActionOutcome } from './actions';
import { publishControl } from './control-bus';
import type { RoleRestarter } from './control-plane';
import { roleEntries, type RoleEntry } from './role-registry';
import { PROJECT_LABEL } from './socket-proxy';

/**
 * restart-role for the scheduler's control plane (the agent), in two steps (ARCHITECTURE §8a):
 * 1. cooperative: the restart-role message over the control channel; a role that answers drains,
 *    removes its live entry (role-registry.ts) and exits 4, and its restart policy starts it again;
 * 2. forced, for what does not answer within RESTART_ACK_S: a process that is hung, SIGSTOPped or
 *    blocked (it still holds its Redis subscription, so `publish` counts it as a receiver, but it
 *    never acts), or a role of which no process reports at all. Its containers are restarted
 *    through the Docker engine's API, reached only through the socket proxy (socket-proxy.ts) at
 *    DOCKER_PROXY_URL: the engine stops (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) and starts it.
 */
const STOP_TIMEOUT_S = 10;
const POLL_MS = 250;
/** A missing entry counts as a clean stop only when it vanished this long before it would have lapsed. */
const LAPSE_MARGIN_MS = 300;
const SERVICE_LABEL = 'com.docker.compose.service';

interface ContainerSummary {
  Id: string;
  Names?: string[];
}

export function createRoleRestarter(deps: { config: Config; redis: Redis; log: Logger; pollMs?: number }): RoleRestarter {
  const { config, redis, log } = deps;
  const pollMs = deps.pollMs ?? POLL_MS;
  const ackMs = config.control.restartAckS * 1000;

  const proxy = async (method: 'GET' | 'POST', path: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${config.control.dockerProxyUrl.replace(/\/+$/, '')}${path}`, { method, signal: AbortSignal.timeout((STOP_TIMEOUT_S + 30) * 1000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* the engine's plain-text answer */
    }
    return { status: res.status, body };
  };

  /** Restarts the role's running containers (those whose hostname a silent process reported, when they can be told apart). */
  const forced = async (role: string, why: string, silent: RoleEntry[], receivers: number): Promise<ActionOutcome> => {
    if (!config.control.dockerProxyUrl) {
      throw new Error(`${role} was not restarted: ${why}, and the forced path is not configured (DOCKER_PROXY_URL is empty; see deploy/README.md)`);
    }
    const labels = [`${SERVICE_LABEL}=${role}`, ...(config.control.composeProject ? [`${PROJECT_LABEL}=${config.control.composeProject}`] : [])];
    const listed = await proxy('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: labels }))}`);
    if (listed.status !== 200 || !Array.isArray(listed.body)) throw new Error(`${role} was not restarted: ${why}, and listing its containers failed (${listed.status}: ${describe(listed.body)})`);
    const all = (listed.body as ContainerSummary[]).filter((c) => typeof c?.Id === 'string');
    if (!all.length) throw new Error(`${role} was not restarted: ${why}, and no running container of the compose service ${role} was found`);
    // In compose a container's hostname is its short id: restart only the silent ones when every one is matched.
    const matched = all.filter((c) => silent.some((s) => c.Id.startsWith(s.report.hostname)));
    const targets = silent.length && matched.length && silent.every((s) => all.some((c) => c.Id.startsWith(s.report.hostname))) ? matched : all;
    const containers = [];
    for (const c of targets) {
      const name = (c.Names?.[0] ?? '').replace(/^\//, '') || c.Id.slice(0, 12);
      try {
        const r = await proxy('POST', `/containers/${c.Id}/restart?t=${STOP_TIMEOUT_S}`);
        containers.push({ id: c.Id.slice(0, 12), name, ok: r.status === 204, ...(r.status === 204 ? {} : { error: `${r.status}: ${describe(r.body)}` }) });
      } catch (e) {
        containers.push({ id: c.Id.slice(0, 12), name, ok: false, error: errorMessage(e) });
      }
    }
    const done = containers.filter((c) => c.ok);
    log.warn({ role, why, containers }, 'restart-role: forced restart through the engine');
    if (!done.length) throw new Error(`${role} was not restarted: ${why}, and the engine refused every container restart (${containers.map((c) => `${c.name}: ${c.error}`).join('; ')})`);
    const failed = containers.length - done.length;
    return {
      detail: `restart of ${role}: forced (${why}): container(s) ${done.map((c) => c.name).join(', ')} restarted through the engine${failed ? `; ${failed} failed` : ''}`,
      data: { forced: true, receivers, containers, unanswered: silent.map(processName) },
    };
  };

  return {
    async restart(role: string, reason: string): Promise<ActionOutcome> {
      const before = await roleEntries(redis, config, role);
      const receivers = await publishControl(redis, config, { type: 'restart-role', role, reason });
      if (!before.length) return forced(role, `no process of ${role} is reporting`, [], receivers);

      const pending = new Map(before.map((e) => [e.key, e]));
      const silent: RoleEntry[] = [];
      const deadline = Date.now() + ackMs;
      const started = Date.now();
      while (pending.size && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, pollMs));
        const askedAt = Date.now();
        const now = new Map((await roleEntries(redis, config, role)).map((e) => [e.key, e]));
        for (const [key, was] of pending) {
          const cur = now.get(key);
          if (cur && cur.report.started_at === was.report.started_at) {
            pending.set(key, cur);
            continue;
          }
          pending.delete(key);
          // Gone before it could lapse: removed by a clean stop. Gone at its lapse: it stopped reporting (hung).
          if (!cur && askedAt >= was.expiresAt - LAPSE_MARGIN_MS) silent.push(was);
        }
      }
      silent.push(...pending.values());
      if (silent.length) {
        const names = silent.map(processName).join(', ');
        return forced(role, `${silent.length} of ${before.length} process(es) did not stop within ${config.control.restartAckS} s (${names})`, silent, receivers);
      }
      const s = ((Date.now() - started) / 1000).toFixed(1);
      return {
        detail: `restart of ${role}: cooperative (${before.length} process(es) stopped within ${s} s; the restart policy starts them again)`,
        data: { forced: false, receivers, containers: [] },
      };
    },
  };
}

const processName = (e: RoleEntry) => `${e.report.hostname}:${e.report.pid}`;

function describe(body: unknown): string {
  const message = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : JSON.stringify(body);
  return (message ?? '').slice(0, 300);
}
