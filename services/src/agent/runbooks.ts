import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CONTROL_ACTIONS, CONTROL_ACTION_IDS, parseActionArgs, type ControlActionId } from '../control/actions';

/**
 * The on-call agent's runbooks (runbooks/*.yml, their JSON schema runbooks/runbook.schema.json):
 * loaded and checked once, so a runbook that names an unknown action, leaves out a required
 * argument or gives one that does not fit is refused at load, naming its file, not when an
 * incident needs it. `{label}` placeholders in diagnose steps, action arguments and the verify
 * query are filled from the alert's labels when the agent uses them (fillArgs / fillQuery).
 */

/** The admin reads a diagnose step may name (`admin: roles`). */
export const ADMIN_READS = ['roles', 'queues', 'failures', 'stuck-jobs', 'workers', 'settings'] as const;
export type AdminRead = (typeof ADMIN_READS)[number];

/** What a diagnose step does: PromQL, a role's /healthz, an admin read, LogQL (when Loki is set), or a command shown to a human (never run). */
export const DIAGNOSE_KINDS = ['query', 'health', 'admin', 'logql', 'command'] as const;
export type DiagnoseKind = (typeof DIAGNOSE_KINDS)[number];

export const ACTION_MODES = ['auto', 'approve', 'manual'] as const;
export type ActionMode = (typeof ACTION_MODES)[number];

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const slug = z.string().regex(/^[a-z][a-z0-9-]*$/, 'lower-case letters, digits and dashes');
const text = z.string().trim().min(1);
const argValue = z.union([z.string(), z.number(), z.boolean()]);

const diagnoseStep = z
  .strictObject({ step: text, query: text.optional(), health: text.optional(), admin: z.enum(ADMIN_READS).optional(), logql: text.optional(), command: text.optional() })
  .superRefine((s, ctx) => {
    const kinds = DIAGNOSE_KINDS.filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) ctx.addIssue({ code: 'custom', message: `needs exactly one of ${DIAGNOSE_KINDS.join(' | ')}, has ${kinds.join(', ') || 'none'}` });
  })
  .transform((s) => {
    const kind = DIAGNOSE_KINDS.find((k) => s[k] !== undefined)!;
    return { step: s.step, kind, text: s[kind]! };
  });

const action = z
  .strictObject({
    id: slug,
    action: z.enum(CONTROL_ACTION_IDS as [ControlActionId, ...ControlActionId[]]).optional(),
    args: z.record(z.string(), argValue).optional(),
    description: text,
    mode: z.enum(ACTION_MODES),
    max_per_hour: z.number().int().min(1).max(60).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.mode !== 'manual' && !a.action) ctx.addIssue({ code: 'custom', path: ['action'], message: `a ${a.mode} action must name a control action` });
    if (a.args && !a.action) ctx.addIssue({ code: 'custom', path: ['args'], message: 'args without an action' });
    if (a.action) for (const problem of argsProblems(a.action, a.args ?? {})) ctx.addIssue({ code: 'custom', path: ['args'], message: problem });
  })
  .transform((a) => ({ id: a.id, action: a.action, args: a.args ?? {}, description: a.description, mode: a.mode, maxPerHour: a.max_per_hour ?? 1 }));

export const runbookSchema = z
  .strictObject({
    id: slug,
    title: z.string().min(3),
    alerts: z.array(z.string().regex(/^[A-Z][A-Za-z0-9]+$/)).min(1),
    severity: z.enum(['P1', 'P2', 'P3']),
    summary: z.string().min(10),
    diagnose: z.array(diagnoseStep).min(1),
    actions: z.array(action).min(1),
    verify: z.strictObject({ query: text }).optional(),
    escalate: text.optional(),
  })
  .superRefine((r, ctx) => {
    const ids = r.actions.map((a) => a.id);
    const dup = ids.find((x, i) => ids.indexOf(x) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['actions'], message: `action id ${dup} is used twice` });
    if (new Set(r.alerts).size !== r.alerts.length) ctx.addIssue({ code: 'custom', path: ['alerts'], message: 'an alert is listed twice' });
  });

export type Runbook = z.output<typeof runbookSchema>;
export type DiagnoseStep = Runbook['diagnose'][number];
export type RunbookAction = Runbook['actions'][number];

