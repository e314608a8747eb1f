import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import { isControlActionId } from '../control/actions';
import type { AgentMode } from '../control/runtime-settings';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { NotificationKind, Severity } from '../notifications/notification';
import { viewerLink } from '../notifications/notification';
import type { NotificationService } from '../notifications/notification.service';
import type { AuditRepository } from '../repositories/audit.repository';
import type { Incident, IncidentAction, IncidentRepository } from '../repositories/incidents.repository';
import type { SettingsRepository } from '../repositories/settings.repository';
import { agentChannel, publishIncident } from './agent-bus';
import type { DiagnoseRecord } from './diagnose';
import { fillArgs, type Runbook, type RunbookAction } from './runbooks';

/** What the agent needs of the control plane (control/control-plane.ts ControlPlane). */
export interface ActionRunner {
  run(action: Parameters<import('../control/control-plane').ControlPlane['run']>[0], args: unknown): Promise<{ detail: string; data?: Record<string, unknown> }>;
}

/** An LLM's advice (agent/llm-advisor.ts): a short summary and an order among the runbook's own step ids. */
export interface IncidentAdvice {
  summary: string | null;
  plan: string[] | null;
  /** Why the advice is missing or partial, for the timeline. */
  note?: string | null;
}

export interface OnCallAgentDeps {
  config: Config;
  log: Logger;
  incidents: IncidentRepository;
  settings: Pick<SettingsRepository, 'effective'>;
  audit: Pick<AuditRepository, 'record'>;
  notifications: Pick<NotificationService, 'notify'>;
  control: ActionRunner;
  /** The runbooks by id (agent/runbooks.ts loadRunbooks); a throw is recorded on the incident. */
  runbooks: () => Map<string, Runbook>;
  /** The diagnose steps, run for real (agent/diagnose.ts runDiagnose). */
  diagnose: (book: Runbook, labels: Record<string, string>) => Promise<DiagnoseRecord[]>;
  /** The runbook's verify PromQL with the alert's labels: true when it returns a non-empty result. */
  verify: (book: Runbook, labels: Record<string, string>) => Promise<boolean>;
  /** Only with an LLM configured. */
  advise?: (incident: Incident, book: Runbook, diagnosis: DiagnoseRecord[]) => Promise<IncidentAdvice>;
  /** Redis for the incident signal (SSE) and, duplicated, the wake-up subscription. */
  redis: Redis;
  /** Whether this process is the scheduler leader now (only the leader's agent acts). */
  isLeader: () => boolean;
  now?: () => number;
}

interface Decision {
  mode: AgentMode;
  killSwitch: boolean;
}

const SEVERITY: Record<string, Severity> = { P1: 'critical', P2: 'warning', P3: 'info' };
const MAX_PER_HOUR_WINDOW_S = 3600;

function describeArgs(args: Record<string, unknown>): string {
  const parts = Object.entries(args).map(([k, v]) => `${k}: ${String(v)}`);
  return parts.length ? ` {${parts.join(', ')}}` : '';
}

/**
 * The on-call agent (issue 14; runs in the scheduler leader). Woken over `<prefix>:agent` or every
 * AGENT_TICK_MS, it takes each open incident one step further along its runbook:
 *  - first: the runbook, the diagnosis (recorded), the LLM's summary when one is configured, the
 *    owner told (incident_opened);
 *  - then the runbook's actions in order (or the LLM's order among them), each decided once, as the
 *    mode (agent.mode) and kill switch (agent.kill_switch), read at every decision, allow:
 *    off → nothing; kill switch → skipped; shadow → proposed; auto → `auto` steps run within their
 *    max_per_hour (else skipped and escalated), `approve` steps wait for a human, `manual` ones are
 *    only told;
 *  - after an executed action it waits AGENT_VERIFY_S for the runbook's verify query (or the alert's
 *    resolution), then takes the next step; with none left it escalates.
 * Every decision is an event of the incident; every executed action is in admin_audit (actor agent).
 */
