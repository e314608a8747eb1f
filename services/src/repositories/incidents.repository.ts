import { Injectable } from '@nestjs/common';
import { sql, type Selectable } from 'kysely';
import { Database } from '../db/database';
import type { IncidentActionStatus, IncidentActionsTable, IncidentsTable, IncidentStatus } from '../db/schema';

/** An incident as the agent and the api use it (incidents + its timeline and actions when loaded). */
export interface Incident {
  id: string;
  fingerprint: string;
  alertname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook: string | null;
  status: IncidentStatus;
  mode: string;
  summary: string | null;
  plan: string[] | null;
  diagnosedAt: Date | null;
  notifiedStatus: string | null;
  openedAt: Date;
  resolvedAt: Date | null;
  updatedAt: Date;
}

export interface IncidentEvent {
  id: string;
  at: Date;
  kind: string;
  message: string;
  data: Record<string, unknown>;
}

export interface IncidentAction {
  incidentId: string;
  n: number;
  stepId: string;
  action: string | null;
  args: Record<string, unknown>;
  mode: string;
  status: IncidentActionStatus;
  detail: string | null;
  decidedBy: string | null;
  runbook: string | null;
  executedAt: Date | null;
  verifyBy: Date | null;
  verified: string | null;
  at: Date;
  updatedAt: Date;
}

export interface FiringAlert {
  fingerprint: string;
  alertname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runbook: string | null;
  mode: string;
  startsAt?: Date;
}

const LIVE: IncidentStatus[] = ['open', 'escalated'];
const now = () => sql<Date>`now()`;

/** The rows as the migrations define them (db/schema.ts). */
type IncidentRow = Selectable<IncidentsTable>;

function toIncident(r: IncidentRow): Incident {
  return {
    id: r.id,
    fingerprint: r.fingerprint,
    alertname: r.alertname,
    labels: r.labels,
    annotations: r.annotations,
    runbook: r.runbook,
    status: r.status,
    mode: r.mode,
    summary: r.summary,
    plan: r.plan,
    diagnosedAt: r.diagnosed_at,
    notifiedStatus: r.notified_status,
    openedAt: r.opened_at,
    resolvedAt: r.resolved_at,
    updatedAt: r.updated_at,
  };
}

type ActionRow = Selectable<IncidentActionsTable>;

function toAction(r: ActionRow): IncidentAction {
  return {
    incidentId: String(r.incident_id),
    n: r.n,
    stepId: r.step_id,
    action: r.action,
    args: r.args,
    mode: r.mode,
    status: r.status,
    detail: r.detail,
    decidedBy: r.decided_by,
    runbook: r.runbook,
    executedAt: r.executed_at,
    verifyBy: r.verify_by,
    verified: r.verified,
    at: r.at,
    updatedAt: r.updated_at,
  };
}

/** incidents, incident_events, incident_actions (agent/): the on-call agent's record. */
@Injectable()
export class IncidentRepository {
  constructor(private readonly database: Database) {}

  private get db() {
    return this.database.db;
  }

  /**
   * Opens an incident for a firing alert unless its fingerprint has a live one (open or escalated;
   * the partial unique index decides, so two deliveries at once still open one). Returns the
   * incident's id and whether it is new.
   */
  async openFiring(a: FiringAlert, opened: { message: string; data: Record<string, unknown> }): Promise<{ id: string; created: boolean }> {
    // The incident and its first event commit together: a delivery that sees the incident sees its first event.
    const inserted = await this.db.transaction().execute(async (trx) => {
      const row = await trx
      .insertInto('incidents')
      .values({
        fingerprint: a.fingerprint,
        alertname: a.alertname,
        labels: JSON.stringify(a.labels),
        annotations: JSON.stringify(a.annotations),
        runbook: a.runbook,
        mode: a.mode,
        ...(a.startsAt ? { opened_at: a.startsAt } : {}),
      })
      .onConflict((oc) => oc.column('fingerprint').where('status', 'in', LIVE).doNothing())
      .returning('id')
      .executeTakeFirst();
      if (row) await trx.insertInto('incident_events').values({ incident_id: row.id, kind: 'opened', message: opened.message, data: JSON.stringify(opened.data) }).execute();
      return row;
    });
    if (inserted) return { id: inserted.id, created: true };
    const live = await this.db.selectFrom('incidents').select('id').where('fingerprint', '=', a.fingerprint).where('status', 'in', LIVE).executeTakeFirst();
    // Resolved between the insert and this read: open it afresh.
    if (!live) return this.openFiring(a, opened);
    return { id: live.id, created: false };
  }

