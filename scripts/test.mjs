#!/usr/bin/env node
// Runs every workspace's vitest suite and ends with one line: `N passed, N failed, N skipped`.
// Extra args are passed to vitest (e.g. `npm test -- feeds` to filter by file name).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const only = process.env.PODBRAIN_TEST_WORKSPACES?.split(',') ?? ['services', 'web'];
const totals = { passed: 0, failed: 0, skipped: 0 };
let runnerFailed = false;

for (const ws of only) {
  const dir = path.join(root, ws);
  if (!existsSync(path.join(dir, 'vitest.config.ts'))) continue;
  const out = path.join(root, '.tmp', `vitest-${ws}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  rmSync(out, { force: true });
  console.log(`\n=== ${ws} ===`);
  const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...args], {
    cwd: dir,
    stdio: 'inherit',
  });
  if (!existsSync(out)) {
    console.error(`${ws}: vitest wrote no report (exit ${r.status})`);
    runnerFailed = true;
    continue;
  }
  const report = JSON.parse(readFileSync(out, 'utf8'));
  totals.passed += report.numPassedTests;
  totals.failed += report.numFailedTests;
  totals.skipped += report.numPendingTests + report.numTodoTests;
  // A suite that fails to load counts as a failure even though no test in it ran.
  const brokenSuites = report.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
  totals.failed += brokenSuites;
  if (r.status !== 0 && report.numFailedTests === 0 && brokenSuites === 0) runnerFailed = true;
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 || runnerFailed || totals.passed === 0 ? 1 : 0);
