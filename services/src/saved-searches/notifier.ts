import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { clock, momentPath } from '../export/markdown';
import { viewerLink, type Notification } from '../notifications/notification';
import type { NotificationService } from '../notifications/notification.service';
import type { SavedSearchHitRow, SavedSearchRepository, SavedSearchRow } from '../repositories/saved-searches.repository';

/** Quotes one notification lists (the best first); the count names the rest. */
const QUOTES_PER_NOTIFICATION = 3;
/** Searches one sweep looks at. */
const SWEEP_BATCH = 200;


const oneLine = (s: string, max = 280) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/** The notification of a search's pending hits: the best quote first, its episode and feed, a link to the moment. */
export function savedSearchNotification(search: SavedSearchRow, hits: readonly SavedSearchHitRow[], total: number, publicUrl: string): Notification {
  const [best] = hits;
  const where = (h: SavedSearchHitRow) => `${h.episode_title ?? h.episode_key}${h.feed_title ? ` (${h.feed_title})` : ''} at ${clock(h.start_ms)}`;
  const title = total > 1 ? `"${oneLine(search.name, 80)}": ${total} new matches` : `"${oneLine(search.name, 80)}" in ${oneLine(best.episode_title ?? best.episode_key, 120)}`;
  const lines = hits.map((h, i) => {
    const link = viewerLink(publicUrl, momentPath(h.episode_key, h.start_ms));
    return `${i === 0 ? '' : '\n'}“${oneLine(h.text)}”\n— ${where(h)}${link ? `\n${link}` : ''}`;
  });
  if (total > hits.length) lines.push(`\n…and ${total - hits.length} more: ${viewerLink(publicUrl, '/saved-searches') ?? 'see Saved searches in the viewer'}`);
  return {
    kind: 'saved_search_hit',
    key: search.id,
    severity: 'info',
    title,
    body: lines.join('\n'),
    link: viewerLink(publicUrl, momentPath(best.episode_key, best.start_ms)),
  };
}

/**
 * Tells the owner about a saved search's new hits, at most once per its min_interval_s: the slot
 * is claimed in Postgres (one statement), the pending hits go out in one notification and are
 * marked told; when nothing could be sent (every channel failed, the repeat window held it back)
 * the slot is given back and the hits stay pending for the next try.
 */
export class SavedSearchNotifier {
  constructor(
    private readonly deps: {
      config: Pick<Config, 'notify'>;
      repo: SavedSearchRepository;
      notifications: NotificationService;
      log: Logger;
    },
  ) {}

  /** Notifies those of these searches (all: undefined) whose interval has passed and which have pending hits; answers how many notifications went out. */
  async deliverDue(ids?: readonly string[]): Promise<number> {
    let sent = 0;
    for (const id of await this.deps.repo.due(SWEEP_BATCH, ids)) {
      try {
        if (await this.deliver(id)) sent++;
      } catch (e) {
        this.deps.log.warn({ saved_search_id: id, err: errorMessage(e) }, 'saved search notification failed');
      }
    }
    return sent;
  }

  private async deliver(id: string): Promise<boolean> {
    const { repo, notifications, config, log } = this.deps;
    const claimed = await repo.claim(id);
    if (!claimed) return false;
    const { search, previous } = claimed;
    const { count, maxId } = await repo.pendingSummary(id);
    if (!count || !maxId) {
      await repo.release(id, previous);
      return false;
    }
    const hits = await repo.pendingHits(id, QUOTES_PER_NOTIFICATION);
    const r = await notifications.notify(savedSearchNotification(search, hits, count, config.notify.publicUrl));
    if (!r.sent || (r.channels.length > 0 && r.channels.every((c) => !c.ok))) {
      await repo.release(id, previous);
      log.info({ saved_search_id: id, pending: count, held_back: !r.sent }, 'saved search notification not delivered; the hits stay pending');
      return false;
    }
    await repo.markNotified(id, maxId);
    log.info({ saved_search_id: id, hits: count, channels: r.channels.map((c) => c.channel) }, 'saved search notified');
    return true;
  }
}