export class OnCallAgent {
  private readonly log: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private subscriber: Redis | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: OnCallAgentDeps) {
    this.log = deps.log.child({ component: 'agent' });
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    const sub = this.deps.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', (e) => this.log.debug({ err: e.message }, 'agent channel connection error'));
    sub.on('message', () => this.wake());
    sub.subscribe(agentChannel(this.deps.config)).catch((e: Error) => this.log.warn({ err: e.message }, 'agent: could not subscribe to its wake-up channel; it acts on its tick only'));
    const loop = () => {
      if (this.stopped) return;
      this.wake();
      this.timer = setTimeout(loop, this.deps.config.agent.tickMs);
    };
    this.timer = setTimeout(loop, 50);
  }

  /** Runs a pass now, or right after the one in flight. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((e) => this.log.warn({ err: errorMessage(e) }, 'agent pass failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** One look at every incident that needs one. Only the scheduler leader acts. */
  async pass(): Promise<void> {
    if (!this.deps.isLeader()) return;
    for (const incident of await this.deps.incidents.needingAttention()) {
      if (this.stopped) return;
      try {
        await this.handle(incident);
      } catch (e) {
        this.log.warn({ incident: incident.id, err: errorMessage(e) }, 'agent: could not handle an incident; trying again on the next pass');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.subscriber?.disconnect();
    await this.running?.catch(() => undefined);
  }

  private async decision(): Promise<Decision> {
    const s = await this.deps.settings.effective(this.deps.config);
    return { mode: s['agent.mode'], killSwitch: s['agent.kill_switch'] };
  }

  private async event(incident: Incident, kind: string, message: string, data: Record<string, unknown> = {}): Promise<void> {
    await this.deps.incidents.addEvent(incident.id, kind, message, data);
    this.log.info({ incident: incident.id, alert: incident.alertname, kind, ...data }, message);
    await publishIncident(this.deps.redis, this.deps.config, { id: incident.id, status: incident.status, kind });
  }

  private link(incident: Incident): string | undefined {
    return viewerLink(this.deps.config.notify.publicUrl, `/incidents/${incident.id}`);
  }

  private async notify(incident: Incident, kind: NotificationKind, title: string, body: string, key = incident.id, severity: Severity = 'warning'): Promise<void> {
    const result = await this.deps.notifications.notify({ kind, title, body, severity, key: `${incident.id}:${kind}:${key}`, link: this.link(incident), incidentId: incident.id });
    const failed = result.channels.filter((c) => !c.ok).map((c) => c.channel);
    await this.deps.incidents.addEvent(incident.id, 'notified', `${kind} ${result.sent ? `sent (${result.channels.length - failed.length} of ${result.channels.length} channel(s))` : 'not sent again within the repeat window'}`, { kind, channels: result.channels.map((c) => ({ channel: c.channel, ok: c.ok, ...(c.error ? { error: c.error } : {}) })) });
  }

  private runbookFor(incident: Incident): { book: Runbook | null; problem: string | null } {
    if (!incident.runbook) return { book: null, problem: 'the alert names no runbook (annotation runbook)' };
    let books: Map<string, Runbook>;
    try {
      books = this.deps.runbooks();
    } catch (e) {
      return { book: null, problem: `the runbooks could not be loaded: ${errorMessage(e)}` };
    }
    const book = books.get(incident.runbook);
    return book ? { book, problem: null } : { book: null, problem: `no runbook ${incident.runbook} in ${this.deps.config.agent.runbooksDir}` };
  }

  private async handle(incident: Incident): Promise<void> {
    if (incident.status !== 'open') return this.settleClosed(incident);
    const { book, problem } = this.runbookFor(incident);
    const decision = await this.decision();
    const { diagnosing } = incident.diagnosedAt ? { diagnosing: null } : await this.open(incident, book, problem, decision);
    try {
      if (!book || decision.mode === 'off') return;
      await this.act(incident, book);
    } finally {
      if (diagnosing) await diagnosing;
    }
  }

  /**
   * First look: the runbook, the diagnosis, the LLM's summary and plan, the owner told. Without an
   * LLM the order of the steps does not depend on the diagnosis, so it runs beside the first
   * decision (`diagnosing`, in an object: an async function's promise result would be awaited with it) instead of before it: a hung role's health step waits out its
   * whole timeout, and the restart must not wait for that (issue 14: action ≤ 5 s after the alert).
   */
  private async open(incident: Incident, book: Runbook | null, problem: string | null, { mode }: Decision): Promise<{ diagnosing: Promise<void> | null }> {
    let diagnosing: Promise<void> | null = null;
    let plan: string[] | undefined;
    let summary: string | null = null;
    if (!book) await this.event(incident, 'no_runbook', `no runbook: ${problem}; the agent takes no action`, { runbook: incident.runbook });
    else await this.event(incident, 'runbook', `runbook ${book.id}: ${book.title}`, { runbook: book.id, actions: book.actions.map((a) => a.id) });
    if (mode === 'off') {
      await this.event(incident, 'agent_off', 'the agent is off (agent.mode): no diagnosis, no actions');
    } else if (book && !this.deps.advise) {
      diagnosing = this.diagnose(incident, book).then(
        () => undefined,
        (e: unknown) => this.log.warn({ incident: incident.id, err: errorMessage(e) }, 'agent: the diagnosis could not be recorded'),
      );
    } else if (book) {
      const diagnosis = await this.diagnose(incident, book);
      if (this.deps.advise) {
        try {
          const advice = await this.deps.advise(incident, book, diagnosis);
          summary = advice.summary;
          plan = this.validPlan(book, advice.plan);
          if (advice.note) await this.deps.incidents.addEvent(incident.id, 'llm_note', advice.note);
          if (summary) await this.deps.incidents.addEvent(incident.id, 'summary', summary, { by: 'llm' });
          if (plan) await this.deps.incidents.addEvent(incident.id, 'plan', `the LLM chose the steps ${plan.join(', ')}`, { plan });
        } catch (e) {
          await this.deps.incidents.addEvent(incident.id, 'llm_failed', `no LLM advice: ${errorMessage(e)}; following the runbook as written`);
        }
      }
    }
    await this.deps.incidents.update(incident.id, { diagnosedAt: new Date(this.now()), summary, plan: plan ?? book?.actions.map((a) => a.id) ?? [] });
    incident.plan = plan ?? book?.actions.map((a) => a.id) ?? [];
    const body = [book?.summary ?? problem, summary, `mode: ${mode}`].filter(Boolean).join('\n');
    await this.notify(incident, 'incident_opened', `${incident.alertname} firing${incident.labels.role ? ` (${incident.labels.role})` : ''}`, body, incident.id, SEVERITY[book?.severity ?? ''] ?? 'warning');
    await this.deps.incidents.update(incident.id, { notifiedStatus: 'open' });
    await publishIncident(this.deps.redis, this.deps.config, { id: incident.id, status: incident.status, kind: 'diagnosed' });
    return { diagnosing };
  }

  /** Runs the runbook's diagnose steps and records each outcome on the incident. */
  private async diagnose(incident: Incident, book: Runbook): Promise<DiagnoseRecord[]> {
    const diagnosis = await this.deps.diagnose(book, incident.labels);
    for (const d of diagnosis) await this.deps.incidents.addEvent(incident.id, 'diagnose', `${d.step}: ${d.status}`, { kind: d.kind, target: d.target, status: d.status, output: d.output, ms: d.ms });
    return diagnosis;
  }

  /** The LLM may only order (or leave out) the runbook's own steps; anything else is dropped. */
  private validPlan(book: Runbook, plan: string[] | null): string[] | undefined {
    if (!plan) return undefined;
    const ids = new Set(book.actions.map((a) => a.id));
    const kept = [...new Set(plan.filter((id) => ids.has(id)))];
    return kept.length ? kept : undefined;
  }

  /** Resolved or escalated: tell the owner once, close what still waits. */
  private async settleClosed(incident: Incident): Promise<void> {
    if (incident.status === 'resolved') {
      for (const a of (await this.deps.incidents.actions([incident.id])).get(incident.id) ?? []) {
        if (a.status === 'awaiting_approval' || (a.status === 'approved' && a.decidedBy !== 'agent')) {
          if (await this.deps.incidents.transitionAction(incident.id, a.n, [a.status], { status: 'skipped', detail: 'the alert resolved first' })) await this.event(incident, 'skipped', `${a.stepId}: not run, the alert resolved first`, { n: a.n });
        }
      }
      if (incident.notifiedStatus) await this.notify(incident, 'resolved', `${incident.alertname} resolved`, `incident ${incident.id} is resolved`, incident.id, 'info');
    }
    await this.deps.incidents.update(incident.id, { notifiedStatus: incident.status });
  }

  private async act(incident: Incident, book: Runbook): Promise<void> {
    const rows = (await this.deps.incidents.actions([incident.id])).get(incident.id) ?? [];

    // A human said yes: run it (the mode and the kill switch still apply).
    for (const row of rows.filter((r) => r.status === 'approved')) {
      const step = book.actions.find((a) => a.id === row.stepId);
      const decision = await this.decision();
      if (decision.killSwitch || decision.mode !== 'auto' || !step?.action) {
        const why = decision.killSwitch ? 'kill switch on' : decision.mode !== 'auto' ? `the agent is in ${decision.mode} mode` : 'the runbook no longer has this step';
        if (await this.deps.incidents.transitionAction(incident.id, row.n, ['approved'], { status: 'skipped', detail: why })) await this.event(incident, 'skipped', `${row.stepId}: approved but not run: ${why}`, { n: row.n });
        continue;
      }
      if (await this.execute(incident, book, step, row)) return;
    }

    // After an action: recovered, still waiting, or not recovered (then on to the next step).
    const pending = rows.find((r) => r.status === 'executed' && !r.verified);
    if (pending) {
      if (await this.recovered(incident, book)) {
        await this.deps.incidents.transitionAction(incident.id, pending.n, ['executed'], { verified: 'recovered' });
        await this.event(incident, 'recovered', `recovered after ${pending.stepId}${book.verify ? ` (${book.verify.query} answers)` : ''}; waiting for the alert to resolve`, { n: pending.n });
        return;
      }
      if (pending.verifyBy && pending.verifyBy.getTime() > this.now()) return;
      await this.deps.incidents.transitionAction(incident.id, pending.n, ['executed'], { verified: 'not recovered' });
      await this.event(incident, 'not_recovered', `not recovered ${this.deps.config.agent.verifyS} s after ${pending.stepId}`, { n: pending.n });
    }
    const fresh = pending ? ((await this.deps.incidents.actions([incident.id])).get(incident.id) ?? []) : rows;
    if (fresh.some((r) => r.verified === 'recovered')) return;
    if (fresh.some((r) => r.status === 'awaiting_approval' || r.status === 'approved')) return;
    await this.nextSteps(incident, book, fresh);
  }

  /** Decides the steps not decided yet, in plan order, until one must be waited for. */
  private async nextSteps(incident: Incident, book: Runbook, rows: IncidentAction[]): Promise<void> {
    const decided = new Set(rows.map((r) => r.stepId));
    const plan = (incident.plan ?? book.actions.map((a) => a.id)).map((id) => book.actions.find((a) => a.id === id)).filter((a): a is RunbookAction => Boolean(a));
    let acted = rows.some((r) => ['executed', 'failed', 'denied'].includes(r.status) || (r.status === 'skipped' && r.mode === 'manual'));
    let decidedAny = false;
    for (const step of plan.filter((s) => !decided.has(s.id))) {
      const decision = await this.decision();
      if (decision.mode === 'off') return;
      decidedAny = true;
      const outcome = await this.decide(incident, book, step, decision);
      if (outcome === 'wait') return;
      if (outcome === 'escalated') return;
      if (outcome === 'acted') acted = true;
    }
    const { mode, killSwitch } = await this.decision();
    if (decidedAny && (mode !== 'auto' || killSwitch)) await this.event(incident, 'runbook_done', `every step recorded; nothing run (${killSwitch ? 'kill switch on' : `${mode} mode`})`);
    if (mode === 'auto' && !killSwitch && acted) await this.escalate(incident, book, 'no runbook step left and the alert still fires');
  }

  /** One step: recorded, and run when the mode allows. 'wait': stop here (verify or approval pending). */
  private async decide(incident: Incident, book: Runbook, step: RunbookAction, { mode, killSwitch }: Decision): Promise<'next' | 'acted' | 'wait' | 'escalated'> {
    const base = { incidentId: incident.id, stepId: step.id, action: step.action ?? null, mode: step.mode, runbook: book.id };
    let args: Record<string, unknown> = {};
    let argsProblem: string | null = null;
    if (step.action) {
      try {
        args = fillArgs(step, incident.labels);
      } catch (e) {
        argsProblem = errorMessage(e);
        args = step.args;
      }
    }
    const what = step.action ? `${step.action}${describeArgs(args)}` : step.description;
    const record = async (status: IncidentAction['status'], detail: string, kind: string = status) => {
      const row = await this.deps.incidents.addAction({ ...base, args, status, detail });
      if (row) await this.event(incident, kind, `${step.id}: ${detail}`, { n: row.n, step: step.id, action: step.action ?? null, args });
      return row;
    };

    if (killSwitch) return (await record('skipped', `kill switch on: ${what} not run`)) ? 'next' : 'wait';
    if (mode === 'shadow') return (await record('proposed', step.action ? `would run ${what}${step.mode === 'auto' ? '' : ` (${step.mode})`}` : `would tell the owner: ${step.description}`)) ? 'next' : 'wait';
    if (step.mode === 'manual') {
      await record('skipped', `manual: the owner is told (${step.description})`);
      await this.notify(incident, 'needs_approval', `${incident.alertname}: a step for you`, `${step.description}\n(the agent does not do this itself)`, step.id);
      return 'acted';
    }
    if (argsProblem || !step.action || !isControlActionId(step.action)) {
      await record('failed', `cannot run ${what}: ${argsProblem ?? 'no control action'}`);
      return 'acted';
    }
    if (step.mode === 'approve') {
      const row = await record('awaiting_approval', `waiting for approval: ${what}`);
      if (row) await this.notify(incident, 'needs_approval', `${incident.alertname}: approve ${step.action}?`, `${step.description}\n${what}\nApprove or deny action ${row.n} of incident ${incident.id}.`, String(row.n));
      return 'wait';
    }
    const used = await this.deps.incidents.executedWithin(book.id, step.id, args, MAX_PER_HOUR_WINDOW_S);
    if (used >= step.maxPerHour) {
      await record('skipped', `max_per_hour reached: ${what} ran ${used} time(s) in the last hour (limit ${step.maxPerHour})`);
      await this.escalate(incident, book, `${step.id} already ran ${used} time(s) in the last hour`);
      return 'escalated';
    }
    const row = await this.deps.incidents.addAction({ ...base, args, status: 'approved', detail: `auto: running ${what}` });
    if (!row) return 'wait';
    return (await this.execute(incident, book, step, row)) ? 'wait' : 'acted';
  }

  /** Runs an approved action (the agent's own decision or a human's); true when it ran and is now being verified. */
  private async execute(incident: Incident, book: Runbook, step: RunbookAction, row: IncidentAction): Promise<boolean> {
    const action = step.action!;
    if (!isControlActionId(action)) return false;
    const args = row.args;
    const params = { incident: incident.id, runbook: book.id, step: step.id, args };
    try {
      const outcome = await this.deps.control.run(action, args);
      const verifyBy = new Date(this.now() + this.deps.config.agent.verifyS * 1000);
      await this.deps.incidents.transitionAction(incident.id, row.n, ['approved'], { status: 'executed', detail: outcome.detail, verifyBy });
      await this.audit(action, params, 200);
      await this.event(incident, 'executed', `${step.id}: ${action}${describeArgs(args)}: ${outcome.detail}`, { n: row.n, action, args, ...(outcome.data ? { outcome: outcome.data } : {}) });
      return true;
    } catch (e) {
      const why = errorMessage(e);
      await this.deps.incidents.transitionAction(incident.id, row.n, ['approved'], { status: 'failed', detail: why });
      await this.audit(action, params, 500);
      await this.event(incident, 'action_failed', `${step.id}: ${action}${describeArgs(args)} failed: ${why}`, { n: row.n, action, args });
      return false;
    }
  }

  private async audit(action: string, params: Record<string, unknown>, status: number): Promise<void> {
    await this.deps.audit.record({ actor: 'agent', method: 'ACTION', path: action, params, status }).catch((e: unknown) => this.log.warn({ err: errorMessage(e), action }, 'agent: could not audit an action'));
  }

  private async recovered(incident: Incident, book: Runbook): Promise<boolean> {
    if (!book.verify || !this.deps.config.agent.prometheusUrl) return false;
    try {
      return await this.deps.verify(book, incident.labels);
    } catch (e) {
      this.log.warn({ incident: incident.id, err: errorMessage(e) }, 'agent: the verify query failed (counted as not recovered)');
      return false;
    }
  }

  private async escalate(incident: Incident, book: Runbook, reason: string): Promise<void> {
    if (!(await this.deps.incidents.escalate(incident.id))) return;
    incident.status = 'escalated';
    const text = book.escalate ? `${reason}. ${book.escalate}` : reason;
    await this.event(incident, 'escalated', `escalated: ${text}`);
    await this.notify(incident, 'escalated', `${incident.alertname}: the agent needs you`, text, incident.id, 'critical');
    await this.deps.incidents.update(incident.id, { notifiedStatus: 'escalated' });
  }
}
