import { z } from 'zod';
import { QUEUE_NAMES } from '../queue/queues';

/**
 * The control plane's actions (issue 14): one id per thing an admin — or the on-call agent,
 * following a runbook — can do to the running appliance. Runbooks name these ids
 * (runbooks/*.yml `actions[].action`), the agent runs them through ControlPlane.run, and the
 * admin API routes call the same implementations. Each id declares its arguments as a zod
 * schema, so a runbook whose arguments do not fit is refused when it is loaded (and by the
 * runbook schema test), not when an incident needs it.
 */
const queue = z.enum(QUEUE_NAMES);
const role = z.enum(['scheduler', 'worker-io', 'worker-gpu', 'worker-ml', 'worker']);
const id = z.string().trim().min(1).max(300);
/** `30m`, `12h`, `7d` → milliseconds. */
export const duration = z
  .string()
  .trim()
  .regex(/^\d{1,6}[smhd]$/, 'a duration such as 30m, 12h or 7d')
  .transform((s) => Number(s.slice(0, -1)) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[s.slice(-1) as 's' | 'm' | 'h' | 'd']);

export const CONTROL_ACTIONS = {
  'restart-role': { summary: 'Restart every process of a role (cooperative over the control channel; forced through the engine when it does not answer)', args: z.object({ role }).strict() },
  'pause-queue': { summary: 'Pause a queue (running jobs finish, nothing new starts)', args: z.object({ queue }).strict() },
  'resume-queue': { summary: 'Resume a paused queue', args: z.object({ queue }).strict() },
  'drain-queue': { summary: 'Remove every waiting and delayed job of a queue', args: z.object({ queue }).strict() },
  'clean-queue': { summary: 'Remove the failed or completed jobs of a queue', args: z.object({ queue, state: z.enum(['failed', 'completed']) }).strict() },
  'set-concurrency': { summary: "Change a queue's worker concurrency in every process now (and store it as a runtime setting)", args: z.object({ queue, concurrency: z.coerce.number().int().min(1).max(256) }).strict() },
  'retry-failed': { summary: 'Retry the failed jobs of a queue (all queues when none is named), optionally only one cause', args: z.object({ queue: queue.optional(), cause: z.string().max(1000).optional() }).strict() },
  'retry-job': { summary: 'Retry one failed job', args: z.object({ queue, id }).strict() },
  'cancel-job': { summary: 'Cancel a job (a running one through its AbortSignal, not retried)', args: z.object({ queue, id }).strict() },
  'promote-job': { summary: 'Run a delayed job now', args: z.object({ queue, id }).strict() },
  'pause-feed': { summary: 'Stop polling a feed (nothing new is queued from it)', args: z.object({ feed: id }).strict() },
  'resume-feed': { summary: 'Poll a paused feed again', args: z.object({ feed: id }).strict() },
  'refresh-feed': { summary: 'Poll a feed now', args: z.object({ feed: id }).strict() },
  'reprocess-episode': { summary: 'Run an episode again from a stage (that stage and the ones after it)', args: z.object({ episode: id, from_stage: z.enum(['ingest', 'transcribe', 'enrich', 'index', 'project']) }).strict() },
  'reprocess-stale': {
    summary: 'Run stale episodes (made with an older model, prompt or setting) again from their first stale stage, at the lowest priority; all, one feed, one episode or one stage; at most limit (REPROCESS_BATCH) a call',
    args: z.object({ feed: id.optional(), episode: id.optional(), stage: z.enum(['ingest', 'transcribe', 'enrich', 'index']).optional(), limit: z.coerce.number().int().min(1).max(10_000).optional() }).strict(),
  },
  'bump-priority': { summary: "Move an episode's waiting job ahead of the backlog", args: z.object({ episode: id }).strict() },
  'set-setting': { summary: 'Change a runtime setting (poll interval, queue concurrency); every role picks it up without a restart', args: z.object({ key: z.string().min(1).max(100), value: z.union([z.string().max(200), z.number()]) }).strict() },
  'clean-artifacts': { summary: 'Delete downloaded and normalised audio of finished episodes older than the given age (transcripts, insights and search stay; audio can be fetched again)', args: z.object({ older_than: duration }).strict() },
} as const satisfies Record<string, { summary: string; args: z.ZodType }>;

export type ControlActionId = keyof typeof CONTROL_ACTIONS;
export const CONTROL_ACTION_IDS = Object.keys(CONTROL_ACTIONS) as ControlActionId[];
export type ControlActionArgs<A extends ControlActionId> = z.output<(typeof CONTROL_ACTIONS)[A]['args']>;

export function isControlActionId(s: string): s is ControlActionId {
  return Object.prototype.hasOwnProperty.call(CONTROL_ACTIONS, s);
}

/** What an action did, in words for the incident timeline and the audit log (plus any data worth keeping). */
export interface ActionOutcome {
  detail: string;
  data?: Record<string, unknown>;
}

/** One implementation per id: an id added to CONTROL_ACTIONS without one does not compile. */
export type ControlActionHandlers = { [A in ControlActionId]: (args: ControlActionArgs<A>) => Promise<ActionOutcome> };

export class ControlActionArgsError extends Error {
  constructor(
    readonly action: string,
    readonly issues: string,
  ) {
    super(`arguments of ${action} do not fit: ${issues}`);
  }
}

/** Validates raw arguments (a runbook's, after placeholders were filled, or an API body's) for one action. */
export function parseActionArgs<A extends ControlActionId>(action: A, raw: unknown): ControlActionArgs<A> {
  const parsed = CONTROL_ACTIONS[action].args.safeParse(raw ?? {});
  if (!parsed.success) throw new ControlActionArgsError(action, parsed.error.issues.map((i) => `${i.path.join('.') || '(args)'}: ${i.message}`).join('; '));
  return parsed.data as ControlActionArgs<A>;
}
