import type { Job } from 'bullmq';
import type { QueueName, Queues } from '../queue/queues';

/** Failed jobs read per queue for grouping and bulk retry (newest first); more are left for the next call. */
export const FAILED_SCAN_LIMIT = 5000;
const FAILED_PAGE = 500;

/**
 * The failed jobs of some queues, newest FAILED_SCAN_LIMIT per queue (admin/failures groups them,
 * retry-failed retries them). `truncated`: some queue holds more than were read.
 */
export async function readFailedJobs(queues: Queues, names: readonly QueueName[]): Promise<{ jobs: { queue: QueueName; job: Job }[]; truncated: boolean }> {
  const jobs: { queue: QueueName; job: Job }[] = [];
  let truncated = false;
  for (const name of names) {
    const q = queues.get(name);
    for (let start = 0; start < FAILED_SCAN_LIMIT; start += FAILED_PAGE) {
      const page = await q.getJobs(['failed'], start, start + FAILED_PAGE - 1);
      for (const j of page) if (j) jobs.push({ queue: name, job: j });
      if (page.length < FAILED_PAGE) break;
      if (start + FAILED_PAGE >= FAILED_SCAN_LIMIT) truncated = (await q.getFailedCount()) > FAILED_SCAN_LIMIT;
    }
  }
  return { jobs, truncated };
}
