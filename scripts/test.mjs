#!/usr/bin/env node
// Runs every workspace's vitest suite and ends with one line: `N passed, N failed, N skipped`.
// Extra args are passed to vitest (e.g. `npm test -- feeds` to filter by file name).
// Then the viewer's Playwright suite (web/e2e, Debian Chromium) runs and adds to the same counts;
// it is left out when vitest args filter the run (PODBRAIN_TEST_E2E=1 forces it, =0 skips it).
// First it does the set-up a fresh clone needs (npm ci, native builds, build, Postgres and Redis up),
// each step only when needed: scripts/test-setup.mjs (PODBRAIN_TEST_SETUP=0 skips it).
// The services' tests are type-checked first (tsc -p tsconfig.test.json; vitest strips types without
// checking them): a type error counts as one failure. Left out like e2e when vitest args filter the run
// (PODBRAIN_TEST_TYPECHECK=1 forces it, =0 skips it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { setUp } from './test-setup.mjs';

const root = path.resolve(import.meta.dirname, '..');
await setUp(root);
const args = process.argv.slice(2);
const only = process.env.PODBRAIN_TEST_WORKSPACES?.split(',') ?? ['services', 'web'];
const totals = { passed: 0, failed: 0, skipped: 0 };
let runnerFailed = false;

const typecheckWanted = process.env.PODBRAIN_TEST_TYPECHECK ? process.env.PODBRAIN_TEST_TYPECHECK === '1' : args.length === 0;
if (typecheckWanted && only.includes('services')) typecheckTests(path.join(root, 'services'));
else console.log(`\n=== services type-check (tsc -p tsconfig.test.json) === not run: ${only.includes('services') ? 'vitest args given' : 'services not selected'} (PODBRAIN_TEST_TYPECHECK=1 runs it)`);

for (const ws of only) {
  const dir = path.join(root, ws);
  if (!existsSync(path.join(dir, 'vitest.config.ts'))) continue;
  runVitest(ws, dir, args);
}

/** src and test together, as the tests see them; one failure when tsc reports anything. */
function typecheckTests(dir) {
  console.log('\n=== services type-check (tsc -p tsconfig.test.json) ===');
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json', '--noEmit'], { cwd: dir, stdio: 'inherit' });
  if (r.status === 0) return console.log('no type errors');
  console.error(`services type-check failed (exit ${r.status}): counted as 1 failure`);
  totals.failed += 1;
}

/** One vitest run (its JSON report added to the totals); `config` picks another vitest config. */
function runVitest(name, dir, vitestArgs, config) {
  const out = path.join(root, '.tmp', `vitest-${name}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  rmSync(out, { force: true });
  console.log(`\n=== ${name} ===`);
  const r = spawnSync('npx', ['vitest', 'run', ...(config ? ['-c', config] : []), '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...vitestArgs], {
    cwd: dir,
    stdio: 'inherit',
  });
  if (!existsSync(out)) {
    console.error(`${name}: vitest wrote no report (exit ${r.status})`);
    runnerFailed = true;
    return;
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

const e2eWanted = process.env.PODBRAIN_TEST_E2E ? process.env.PODBRAIN_TEST_E2E === '1' : args.length === 0 && only.includes('web');
if (e2eWanted) runPlaywright();
else console.log(`\n=== web e2e (Playwright) === not run: ${args.length ? 'vitest args given' : 'web not selected'} (PODBRAIN_TEST_E2E=1 runs it)`);

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function runPlaywright() {
  const web = path.join(root, 'web');
  console.log('\n=== web e2e (Playwright, Debian Chromium) ===');
  const index = path.join(web, 'dist/index.html');
  if (!existsSync(index) || statSync(index).mtimeMs < Math.max(newestMtime(path.join(web, 'src')), statSync(path.join(web, 'index.html')).mtimeMs)) {
    const b = spawnSync('npm', ['run', 'build', '-w', 'web'], { cwd: root, stdio: 'inherit' });
    if (b.status !== 0) {
      console.error('web build failed: e2e not run');
      totals.failed += 1;
      return;
    }
  }
  const out = path.join(root, '.tmp', 'playwright.json');
  rmSync(out, { force: true });
  const r = spawnSync('npx', ['playwright', 'test'], { cwd: web, stdio: 'inherit', env: { ...process.env, PODBRAIN_PLAYWRIGHT_JSON: out } });
  if (!existsSync(out)) {
    console.error(`playwright wrote no report (exit ${r.status})`);
    runnerFailed = true;
    return;
  }
  const report = JSON.parse(readFileSync(out, 'utf8'));
  const s = report.stats ?? {};
  totals.passed += (s.expected ?? 0) + (s.flaky ?? 0);
  totals.failed += (s.unexpected ?? 0) + (report.errors?.length ?? 0);
  totals.skipped += s.skipped ?? 0;
  if (r.status !== 0 && !s.unexpected && !report.errors?.length) runnerFailed = true;
}

// The appliance in a real Docker engine (services/test/appliance): long (image builds) and needs root
// or a running engine, so only on request; .ci/run asks for it. It says itself why it skips.
if (process.env.PODBRAIN_TEST_APPLIANCE === '1') runVitest('appliance (Docker)', path.join(root, 'services'), [], 'vitest.appliance.config.ts');
else console.log('\n=== appliance (Docker) === not run: PODBRAIN_TEST_APPLIANCE=1 runs it (.ci/run does; alone: npm run test:appliance)');

console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 || runnerFailed || totals.passed === 0 ? 1 : 0);
