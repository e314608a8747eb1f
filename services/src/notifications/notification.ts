/** What podbrain tells its owner about, on every configured channel (see notification.service.ts). */

export const NOTIFICATION_KINDS = ['incident_opened', 'needs_approval', 'escalated', 'resolved', 'digest', 'saved_search_hit'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export type Severity = 'info' | 'warning' | 'critical';

export interface Notification {
  kind: NotificationKind;
  title: string;
  body: string;
  severity: Severity;
  /** What it is about (an incident id, a saved search): with `kind`, the identity the repeat window compares. */
  key: string;
  /** Absolute viewer URL (see viewerLink); a notification that needs a decision carries one. */
  link?: string;
  incidentId?: string;
}

/** `path` under the viewer's public address; undefined while PUBLIC_URL is not set. */
export function viewerLink(publicUrl: string, path: string): string | undefined {
  if (!publicUrl) return undefined;
  const base = publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`;
  return new URL(path.replace(/^\/+/, ''), base).href;
}
