import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { z } from 'zod';
import { publishIncident, wakeAgent } from '../../agent/agent-bus';
import type { IncidentStatus } from '../../db/schema';
import { IncidentRepository, type Incident, type IncidentAction, type IncidentEvent } from '../../repositories/incidents.repository';
import { SettingsRepository } from '../../repositories/settings.repository';
import { ApiContext } from '../context';
import type { AgentSettingsView, AlertsAcceptedView, IncidentListView, IncidentView, schemas } from '../contract';
import { ApiError } from '../errors';

type Webhook = z.output<(typeof schemas)['alertmanagerWebhook']>;
type WebhookAlert = Webhook['alerts'][number];

const RUNBOOK_ID = /^[a-z][a-z0-9-]{0,99}$/;

/** Alertmanager sends a fingerprint; a sender that does not gets one from the sorted labels (what Alertmanager hashes too). */
function fingerprintOf(a: WebhookAlert): string {
  if (a.fingerprint) return a.fingerprint;
  const sorted = Object.keys(a.labels)
    .sort()
    .map((k) => `${k}=${a.labels[k]}`)
    .join('\u0000');
  return createHash('sha256').update(sorted).digest('hex').slice(0, 16);
}

/**
 * The runbook an alert's `runbook` annotation names: its id (`worker-dead`), also when given as a
 * file name or a URL ending in one (`…/runbooks/worker-dead.yml`). Null when absent or not an id.
 */
