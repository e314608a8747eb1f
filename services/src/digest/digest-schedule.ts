import type { Config } from '../config/config';
import type { Database } from '../db/database';
import type { Logger } from '../core/logger';
import type { Queues } from '../queue/queues';
import { DigestRepository } from '../repositories/digests.repository';
import { newCorrelationId } from '../telemetry/correlation';
import { digestCron, type Cron } from './cron';

const DAY_MS = 86_400_000;

export type DigestScheduleResult = { skipped: 'off' | 'not_due' } | { due: string; enqueued: string[] };

/**
 * DIGEST_SCHEDULE on the scheduler leader: at each scheduled time it enqueues one `digest` job per
 * tenant that follows feeds, for the window of DIGEST_WINDOW_DAYS ending then (job id per tenant
 * and time: a second leader or a restart enqueues nothing new; the job itself skips a stored window).
 * Only the latest scheduled time counts: a box that was off for three runs makes up one, at its
 * next start, and only for tenants a schedule made digests for before (a fresh install waits for
 * its first scheduled time).
 */
export class DigestSchedule {
  private readonly cron: Cron | null;
  private readonly repo: DigestRepository;
  /** The scheduled time handled last (ms), so a tick between two times costs no query. */
  private handled = 0;

  constructor(
    private readonly deps: { config: Config; database: Database; log: Logger },
    private readonly queues: Queues,
    private readonly now: () => Date = () => new Date(),
    /** When this scheduler started: a scheduled time before it is a missed run. */
    private readonly startedAt: Date = now(),
  ) {
    this.cron = digestCron(deps.config.digest.schedule);
    this.repo = new DigestRepository(deps.database);
  }

  async tick(): Promise<DigestScheduleResult> {
    if (!this.cron) return { skipped: 'off' };
    const due = this.cron.prev(this.now());
    if (!due || due.getTime() === this.handled) return { skipped: 'not_due' };
    const missed = due < this.startedAt;
    const from = new Date(due.getTime() - this.deps.config.digest.windowDays * DAY_MS);
    const enqueued: string[] = [];
    for (const tenantId of await this.repo.tenantsWithSubscriptions()) {
      if (await this.repo.scheduled(tenantId, from, due)) continue;
      if (missed && !(await this.repo.hasScheduledBefore(tenantId, due))) continue;
      enqueued.push(await this.queues.addDigestJob({ tenantId, from: from.toISOString(), to: due.toISOString() }, due, newCorrelationId()));
    }
    this.handled = due.getTime();
    if (enqueued.length) this.deps.log.info({ due: due.toISOString(), jobs: enqueued, missed }, missed ? 'digest: making up the missed scheduled run' : 'digest: scheduled run enqueued');
    return { due: due.toISOString(), enqueued };
  }
}
