import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEventLoopWatchdog, WATCHDOG_EXIT_STATUS } from '../src/core/watchdog';
import { ensureBuilt, SERVICES_DIR, startStack, waitFor, type Stack } from './support/stack';

const BLOCKER = path.join(__dirname, 'support/block-event-loop.cjs');
const WATCHDOG_JS = path.join(SERVICES_DIR, 'dist/core/watchdog.js');

/** Runs `code` in a fresh node with the compiled watchdog at hand as `wd`. */
function runNode(code: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['-e', `const wd = require(${JSON.stringify(WATCHDOG_JS)});\n${code}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.once('exit', (c, signal) => resolve({ code: c, signal, stderr, ms: Date.now() - started })));
}

describe('event-loop watchdog (core/watchdog.ts)', () => {
  beforeAll(() => ensureBuilt(), 300_000);

  it('ends a process whose event loop is blocked past the limit, with SIGUSR2 (status 140) and one stderr line', async () => {
    const r = await runNode(`wd.startEventLoopWatchdog(400); setTimeout(() => { const t0 = Date.now(); while (Date.now() - t0 < 20000) {} process.exit(0); }, 300);`);
    expect(r.signal).toBe('SIGUSR2');
    expect(128 + 12).toBe(WATCHDOG_EXIT_STATUS);
    const line = JSON.parse(r.stderr.trim()) as { msg: string; stalled_ms: number; limit_ms: number };
    expect(line.msg).toContain('event loop blocked');
    expect(line.limit_ms).toBe(400);
    expect(line.stalled_ms).toBeGreaterThanOrEqual(400); // rounded: more than the limit
    expect(r.ms).toBeLessThan(300 + 400 + 2500); // block start + limit + start-up and one check period
  });

  it('leaves a busy loop that still yields alone, and never keeps a finished process alive', async () => {
    // 1.5 s of 200 ms synchronous slices under a 400 ms limit, then nothing left to do: a normal exit
    const r = await runNode(`wd.startEventLoopWatchdog(400); let n = 0; const slice = () => { const t0 = Date.now(); while (Date.now() - t0 < 200) {} if (++n < 7) setTimeout(slice, 5); }; setTimeout(slice, 100);`);
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(r.ms).toBeLessThan(5000);
  });

  it('0 = off: a blocked loop is not ended', async () => {
    const r = await runNode(`wd.startEventLoopWatchdog(0); const t0 = Date.now(); while (Date.now() - t0 < 1200) {}`);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  });

  it('starts and stops inside this (vitest) process without ending it', async () => {
    const stop = startEventLoopWatchdog(300);
    await new Promise((r) => setTimeout(r, 700));
    stop();
    stop();
    expect(process.exitCode ?? 0).toBe(0);
  });

  describe('a real role (dist/main.js scheduler)', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ name: 'watchdog' });
    }, 240_000);
    afterAll(() => stack?.stop());

    it('whose event loop blocks is ended by the watchdog within EVENT_LOOP_WATCHDOG_S + margin', async () => {
      const trigger = path.join(stack.dataDir, 'block-now');
      const role = await stack.start('scheduler', { env: { EVENT_LOOP_WATCHDOG_S: '1', BLOCK_EVENT_LOOP_FILE: trigger, NODE_OPTIONS: `--require ${BLOCKER}` } });
      // armed right after the role is up (which is when start() returns): wait for the line, do not race it
      await waitFor('the watchdog armed', async () => stack.logs('scheduler').includes('event-loop watchdog armed'), 10_000, 50);
      writeFileSync(trigger, '');
      const t0 = Date.now();
      const exited = await Promise.race([role.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 10_000))]);
      if (exited === 'still running') console.log(stack.logs('scheduler').slice(-3000));
      expect(exited).toEqual({ code: null, signal: 'SIGUSR2' });
      const ms = Date.now() - t0;
      console.log(`watchdog: blocked scheduler ended ${ms} ms after the trigger (limit 1000 ms)`);
      expect(ms).toBeGreaterThan(600); // the limit less one beat period and the fixture's poll
      expect(ms).toBeLessThan(1000 + 2000); // limit + one beat + one check + the fixture's poll
      expect(stack.logs('scheduler')).toMatch(/"msg":"event loop blocked: exiting \(watchdog\)","stalled_ms":\d+,"limit_ms":1000,"exit_status":140/);
    });
  });
});
