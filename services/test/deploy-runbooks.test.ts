import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ADMIN_READS, fillArgs, fillQuery, fillText, loadRunbooks, MissingLabelError, parseRunbook, RunbookError, runbookPlaceholders } from '../src/agent/runbooks';
import { CONTROL_ACTION_IDS, ControlActionArgsError } from '../src/control/actions';
import { registry } from '../src/telemetry/metrics';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, 'runbooks');

type Rule = { alert: string; expr: string; labels: Record<string, string>; annotations: Record<string, string> };
const rules: Rule[] = (parseYaml(readFileSync(path.join(ROOT, 'prometheus/rules/podbrain-alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const promTests = (parseYaml(readFileSync(path.join(ROOT, 'prometheus/tests/podbrain-alerts.test.yml'), 'utf8')) as {
  tests: { alert_rule_test: { alertname: string; exp_alerts: { exp_labels: Record<string, string> }[] }[] }[];
}).tests.flatMap((t) => t.alert_rule_test);

// ---------------------------------------------------------------- which labels an alert carries
/** Labels every podbrain series has (default labels of metrics.ts + what the scrape adds). */
const PODBRAIN_BASE = ['role', 'service', 'instance', 'job'];
const metricLabels = new Map(registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { labelNames: string[] }).labelNames ?? []]));

function labelsOfMetric(name: string): string[] {
  if (name === 'up') return ['job', 'instance', 'role']; // role: the podbrain scrape config's target label
  const base = name.replace(/_(bucket|sum|count)$/, '');
  if (name.startsWith('podbrain_')) return [...PODBRAIN_BASE, ...(metricLabels.get(name) ?? metricLabels.get(base) ?? [])];
  return ['instance', 'job']; // the postgres / redis exporters
}

/** Splits at depth 0 (outside (), {}, [] and quotes) wherever `sep` matches there. */
function splitTop(expr: string, sep: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = '';
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (depth === 0) {
      const m = sep.exec(expr.slice(i));
      if (m && m.index === 0) {
        parts.push(expr.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}

const intersect = (sets: string[][]) => sets.reduce((a, b) => a.filter((x) => b.includes(x)));

/**
 * The label names an alert rule's expression is sure to give its alerts, for the PromQL shapes
 * our rules use: `or` keeps only what both sides have, `and`/`unless` the left side's, an
 * aggregation its `by (…)` list (nothing without one), histogram_quantile drops `le`, other
 * functions and one-to-one arithmetic/comparisons keep the series' labels.
 */
function alertLabels(expr: string): string[] {
  const ors = splitTop(expr, /^\s+or\s+/);
  if (ors.length > 1) return intersect(ors.map(alertLabels));
  const [left] = splitTop(expr, /^\s+(and|unless)(\s+on\s*\([^)]*\))?\s+/);
  const operands = splitTop(left, /^\s*(==|!=|>=|<=|>|<|\/|\*|\+|-(?!\d))\s*/).filter((o) => !/^[\d.e+*\s]+$/.test(o));
  return intersect(operands.map(operandLabels));
}

function operandLabels(op: string): string[] {
  op = op.trim();
  if (op.startsWith('(') && op.endsWith(')')) return alertLabels(op.slice(1, -1));
  const agg = /^(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile)\s*(by|without)?\s*(\(([^)]*)\))?\s*\(/.exec(op);
  if (agg) {
    if (agg[2] === 'without') throw new Error(`not handled: ${op}`);
    return agg[2] === 'by' ? agg[4].split(',').map((l) => l.trim()) : [];
  }
  const hq = /^histogram_quantile\s*\(\s*[\d.]+\s*,(.*)\)$/s.exec(op);
  if (hq) return alertLabels(hq[1]).filter((l) => l !== 'le');
  const fn = /^[a-z_]+\s*\((.*)\)$/s.exec(op);
  if (fn) return alertLabels(fn[1].replace(/\[[^\]]+\]\s*$/, ''));
  const sel = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\[[^\]]+\])?$/.exec(op);
  if (!sel) throw new Error(`not handled: ${op}`);
  return labelsOfMetric(sel[1]);
}

