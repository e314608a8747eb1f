import type { Notification } from '../notifications/notification';
import { viewerLink } from '../notifications/notification';
import type { StoredDigest } from './types';

/** The notification of a new digest: how many episodes, the top story titles, a link to its page. */
export function digestNotification(d: StoredDigest, publicUrl: string): Notification {
  const b = d.body;
  const day = (iso: string) => iso.slice(0, 10);
  const episodes = `${b.episodes.length} new episode${b.episodes.length === 1 ? '' : 's'} from ${b.shows.length} show${b.shows.length === 1 ? '' : 's'}`;
  const top = b.clusters.slice(0, 3).map((c) => `• ${c.title}`);
  return {
    kind: 'digest',
    key: d.id,
    severity: 'info',
    title: `Your podbrain digest, ${day(d.from)} – ${day(d.to)}`,
    body: [episodes, ...(top.length ? ['Top stories:', ...top] : [])].join('\n'),
    link: viewerLink(publicUrl, `/digests/${d.id}`),
  };
}