  /** The live incident of a fingerprint becomes resolved; null when there is none (a repeated resolve). */
  async resolveFingerprint(fingerprint: string, at: Date): Promise<string | null> {
    const row = await this.db
      .updateTable('incidents')
      .set({ status: 'resolved', resolved_at: at, updated_at: now() })
      .where('fingerprint', '=', fingerprint)
      .where('status', 'in', LIVE)
      .returning('id')
      .executeTakeFirst();
    return row?.id ?? null;
  }

  async addEvent(incidentId: string, kind: string, message: string, data: Record<string, unknown> = {}): Promise<void> {
    await this.db.insertInto('incident_events').values({ incident_id: incidentId, kind, message, data: JSON.stringify(data) }).execute();
  }

  /**
   * An event that repeats (Alertmanager re-sends a firing alert every group_interval): the
   * incident keeps one event of that kind, its `at` the latest and data.repeats counting them.
   */
  async addOrRepeatEvent(incidentId: string, kind: string, message: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Deliveries of the same alert at once: one counts up after the other.
      await trx.selectFrom('incidents').select('id').where('id', '=', incidentId).forUpdate().execute();
      const last = await trx.selectFrom('incident_events').select(['id', 'kind']).where('incident_id', '=', incidentId).where('kind', '=', kind).orderBy('id', 'desc').limit(1).executeTakeFirst();
      if (last) {
        await trx
          .updateTable('incident_events')
          .set({ at: now(), data: sql`jsonb_set(data, '{repeats}', to_jsonb(coalesce((data->>'repeats')::int, 1) + 1))` })
          .where('id', '=', last.id)
          .execute();
        return;
      }
      await trx.insertInto('incident_events').values({ incident_id: incidentId, kind, message, data: JSON.stringify({ repeats: 1 }) }).execute();
    });
  }

  async get(id: string): Promise<Incident | null> {
    const row = await this.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toIncident(row as IncidentRow) : null;
  }

  /** Newest first; `before`: the id of the last incident of the previous page. */
  async page(opts: { limit: number; before?: string; status?: IncidentStatus }): Promise<Incident[]> {
    let q = this.db.selectFrom('incidents').selectAll().orderBy('id', 'desc').limit(opts.limit);
    if (opts.before) q = q.where('id', '<', opts.before as never);
    if (opts.status) q = q.where('status', '=', opts.status);
    return (await q.execute()).map((r) => toIncident(r as IncidentRow));
  }

  /** What the agent looks at: open incidents, and any whose status the owner has not been told yet. */
  async needingAttention(limit = 200): Promise<Incident[]> {
    const rows = await this.db
      .selectFrom('incidents')
      .selectAll()
      .where((eb) => eb.or([eb('status', '=', 'open'), eb('notified_status', 'is', null), eb('notified_status', '!=', eb.ref('status'))]))
      .orderBy('id', 'asc')
      .limit(limit)
      .execute();
    return rows.map((r) => toIncident(r as IncidentRow));
  }

  async update(id: string, fields: { summary?: string | null; plan?: string[]; diagnosedAt?: Date; notifiedStatus?: string }): Promise<void> {
    const set: Record<string, unknown> = { updated_at: now() };
    if (fields.summary !== undefined) set.summary = fields.summary;
    if (fields.plan !== undefined) set.plan = JSON.stringify(fields.plan);
    if (fields.diagnosedAt !== undefined) set.diagnosed_at = fields.diagnosedAt;
    if (fields.notifiedStatus !== undefined) set.notified_status = fields.notifiedStatus;
    await this.db.updateTable('incidents').set(set).where('id', '=', id).execute();
  }

  /** An open incident becomes escalated; false when it is not open any more (resolved meanwhile). */
  async escalate(id: string): Promise<boolean> {
    const r = await this.db.updateTable('incidents').set({ status: 'escalated', updated_at: now() }).where('id', '=', id).where('status', '=', 'open').executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async events(incidentIds: string[]): Promise<Map<string, IncidentEvent[]>> {
    const out = new Map<string, IncidentEvent[]>();
    if (!incidentIds.length) return out;
    const rows = await this.db.selectFrom('incident_events').selectAll().where('incident_id', 'in', incidentIds).orderBy('id', 'asc').execute();
    for (const r of rows) {
      const list = out.get(String(r.incident_id)) ?? [];
      list.push({ id: r.id, at: r.at, kind: r.kind, message: r.message, data: r.data });
      out.set(String(r.incident_id), list);
    }
    return out;
  }

  async actions(incidentIds: string[]): Promise<Map<string, IncidentAction[]>> {
    const out = new Map<string, IncidentAction[]>();
    if (!incidentIds.length) return out;
    const rows = await this.db.selectFrom('incident_actions').selectAll().where('incident_id', 'in', incidentIds).orderBy('incident_id').orderBy('n').execute();
    for (const r of rows) {
      const a = toAction(r as ActionRow);
      out.set(a.incidentId, [...(out.get(a.incidentId) ?? []), a]);
    }
    return out;
  }

  /**
   * Records the agent's decision on one runbook step (n: the next number of the incident).
   * A step already decided for the incident is not recorded again: null.
   */
  async addAction(a: { incidentId: string; stepId: string; action: string | null; args: Record<string, unknown>; mode: string; status: IncidentActionStatus; detail: string; runbook: string | null; decidedBy?: string }): Promise<IncidentAction | null> {
    const row = await this.db
      .insertInto('incident_actions')
      .values({
        incident_id: a.incidentId,
        n: sql<number>`(SELECT coalesce(max(n), 0) + 1 FROM incident_actions WHERE incident_id = ${a.incidentId})`,
        step_id: a.stepId,
        action: a.action,
        args: JSON.stringify(a.args),
        mode: a.mode,
        status: a.status,
        detail: a.detail,
        runbook: a.runbook,
        decided_by: a.decidedBy ?? 'agent',
      })
      .onConflict((oc) => oc.columns(['incident_id', 'step_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? toAction(row as ActionRow) : null;
  }

  /**
   * Moves an action on, only from the status the caller saw (`from`): false when someone else
   * moved it first (an approval decided twice, a deny racing the agent).
   */
  async transitionAction(incidentId: string, n: number, from: IncidentActionStatus[], to: { status?: IncidentActionStatus; detail?: string; decidedBy?: string; verifyBy?: Date | null; verified?: string }): Promise<IncidentAction | null> {
    const set: Record<string, unknown> = { updated_at: now() };
    if (to.status !== undefined) set.status = to.status;
    if (to.status === 'executed') set.executed_at = now();
    if (to.detail !== undefined) set.detail = to.detail;
    if (to.decidedBy !== undefined) set.decided_by = to.decidedBy;
    if (to.verifyBy !== undefined) set.verify_by = to.verifyBy;
    if (to.verified !== undefined) set.verified = to.verified;
    const row = await this.db.updateTable('incident_actions').set(set).where('incident_id', '=', incidentId).where('n', '=', n).where('status', 'in', from).returningAll().executeTakeFirst();
    return row ? toAction(row as ActionRow) : null;
  }

  async action(incidentId: string, n: number): Promise<IncidentAction | null> {
    const row = await this.db.selectFrom('incident_actions').selectAll().where('incident_id', '=', incidentId).where('n', '=', n).executeTakeFirst();
    return row ? toAction(row as ActionRow) : null;
  }

  /** How often one runbook step ran with these arguments in the last `windowS` seconds, across incidents (max_per_hour). */
  async executedWithin(runbook: string, stepId: string, args: Record<string, unknown>, windowS: number): Promise<number> {
    const r = await this.db
      .selectFrom('incident_actions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('runbook', '=', runbook)
      .where('step_id', '=', stepId)
      .where('status', '=', 'executed')
      .where('executed_at', '>=', sql<Date>`now() - make_interval(secs => ${windowS})`)
      .where(sql<boolean>`args = ${JSON.stringify(args)}::jsonb`)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