// ---------------------------------------------------------------- the tests
describe('runbooks/', () => {
  const schema = JSON.parse(readFileSync(path.join(DIR, 'runbook.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema);
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yml'));
  const docs = files.map((f) => ({ file: f, doc: parseYaml(readFileSync(path.join(DIR, f), 'utf8')) as Record<string, unknown> }));
  const books = loadRunbooks(DIR);

  it('every runbook matches the JSON schema, is named after its id and loads (zod, actions and their args checked)', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
    expect(books.size).toBe(files.length);
    for (const { file, doc } of docs) {
      const ok = validate(doc);
      expect(ok ? [] : validate.errors, file).toEqual([]);
      expect(file).toBe(`${doc.id}.yml`);
      expect(books.get(doc.id as string), file).toBeTruthy();
    }
    // the JSON schema's lists are the code's lists
    const actionEnum = schema.properties.actions.items.properties.action.enum as string[];
    expect([...actionEnum].sort()).toEqual([...CONTROL_ACTION_IDS].sort());
    expect(schema.properties.diagnose.items.properties.admin.enum).toEqual([...ADMIN_READS]);
  });

  it('runbooks act: every auto/approve action names a control action, diagnose steps are mostly machine-run, recovery is verified', () => {
    for (const [id, book] of books) {
      expect(book.actions.filter((a) => a.mode !== 'manual').every((a) => a.action), id).toBe(true);
      expect(book.diagnose.filter((d) => d.kind !== 'command').length, `${id}: a step a program can run`).toBeGreaterThan(0);
      expect(book.verify?.query, `${id} verify`).toBeTruthy();
      expect(book.escalate, `${id} escalate`).toBeTruthy();
    }
    expect(books.get('worker-dead')!.actions[0]).toMatchObject({ action: 'restart-role', args: { role: '{role}' }, mode: 'auto', maxPerHour: 3 });
    expect(books.get('queue-paused')!.actions[0]).toMatchObject({ action: 'resume-queue', args: { queue: '{queue}' }, mode: 'auto', maxPerHour: 3 });
    expect(books.get('disk-low')!.actions[0]).toMatchObject({ action: 'clean-artifacts', args: { older_than: '30d' }, mode: 'approve', maxPerHour: 1 });
    // the api has no control channel: a human restarts it
    expect(books.get('api-latency')!.actions.every((a) => a.mode === 'manual' && !a.action)).toBe(true);
  });

  it("every action's args, with the alert's labels filled in, fit its control action", () => {
    const dummy: Record<string, string> = { role: 'worker-gpu', queue: 'transcribe', path: '/data', state: 'transcribing', provider: 'openai', instance: 'x:1', job: 'podbrain', service: 'podbrain' };
    let checked = 0;
    for (const [id, book] of books) {
      for (const a of book.actions.filter((x) => x.action)) {
        expect(() => fillArgs(a, dummy), `${id}/${a.id}`).not.toThrow();
        checked++;
      }
      for (const d of book.diagnose) expect(() => fillQuery(d.text, dummy), `${id}: ${d.step}`).not.toThrow();
    }
    expect(checked).toBeGreaterThanOrEqual(12);
    // a label value the action does not take is refused when filled, not run: the api has no control channel
    const restart = books.get('worker-dead')!.actions[0];
    expect(fillArgs(restart, { role: 'worker-io' })).toEqual({ role: 'worker-io' });
    expect(() => fillArgs(restart, { role: 'api' })).toThrow(ControlActionArgsError);
    expect(() => fillArgs(restart, { queue: 'ingest' })).toThrow(MissingLabelError);
    // raw, not parsed: '30d' stays '30d' for ControlPlane.run to parse
    expect(fillArgs(books.get('disk-low')!.actions[0], {})).toEqual({ older_than: '30d' });
  });

  it('every placeholder names a label that every alert of the runbook carries', () => {
    const inferred = Object.fromEntries(rules.map((r) => [r.alert, alertLabels(r.expr)]));
    expect(inferred.PodbrainDiskLow.sort()).toEqual(['path', 'role']);
    expect(inferred.PodbrainQueuePausedWithBacklog).toEqual(['queue']);
    expect(inferred.PodbrainApiLatencyHigh).toEqual([]);
    expect(inferred.PodbrainWorkerDead).toContain('role');
    expect(inferred.PodbrainModelLoadFailure).not.toContain('model'); // only one side of its `or` has it
    for (const [id, book] of books) {
      const wanted = [...runbookPlaceholders(book)];
      for (const alert of book.alerts) {
        for (const label of wanted) expect(inferred[alert], `${id} uses {${label}}; does ${alert} carry it?`).toContain(label);
        // and promtool saw the rule give it (prometheus/tests: every firing case of the alert)
        const firing = promTests.filter((t) => t.alertname === alert).flatMap((t) => t.exp_alerts);
        expect(firing.length, alert).toBeGreaterThan(0);
        for (const e of firing) for (const label of wanted) expect(Object.keys(e.exp_labels), `${alert} fired without ${label}`).toContain(label);
      }
    }
    expect(runbookPlaceholders(books.get('disk-low')!)).toEqual(new Set(['path', 'role']));
  });

  it('every alert names an existing runbook that lists it back with the same tier, and every listed alert is a rule', () => {
    for (const rule of rules) {
      const book = books.get(rule.annotations.runbook);
      expect(book, `${rule.alert} → runbooks/${rule.annotations.runbook}.yml`).toBeTruthy();
      expect(book!.alerts, rule.alert).toContain(rule.alert);
      expect(book!.severity, rule.alert).toBe(rule.labels.tier);
    }
    for (const [id, book] of books) {
      for (const alert of book.alerts) expect(rules.find((r) => r.alert === alert && r.annotations.runbook === id), `${id} lists ${alert}`).toBeTruthy();
    }
  });

  it('refuses a bad runbook (both the loader and the JSON schema), naming the file and the problem', () => {
    const good = readFileSync(path.join(DIR, 'queue-paused.yml'), 'utf8');
    const bad: [string, string, RegExp][] = [
      ['unknown action', good.replace('action: resume-queue', 'action: reboot-box'), /actions\.0\.action/],
      ['auto without an action', good.replace(/    action: resume-queue\n    args: \{ queue: '\{queue\}' \}\n/, ''), /must name a control action/],
      ['a missing required argument', good.replace("args: { queue: '{queue}' }", 'args: {}'), /resume-queue needs queue/],
      ['an argument the action does not take', good.replace("args: { queue: '{queue}' }", "args: { queue: '{queue}', force: true }"), /takes no argument force/],
      ['a literal that does not fit', good.replace("args: { queue: '{queue}' }", 'args: { queue: nope }'), /queue/],
      ['two kinds in one diagnose step', good.replace('  - step: Paused?\n', '  - step: Paused?\n    health: api\n'), /exactly one of/],
      ['an unknown admin read', good.replace('admin: queues', 'admin: everything'), /admin/],
      ['an unknown key', good.replace('severity: P2', 'severity: P2\nowner: me'), /owner/],
    ];
    const ajv = (src: string) => validate(parseYaml(src));
    for (const [what, src, problem] of bad) {
      expect(() => parseRunbook('queue-paused.yml', src), what).toThrow(problem);
      expect(() => parseRunbook('queue-paused.yml', src), what).toThrow(/^queue-paused\.yml: /);
    }
    // what the JSON schema can tell (argument fit needs the control plane's zod schemas)
    for (const i of [0, 1, 5, 6, 7]) expect(ajv(bad[i][1]), bad[i][0]).toBe(false);
    expect(ajv(good)).toBe(true);
    expect(() => parseRunbook('other-name.yml', good)).toThrow(/does not match the file name/);
    expect(() => parseRunbook('x.yml', 'id: [')).toThrow(RunbookError);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-runbooks-'));
    writeFileSync(path.join(dir, 'queue-paused.yml'), good);
    writeFileSync(path.join(dir, 'broken.yml'), bad[0][1].replace('id: queue-paused', 'id: broken'));
    expect(() => loadRunbooks(dir)).toThrow(/^broken\.yml: .*action/);
  });

  it('fills PromQL placeholders as escaped string content, other text verbatim', () => {
    expect(fillQuery('up{role="{role}"} == 1', { role: 'worker-io' })).toBe('up{role="worker-io"} == 1');
    expect(fillQuery('up{role="{role}"}', { role: 'x"} or vector(1) #\\' })).toBe('up{role="x\\"} or vector(1) #\\\\"}');
    expect(fillText('{role}', { role: 'worker-gpu' })).toBe('worker-gpu');
    expect(() => fillQuery('up{role="{role}"}', {})).toThrow(/no label role/);
  });
});