export class RunbookError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/**
 * What is wrong with a runbook's arguments for `id` that can be told before an alert fills them:
 * unknown keys, missing required keys, and values without a placeholder that do not fit.
 */
function argsProblems(id: ControlActionId, args: Record<string, unknown>): string[] {
  const schema = CONTROL_ACTIONS[id].args as unknown as z.ZodObject<Record<string, z.ZodType>>;
  const problems: string[] = [];
  for (const [key, field] of Object.entries(schema.shape)) {
    if (!(key in args) && !field.safeParse(undefined).success) problems.push(`${id} needs ${key}`);
  }
  const literal: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    if (!(key in schema.shape)) problems.push(`${id} takes no argument ${key}`);
    else if (!(typeof value === 'string' && placeholders(value).length)) literal[key] = value;
  }
  const checked = schema.partial().safeParse(literal);
  if (!checked.success) problems.push(...checked.error.issues.map((i) => `${i.path.join('.') || '(args)'}: ${i.message}`));
  return problems;
}

/** The label names a text's `{label}` placeholders ask for. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/** Every label a runbook's diagnose steps, action arguments and verify query ask for. */
export function runbookPlaceholders(book: Runbook): Set<string> {
  const texts = [...book.diagnose.map((d) => d.text), ...book.actions.flatMap((a) => Object.values(a.args).filter((v): v is string => typeof v === 'string')), book.verify?.query ?? ''];
  return new Set(texts.flatMap(placeholders));
}

/** A placeholder names a label the alert does not carry. */
export class MissingLabelError extends Error {
  constructor(
    readonly label: string,
    readonly template: string,
  ) {
    super(`the alert has no label ${label} (needed by ${template})`);
  }
}

function fill(template: string, labels: Record<string, string>, escape: (v: string) => string): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = labels[name];
    if (value === undefined) throw new MissingLabelError(name, template);
    return escape(value);
  });
}

/** Fills placeholders verbatim (a role name for `health:`, a command shown to a human). */
export function fillText(template: string, labels: Record<string, string>): string {
  return fill(template, labels, (v) => v);
}

/** Fills placeholders of a PromQL/LogQL text; values are escaped for the double-quoted strings they stand in. */
export function fillQuery(template: string, labels: Record<string, string>): string {
  return fill(template, labels, (v) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n'));
}

/**
 * The arguments of a runbook action with the alert's labels filled in, checked against the
 * action's schema (throws MissingLabelError for a label the alert lacks, ControlActionArgsError
 * when the filled values do not fit, e.g. restart-role for role "api"). They are the raw arguments,
 * not the parsed ones: pass them to ControlPlane.run(action.action, args).
 */
export function fillArgs(action: RunbookAction, labels: Record<string, string>): Record<string, string | number | boolean> {
  if (!action.action) throw new RunbookError(action.id, 'a manual step names no control action');
  const filled = Object.fromEntries(Object.entries(action.args).map(([k, v]) => [k, typeof v === 'string' ? fillText(v, labels) : v]));
  parseActionArgs(action.action, filled);
  return filled;
}

/** Parses and checks one runbook file's text; `file` names it in errors and must match its id. */
export function parseRunbook(file: string, source: string): Runbook {
  let raw: unknown;
  try {
    raw = parseYaml(source);
  } catch (err) {
    throw new RunbookError(file, `not YAML: ${(err as Error).message}`);
  }
  const parsed = runbookSchema.safeParse(raw);
  if (!parsed.success) throw new RunbookError(file, parsed.error.issues.map((i) => `${i.path.join('.') || '(runbook)'}: ${i.message}`).join('; '));
  const expected = path.basename(file).replace(/\.ya?ml$/, '');
  if (parsed.data.id !== expected) throw new RunbookError(file, `id ${parsed.data.id} does not match the file name (${expected})`);
  return parsed.data;
}

/** Every runbooks/*.yml of `dir` by id; throws RunbookError naming the first bad file. */
export function loadRunbooks(dir: string): Map<string, Runbook> {
  const books = new Map<string, Runbook>();
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  for (const f of files) {
    const book = parseRunbook(f, readFileSync(path.join(dir, f), 'utf8'));
    books.set(book.id, book);
  }
  return books;
}
