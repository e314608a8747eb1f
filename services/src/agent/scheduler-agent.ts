import { ControlPlane } from '../control/control-plane';
import { settleWithin, SHUTDOWN_BUDGET_MS } from '../core/shutdown';
import { createRoleRestarter } from '../control/role-restarter';
import { NotificationService } from '../notifications/notification.service';
import { AuditRepository } from '../repositories/audit.repository';
import { IncidentRepository } from '../repositories/incidents.repository';
import { SettingsRepository } from '../repositories/settings.repository';
import type { RoleContext } from '../roles/context';
import { OnCallAgent } from './agent';
import { fillTemplate, queryPrometheus, runDiagnose, type PromResult } from './diagnose';
import { adviseIncident, llmAvailable } from './llm-advisor';
import { LlmProvider } from '../llm/provider';
import { loadRunbooks, type Runbook } from './runbooks';

/** Runbook files are read again at most this often (an edited runbook applies to the next decision after it). */
const RUNBOOKS_TTL_MS = 10_000;
const VERIFY_TIMEOUT_MS = 5000;

function nonEmpty(r: PromResult): boolean {
  return r.resultType === 'vector' || r.resultType === 'matrix' ? r.series.length > 0 : true;
}

/** The on-call agent of a scheduler process, wired to its Postgres, Redis, queues and the owner's channels. */
export function createSchedulerAgent(ctx: RoleContext, isLeader: () => boolean): { agent: OnCallAgent; close(): Promise<void> } {
  const { config, log, database, redis, queues } = ctx;
  const notifications = NotificationService.fromConfig(config, log);
  let cached: { at: number; books: Map<string, Runbook> } | null = null;
  const llm = llmAvailable(config) ? new LlmProvider(config, { logger: log }) : null;
  const agent = new OnCallAgent({
    config,
    log,
    redis,
    isLeader,
    incidents: new IncidentRepository(database),
    settings: new SettingsRepository(database),
    audit: new AuditRepository(database),
    notifications,
    control: new ControlPlane({ config, redis, queues, database, log, restarter: createRoleRestarter({ config, redis, log }) }),
    runbooks: () => {
      if (!cached || Date.now() - cached.at > RUNBOOKS_TTL_MS) cached = { at: Date.now(), books: loadRunbooks(config.agent.runbooksDir) };
      return cached.books;
    },
    diagnose: (book, labels) => runDiagnose(book.diagnose, labels, { config, redis, queues, database }),
    // The LLM picks at most one of the runbook's own steps: it goes first, the others follow in the runbook's order.
    advise: llm
      ? async (incident, book, diagnosis) => {
          const advice = await adviseIncident({ alert: incident.alertname, labels: incident.labels, runbook: book, diagnose: diagnosis }, llm);
          const first = advice.choice?.step_id;
          return { summary: advice.summary, note: advice.note, plan: first ? [first, ...book.actions.map((a) => a.id).filter((id) => id !== first)] : null };
        }
      : undefined,
    verify: async (book, labels) => {
      if (!book.verify) return false;
      const filled = fillTemplate(book.verify.query, labels, 'query');
      if (!filled.ok) throw new Error(filled.problem);
      return nonEmpty(await queryPrometheus(config.agent.prometheusUrl, filled.text, { timeoutMs: VERIFY_TIMEOUT_MS }));
    },
  });
  return {
    agent,
    /** Bounded: a pass in flight may wait on Postgres, Redis or a slow channel. */
    async close() {
      if ((await settleWithin(agent.stop(), SHUTDOWN_BUDGET_MS.schedulerTick)) === 'timeout') log.warn('agent pass still running at shutdown: leaving it');
      await settleWithin(notifications.close(), SHUTDOWN_BUDGET_MS.close);
    },
  };
}
