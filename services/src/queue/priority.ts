/**
 * Job priority classes (issue 15). BullMQ runs a lower `priority` first, and runs a job WITHOUT
 * a priority before every prioritized one, so every stage job gets one of these. The class rides
 * in the job data and is carried along the chain (ingest → transcribe → enrich → index → project),
 * so an episode a user asked for stays ahead of the backlog on every queue.
 *
 * - interactive: a user's "process now" (or bump-priority from the admin)
 * - new:         new episodes of followed feeds
 * - backfill:    back catalogue (the feed's backfill policy, "process all skipped")
 * - reprocess:   re-running finished work made with an older recipe
 */
export const PRIORITY = { interactive: 1, new: 10, backfill: 100, reprocess: 1000 } as const;
export type PriorityClass = keyof typeof PRIORITY;

export const PRIORITY_CLASSES = Object.keys(PRIORITY) as PriorityClass[];

/** Jobs enqueued before classes existed (or with an unknown one) rank as new episodes. */
export const DEFAULT_PRIORITY_CLASS: PriorityClass = 'new';

export function isPriorityClass(s: unknown): s is PriorityClass {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(PRIORITY, s);
}

/** The class of a job's data, `new` when it has none (a job enqueued before issue 15). */
export function priorityClassOf(data: { priorityClass?: unknown } | null | undefined): PriorityClass {
  return isPriorityClass(data?.priorityClass) ? data.priorityClass : DEFAULT_PRIORITY_CLASS;
}
