import type { Config } from '../config/config';
import type { Database } from '../db/database';
import type { Logger } from '../core/logger';
import { NotificationService } from '../notifications/notification.service';
import type { DigestJobData } from '../queue/queues';
import type { JobContext } from '../queue/worker-host';
import { digestDeps } from './deps';
import { generateDigest } from './generate';
import { digestNotification } from './notify';

/**
 * The `digest` job (worker-io): generates and stores the scheduled digest of one tenant and window,
 * then notifies (kind 'digest', key: the digest id). Idempotent for its window: a window stored
 * already (a retry, a second job) is neither made again nor announced again. A digest without
 * episodes is stored but not announced (nothing to read).
 */
export function digestJobHandler(deps: { config: Config; database: Database; log: Logger }, notifications?: () => NotificationService) {
  let service: NotificationService | null = null;
  const notifier = notifications ?? (() => (service ??= NotificationService.fromConfig(deps.config, deps.log.child({ component: 'notifications' }))));
  return async (data: DigestJobData, ctx: JobContext) => {
    const from = new Date(data.from);
    const to = new Date(data.to);
    const { digest, created } = await generateDigest(digestDeps(deps.config, deps.database, ctx.log), { tenantId: data.tenantId, from, to, trigger: 'scheduled', signal: ctx.signal });
    if (!created) {
      ctx.log.info({ digest_id: digest.id, tenant_id: data.tenantId }, 'digest of this window made already: not made or announced again');
      return { digest_id: digest.id, created: false, notified: false };
    }
    if (!digest.body.episodes.length) return { digest_id: digest.id, created: true, notified: false };
    const r = await notifier().notify(digestNotification(digest, deps.config.notify.publicUrl));
    return { digest_id: digest.id, created: true, notified: r.sent && r.channels.some((c) => c.ok) };
  };
}
