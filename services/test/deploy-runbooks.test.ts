import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, 'runbooks');

describe('runbooks/', () => {
  const schema = JSON.parse(readFileSync(path.join(DIR, 'runbook.schema.json'), 'utf8'));
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const books = readdirSync(DIR)
    .filter((f) => f.endsWith('.yml'))
    .map((f) => ({ file: f, doc: parseYaml(readFileSync(path.join(DIR, f), 'utf8')) as { id: string; alerts: string[]; severity: string } }));
  const rules = (parseYaml(readFileSync(path.join(ROOT, 'prometheus/rules/podbrain-alerts.yml'), 'utf8')) as {
    groups: { rules: { alert: string; labels: { tier: string }; annotations: { runbook: string } }[] }[];
  }).groups.flatMap((g) => g.rules);

  it('every runbook matches the JSON schema and is named after its id', () => {
    expect(books.length).toBeGreaterThanOrEqual(11);
    for (const { file, doc } of books) {
      const ok = validate(doc);
      expect(ok ? [] : validate.errors, file).toEqual([]);
      expect(file).toBe(`${doc.id}.yml`);
    }
    expect(validate({ id: 'x', title: 'bad', alerts: [], severity: 'P9', summary: 'too short', diagnose: [], actions: [] })).toBe(false);
  });

  it('every alert names an existing runbook that lists it back with the same tier', () => {
    for (const rule of rules) {
      const book = books.find((b) => b.doc.id === rule.annotations.runbook);
      expect(book, `${rule.alert} → runbooks/${rule.annotations.runbook}.yml`).toBeTruthy();
      expect(book!.doc.alerts, rule.alert).toContain(rule.alert);
      expect(book!.doc.severity, rule.alert).toBe(rule.labels.tier);
    }
  });
});
