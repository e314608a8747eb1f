import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, MAIN_JS, SERVICES_DIR } from './support/stack';

const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, [MAIN_JS, ...args], { cwd: SERVICES_DIR, env: { ...process.env, PODBRAIN_CONFIG: '', PODBRAIN_ROLE: '', ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('node dist/main.js <role> (the one entrypoint)', () => {
  beforeAll(() => ensureBuilt(), 300_000);

  it('without a known role: exit 2 with the usage line', async () => {
    const r = await run(['bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: main.js <api|scheduler|worker-io|worker-gpu|worker-ml|worker> [--queues all|');
  });

  it('a bad --queues list fails at start naming the unknown queue', async () => {
    const r = await run(['worker', '--queues', 'ingest,bogus'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', HEALTH_PORT: '0' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown queue(s) bogus');
  });

  it('a bad setting fails at start naming the env key (exit 2)', async () => {
    const r = await run(['scheduler'], { SCHEDULER_LEASE_MS: 'soon' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SCHEDULER_LEASE_MS \(scheduler\.leaseMs, from env\)/);
  });
});
