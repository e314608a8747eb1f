import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { registry } from '../src/telemetry/metrics';

const ROOT = path.resolve(__dirname, '../..');
const PROM = path.join(ROOT, 'prometheus');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-prom-'));

function promtool(...args: string[]) {
  return spawnSync('promtool', args, { cwd: PROM, encoding: 'utf8' });
}

type Rule = { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> };
const rules: Rule[] = (parseYaml(readFileSync(path.join(PROM, 'rules/podbrain-alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const tests = (parseYaml(readFileSync(path.join(PROM, 'tests/podbrain-alerts.test.yml'), 'utf8')) as {
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}).tests;

/** Blueprint E.7.2, each with the rule(s) implementing it and its severity tier. */
const E72: Record<string, { alerts: string[]; tier: string }> = {
  'worker dead': { alerts: ['PodbrainWorkerDead', 'PodbrainRoleUnhealthy'], tier: 'P1' },
  'queue backlog': { alerts: ['PodbrainQueueBacklog'], tier: 'P2' },
  // issue 14: a queue left paused while jobs wait (the agent resumes it)
  'queue paused with a backlog': { alerts: ['PodbrainQueuePausedWithBacklog'], tier: 'P2' },
  'GPU OOM': { alerts: ['PodbrainGpuMemoryExhausted'], tier: 'P1' },
  'provider API down': { alerts: ['PodbrainProviderDown'], tier: 'P2' },
  'provider rate-limited': { alerts: ['PodbrainProviderRateLimited'], tier: 'P3' },
  'disk space low': { alerts: ['PodbrainDiskLow'], tier: 'P1' },
  'API latency': { alerts: ['PodbrainApiLatencyHigh'], tier: 'P2' },
  'Postgres connections': { alerts: ['PostgresConnectionsHigh'], tier: 'P2' },
  'Redis memory': { alerts: ['RedisMemoryHigh'], tier: 'P2' },
  'episode stuck': { alerts: ['PodbrainEpisodeStuck'], tier: 'P2' },
  'model load failure': { alerts: ['PodbrainModelLoadFailure'], tier: 'P1' },
  // issue 15: the library nears its DATA_MAX_GB budget (retention could not keep it lower)
  'data budget nearly full': { alerts: ['PodbrainDataBudgetNearlyFull'], tier: 'P2' },
};
const SEVERITY: Record<string, string> = { P1: 'critical', P2: 'warning', P3: 'info' };

describe('prometheus/', () => {
  it('promtool check config accepts prometheus.yml (with its rule files)', () => {
    // the compose file mounts rules at /etc/prometheus/rules; point at the repo copy here
    const cfg = readFileSync(path.join(PROM, 'prometheus.yml'), 'utf8').replace('/etc/prometheus/rules/*.yml', path.join(PROM, 'rules/*.yml'));
    const file = path.join(tmp, 'prometheus.yml');
    writeFileSync(file, cfg);
    const r = promtool('check', 'config', file);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: 14 rules found/);
    expect(r.status).toBe(0);
  });

  it('scrapes every role on its port', () => {
    const cfg = parseYaml(readFileSync(path.join(PROM, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; honor_labels?: boolean; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
    };
    const job = cfg.scrape_configs.find((j) => j.job_name === 'podbrain')!;
    expect(job.honor_labels).toBe(true);
    const byRole = Object.fromEntries(job.static_configs.map((c) => [c.labels!.role, c.targets[0]]));
    expect(byRole).toEqual({ api: 'api:8100', scheduler: 'scheduler:9464', 'worker-io': 'worker-io:9464', 'worker-gpu': 'worker-gpu:9464', 'worker-ml': 'worker-ml:9464' });
    expect(cfg.scrape_configs.map((j) => j.job_name)).toEqual(expect.arrayContaining(['postgres', 'redis']));
  });

  it('sends its alerts to the compose stack\'s Alertmanager', () => {
    const cfg = parseYaml(readFileSync(path.join(PROM, 'prometheus.yml'), 'utf8')) as { alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] } };
    expect(cfg.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets))).toEqual(['alertmanager:9093']);
  });

  it('promtool check rules and promtool test rules pass', () => {
    const check = promtool('check', 'rules', 'rules/podbrain-alerts.yml');
    expect(check.stdout).toContain('SUCCESS: 14 rules found');
    expect(check.status).toBe(0);
    const t = promtool('test', 'rules', 'tests/podbrain-alerts.test.yml');
    expect(t.stdout + t.stderr).toContain('SUCCESS');
    expect(t.status).toBe(0);
  });

  it('covers every alert of blueprint E.7.2 with its severity tier, a runbook and a unit test that expects it to fire', () => {
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const [what, { alerts, tier }] of Object.entries(E72)) {
      for (const a of alerts) {
        const rule = rules.find((r) => r.alert === a);
        expect(rule, `${what}: ${a}`).toBeTruthy();
        expect(rule!.labels, a).toEqual({ severity: SEVERITY[tier], tier });
        expect(rule!.annotations.summary && rule!.annotations.description && rule!.annotations.runbook, a).toBeTruthy();
      }
    }
    expect(names.sort()).toEqual(Object.values(E72).flatMap((x) => x.alerts).sort());
    for (const rule of rules) {
      const firing = tests.flatMap((t) => t.alert_rule_test).filter((a) => a.alertname === rule.alert && a.exp_alerts.length > 0);
      expect(firing.length, `a test where ${rule.alert} fires`).toBeGreaterThan(0);
    }
  });

  it('uses only metric names podbrain exports (or the postgres/redis exporters)', () => {
    const ours = new Set(registry.getMetricsAsArray().map((m) => m.name));
    const exporters = ['pg_stat_activity_count', 'pg_settings_max_connections', 'redis_memory_used_bytes', 'redis_memory_max_bytes', 'up'];
    for (const rule of rules) {
      const used = [...rule.expr.matchAll(/\b([a-z_][a-z0-9_]*)(?=\s*[{[]|\s*(?:==|>|<|\/|\)|$| and| or))/g)].map((m) => m[1]);
      const metricsUsed = used.filter((n) => n.startsWith('podbrain_') || exporters.includes(n) || n.startsWith('pg_') || n.startsWith('redis_'));
      expect(metricsUsed.length, rule.alert).toBeGreaterThan(0);
      for (const m of metricsUsed) {
        const base = m.replace(/_(bucket|sum|count)$/, '');
        expect(ours.has(m) || ours.has(base) || exporters.includes(m), `${rule.alert} uses unknown metric ${m}`).toBe(true);
      }
    }
  });
});
