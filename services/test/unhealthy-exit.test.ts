import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksForRole, createHealth, UNHEALTHY_EXIT_CODE, watchUnhealthy, type HealthStatus } from '../src/telemetry/health';
import { startStack, waitFor, type Stack } from './support/stack';

const INTERVAL_MS = 20;

/** A role with one check of its own and a Postgres check; `own`/`postgres` give each evaluation's status. */
function watch(opts: { own: (i: number) => HealthStatus; postgres?: (i: number) => HealthStatus; limit: number }) {
  let evaluations = 0;
  const health = createHealth({
    role: 'worker-test',
    checks: [
      { name: 'ffmpeg', impact: 'critical', check: async () => ({ status: opts.own(evaluations++), detail: 'ffmpeg not found' }) },
      { name: 'postgres', impact: 'critical', dependency: true, check: async () => ({ status: opts.postgres?.(evaluations) ?? 'healthy' }) },
    ],
  });
  const counts: number[] = [];
  const reasons: string[] = [];
  const stop = watchUnhealthy({ health, intervalMs: INTERVAL_MS, limit: opts.limit, onUnhealthy: (n) => counts.push(n), onLimit: (r) => reasons.push(r) });
  return { counts, reasons, stop, evaluations: () => evaluations };
}

const until = (what: string, ok: () => boolean) => waitFor(what, async () => ok(), 5000, 5);

describe('unhealthy-exit rule (telemetry/health/unhealthy-exit.ts)', () => {
  it('N unhealthy evaluations in a row → onLimit once, with the failing check and why', async () => {
    const w = watch({ own: () => 'unhealthy', limit: 3 });
    await until('the limit', () => w.reasons.length > 0);
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 5));
    w.stop();
    expect(w.counts).toEqual([1, 2, 3]);
    expect(w.reasons).toHaveLength(1);
    expect(w.reasons[0]).toMatch(/unhealthy for 3 checks in a row .*ffmpeg: ffmpeg not found/);
  });

  it('a role that recovers before N never reaches it: one good evaluation resets the count', async () => {
    const pattern: HealthStatus[] = ['unhealthy', 'unhealthy', 'healthy', 'unhealthy', 'unhealthy', 'degraded']; // repeated
    const w = watch({ own: (i) => pattern[i % pattern.length], limit: 3 });
    await until('16 evaluations', () => w.evaluations() >= 16);
    w.stop();
    expect(w.reasons).toEqual([]);
    expect(Math.max(...w.counts)).toBe(2);
  });

  it('does not count degraded, a Postgres (shared dependency) outage, or anything when N = 0', async () => {
    const degraded = watch({ own: () => 'degraded', limit: 2 });
    const pgDown = watch({ own: () => 'healthy', postgres: () => 'unhealthy', limit: 2 });
    const off = watch({ own: () => 'unhealthy', limit: 0 });
    await until('10 evaluations each', () => degraded.evaluations() >= 10 && pgDown.evaluations() >= 10);
    for (const w of [degraded, pgDown, off]) w.stop();
    expect([degraded.reasons, pgDown.reasons, off.reasons, off.evaluations()]).toEqual([[], [], [], 0]);
  });

  it('checksForRole marks Postgres, Redis and the queue as shared dependencies, the role\'s own checks not', () => {
    const specs = checksForRole('worker-gpu', { postgresPing: async () => 1, ping: async () => 'PONG', queueProbe: async () => 1, dataDir: '/tmp', whisperBin: '/x', whisperModelFile: '/x', ffmpegBin: 'ffmpeg', gpuRequired: false });
    expect(specs.filter((s) => s.dependency).map((s) => s.name).sort()).toEqual(['postgres', 'queue_connection']);
    expect(specs.find((s) => s.name === 'ffmpeg')?.dependency).toBeUndefined();
    expect(checksForRole('scheduler', { postgresPing: async () => 1, ping: async () => 'PONG', queueProbe: async () => 1, dataDir: '/tmp' }).every((s) => s.dependency)).toBe(true);
  });

  describe('a real role (dist/main.js worker-gpu without ffmpeg)', () => {
    let stack: Stack;
    const env = (ffmpeg: string) => ({ ASR_ENGINES: 'feed', FFMPEG_PATH: ffmpeg, HEALTH_CHECK_INTERVAL_S: '1', UNHEALTHY_EXIT_AFTER: '3' });
    beforeAll(async () => {
      stack = await startStack({ name: 'unhealthy_exit' });
    }, 240_000);
    afterAll(() => stack?.stop());

    it(`stays unhealthy for 3 checks → exits with code ${UNHEALTHY_EXIT_CODE}, saying why`, async () => {
      const role = await stack.start('worker-gpu', { env: env(path.join(stack.dataDir, 'no-ffmpeg')), waitHealthy: false });
      const t0 = Date.now();
      const exited = await Promise.race([role.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
      console.log(`unhealthy-exit: worker-gpu exited ${Date.now() - t0} ms after its start (3 checks, 1 s apart)`);
      expect(exited).toEqual({ code: UNHEALTHY_EXIT_CODE, signal: null });
      const logs = stack.logs('worker-gpu');
      expect(logs).toMatch(/"level":"error".*"reason":"unhealthy for 3 checks in a row \(every 1 s\): ffmpeg: .*no-ffmpeg not found".*role stayed unhealthy/);
      expect(logs).toContain('"msg":"stopped"'); // the normal stop ran first
    });

    it('recovers before the third check → keeps running, healthy', async () => {
      const ffmpeg = path.join(stack.dataDir, 'late-ffmpeg');
      const role = await stack.start('worker-gpu', { name: 'gpu2', env: env(ffmpeg), waitHealthy: false });
      await waitFor('the first unhealthy check', async () => stack.logs('gpu2').includes('"count":1,'), 30_000, 50);
      writeFileSync(ffmpeg, '#!/bin/sh\necho "ffmpeg version 9.9-fake"\n');
      chmodSync(ffmpeg, 0o755);
      await new Promise((r) => setTimeout(r, 4500)); // past the third check
      expect(role.child.exitCode).toBeNull();
      expect((await stack.health('gpu2')).status).toBe(200);
      expect(stack.logs('gpu2')).not.toContain('"count":3');
      expect(await stack.kill('gpu2')).toEqual({ code: 0, signal: null });
    });
  });
});