export function runbookOf(annotations: Record<string, string>): string | null {
  const raw = annotations.runbook?.trim();
  if (!raw) return null;
  const id = raw.split(/[/#?]/).filter(Boolean).pop()?.replace(/\.ya?ml$/, '') ?? '';
  return RUNBOOK_ID.test(id) ? id : null;
}

function when(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  const d = new Date(s);
  // Alertmanager's "no end yet" is 0001-01-01; a date that far off or unparsable is not used.
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2000 || d.getTime() > Date.now() + 86_400_000 ? undefined : d;
}

function describeAlert(alertname: string, labels: Record<string, string>): string {
  const detail = Object.entries(labels)
    .filter(([k]) => !['alertname', 'job', 'instance', 'severity'].includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .slice(0, 4)
    .join(', ');
  return detail ? `${alertname} (${detail})` : alertname;
}

function eventView(e: IncidentEvent) {
  return { at: e.at.toISOString(), kind: e.kind, message: e.message, data: e.data };
}

function actionView(a: IncidentAction) {
  return { n: a.n, id: a.stepId, action: a.action, args: a.args, mode: a.mode, status: a.status, at: a.at.toISOString(), detail: a.detail, decided_by: a.decidedBy };
}

function incidentView(i: Incident, events: IncidentEvent[], actions: IncidentAction[]): IncidentView {
  return {
    id: i.id,
    alert: i.alertname,
    fingerprint: i.fingerprint,
    labels: i.labels,
    annotations: i.annotations,
    runbook: i.runbook,
    status: i.status,
    mode: i.mode,
    opened_at: i.openedAt.toISOString(),
    resolved_at: i.resolvedAt?.toISOString() ?? null,
    updated_at: i.updatedAt.toISOString(),
    summary: i.summary,
    events: events.map(eventView),
    actions: actions.map(actionView),
  };
}

/** Alertmanager's webhook, the incident record and the agent's settings, for the admin API (agent/ does the work). */
@Injectable()
export class IncidentsService {
  constructor(
    private readonly ctx: ApiContext,
    private readonly incidents: IncidentRepository,
    private readonly settings: SettingsRepository,
  ) {}

  /**
   * Each firing alert opens an incident for its fingerprint (or notes that it still fires), each
   * resolved one closes its incident. Alertmanager repeats its notifications: a repeat opens
   * nothing new. The agent is woken and does the rest on its own time.
   */
  async receiveAlerts(hook: Webhook): Promise<AlertsAcceptedView> {
    const counts = { opened: 0, repeated: 0, resolved: 0, ignored: 0 };
    const { mode } = await this.agentSettings();
    const changed: { id: string; status: IncidentStatus; kind: string }[] = [];
    for (const a of hook.alerts) {
      const fingerprint = fingerprintOf(a);
      const alertname = a.labels.alertname?.trim() || 'unnamed';
      if (a.status === 'firing') {
        const runbook = runbookOf(a.annotations);
        const opened = { message: `${describeAlert(alertname, a.labels)} is firing`, data: { fingerprint, starts_at: a.startsAt ?? null, runbook } };
        const { id, created } = await this.incidents.openFiring({ fingerprint, alertname, labels: a.labels, annotations: a.annotations, runbook, mode, startsAt: when(a.startsAt) }, opened);
        if (created) {
          changed.push({ id, status: 'open', kind: 'opened' });
          counts.opened++;
        } else {
          await this.incidents.addOrRepeatEvent(id, 'still_firing', `${alertname} still firing`);
          counts.repeated++;
        }
      } else {
        const id = await this.incidents.resolveFingerprint(fingerprint, when(a.endsAt) ?? new Date());
        if (id) {
          await this.incidents.addEvent(id, 'resolved', `${describeAlert(alertname, a.labels)} resolved (Alertmanager)`, { ends_at: a.endsAt ?? null });
          changed.push({ id, status: 'resolved', kind: 'resolved' });
          counts.resolved++;
        } else counts.ignored++;
      }
    }
    if (changed.length) {
      await this.ctx.withRedis(async () => {
        for (const c of changed) await publishIncident(this.ctx.redis, this.ctx.config, c);
        await wakeAgent(this.ctx.redis, this.ctx.config, 'alerts');
      }).catch(() => this.ctx.log.warn('could not wake the agent (Redis down?): it picks the incidents up on its next tick'));
    }
    return counts;
  }

  async list(q: { limit: number; cursor?: string; status?: IncidentStatus }): Promise<IncidentListView> {
    const rows = await this.incidents.page({ limit: q.limit + 1, before: q.cursor, status: q.status });
    const page = rows.slice(0, q.limit);
    const ids = page.map((i) => i.id);
    const [events, actions] = await Promise.all([this.incidents.events(ids), this.incidents.actions(ids)]);
    const items = page.map((i) => incidentView(i, events.get(i.id) ?? [], actions.get(i.id) ?? []));
    return { items, next_cursor: rows.length > q.limit ? page[page.length - 1].id : null };
  }

  async get(id: string): Promise<IncidentView> {
    const i = await this.incidents.get(id);
    if (!i) throw new ApiError(404, 'not_found', `no incident ${id}`);
    const [events, actions] = await Promise.all([this.incidents.events([id]), this.incidents.actions([id])]);
    return incidentView(i, events.get(id) ?? [], actions.get(id) ?? []);
  }

  /** A human's yes or no to an action waiting for approval; anything else is a 409. */
  async decide(id: string, n: number, decision: 'approved' | 'denied', by: string): Promise<IncidentView> {
    const incident = await this.incidents.get(id);
    if (!incident) throw new ApiError(404, 'not_found', `no incident ${id}`);
    const action = await this.incidents.action(id, n);
    if (!action) throw new ApiError(404, 'not_found', `incident ${id} has no action ${n}`);
    const moved = await this.incidents.transitionAction(id, n, ['awaiting_approval'], { status: decision, decidedBy: by, detail: `${decision} by ${by}` });
    if (!moved) throw new ApiError(409, 'not_awaiting_approval', `action ${n} of incident ${id} is ${action.status}, not awaiting approval`);
    const verb = decision === 'approved' ? 'approved' : 'denied';
    await this.incidents.addEvent(id, verb, `${action.action ?? action.stepId} ${verb} by ${by}`, { n, step: action.stepId, by });
    await this.signal(id, incident.status, verb);
    return this.get(id);
  }

  async agentSettings(): Promise<AgentSettingsView> {
    const s = await this.settings.effective(this.ctx.config);
    return { mode: s['agent.mode'], kill_switch: s['agent.kill_switch'] };
  }

  async setAgentSettings(body: { mode?: AgentSettingsView['mode']; kill_switch?: boolean }, by: string): Promise<AgentSettingsView> {
    if (body.mode !== undefined) await this.settings.set('agent.mode', body.mode, by);
    if (body.kill_switch !== undefined) await this.settings.set('agent.kill_switch', body.kill_switch, by);
    await this.ctx.withRedis(() => wakeAgent(this.ctx.redis, this.ctx.config, 'settings')).catch(() => undefined);
    return this.agentSettings();
  }

  private async signal(id: string, status: string, kind: string): Promise<void> {
    await this.ctx
      .withRedis(async () => {
        await publishIncident(this.ctx.redis, this.ctx.config, { id, status, kind });
        await wakeAgent(this.ctx.redis, this.ctx.config, kind);
      })
      .catch(() => this.ctx.log.warn({ incident: id }, 'could not wake the agent (Redis down?): it picks the decision up on its next tick'));
  }
}
