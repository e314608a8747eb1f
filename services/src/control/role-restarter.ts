import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { ActionOutcome } from './actions';
import { publishControl } from './control-bus';
import type { RoleRestarter } from './control-plane';

/**
 * restart-role for the scheduler's control plane (the agent). Cooperative first: a restart-role
 * message over the control channel (the role drains and exits 4, its restart policy starts it).
 * TODO(issue 14): the forced path for a process that does not answer (hung, SIGSTOPped).
 */
export function createRoleRestarter(deps: { config: Config; redis: Redis; log: Logger }): RoleRestarter {
  return {
    async restart(role: string, reason: string): Promise<ActionOutcome> {
      const receivers = await publishControl(deps.redis, deps.config, { type: 'restart-role', role, reason });
      return { detail: `restart sent to ${role} (${receivers} process(es) listening)`, data: { receivers, forced: false } };
    },
  };
}
