import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { Database } from '../db/database';
import type { Queues } from '../queue/queues';
import { CONTROL_ACTIONS, parseActionArgs, type ActionOutcome, type ControlActionHandlers, type ControlActionId } from './actions';
import { publishControl } from './control-bus';

/**
 * How restart-role reaches a role. The default only asks over the control channel (a role
 * that answers drains and exits 4); control/role-restarter.ts adds the forced path for a
 * process that no longer answers (the engine's restart, through the socket proxy).
 */
export interface RoleRestarter {
  restart(role: string, reason: string): Promise<ActionOutcome>;
}

export interface ControlPlaneDeps {
  config: Config;
  redis: Redis;
  queues: Queues;
  database: Database;
  log: Logger;
  restarter?: RoleRestarter;
}

const CLEAN_LIMIT = 100_000;

/**
 * Runs control actions (control/actions.ts) in any role that has Redis, the queues and Postgres:
 * the api (admin routes) and the scheduler (the on-call agent).
 */
export class ControlPlane {
  constructor(private readonly deps: ControlPlaneDeps) {}

  /** Validates the arguments for the action and runs it; throws ControlActionArgsError or the action's own error. */
  async run(action: ControlActionId, rawArgs: unknown): Promise<ActionOutcome> {
    const args = parseActionArgs(action, rawArgs);
    const handler = this.handlers[action] as (a: unknown) => Promise<ActionOutcome>;
    return handler(args);
  }

  summary(action: ControlActionId): string {
    return CONTROL_ACTIONS[action].summary;
  }

  private readonly handlers: ControlActionHandlers = {
    'restart-role': async ({ role }) => {
      if (this.deps.restarter) return this.deps.restarter.restart(role, 'restart requested through the control plane');
      const receivers = await publishControl(this.deps.redis, this.deps.config, { type: 'restart-role', role, reason: 'restart requested through the control plane' });
      return { detail: `restart sent to ${role} (${receivers} process(es) listening)`, data: { receivers } };
    },
    'pause-queue': async ({ queue }) => {
      await this.deps.queues.get(queue).pause();
      return { detail: `queue ${queue} paused` };
    },
    'resume-queue': async ({ queue }) => {
      await this.deps.queues.get(queue).resume();
      return { detail: `queue ${queue} resumed` };
    },
    'drain-queue': async ({ queue }) => {
      await this.deps.queues.get(queue).drain(true);
      return { detail: `queue ${queue} drained (waiting and delayed jobs removed)` };
    },
    'clean-queue': async ({ queue, state }) => {
      const removed = await this.deps.queues.get(queue).clean(0, CLEAN_LIMIT, state);
      return { detail: `${removed.length} ${state} job(s) removed from ${queue}`, data: { removed: removed.length } };
    },
    'set-concurrency': async ({ queue, concurrency }) => {
      const receivers = await publishControl(this.deps.redis, this.deps.config, { type: 'set-concurrency', queue, concurrency });
      return { detail: `concurrency of ${queue} set to ${concurrency} in ${receivers} process(es)`, data: { receivers } };
    },
    'retry-failed': notYet('retry-failed'),
    'retry-job': notYet('retry-job'),
    'cancel-job': notYet('cancel-job'),
    'promote-job': notYet('promote-job'),
    'pause-feed': notYet('pause-feed'),
    'resume-feed': notYet('resume-feed'),
    'refresh-feed': notYet('refresh-feed'),
    'reprocess-episode': notYet('reprocess-episode'),
    'bump-priority': notYet('bump-priority'),
    'set-setting': notYet('set-setting'),
    'clean-artifacts': notYet('clean-artifacts'),
  };
}

// Placeholder while the rest of the control plane lands (issue 14); none may remain when it is resolved.
function notYet(action: string) {
  return (): Promise<ActionOutcome> => Promise.reject(new Error(`${action} is not implemented yet`));
}
