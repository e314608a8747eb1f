/**
 * restart-role end to end (issue 14, self-healing): worker-gpu as a process under a restart loop
 * (test/support/supervisor.ts, what compose's restart policy does) behind the engine stand-in and
 * the real socket proxy; ControlPlane('restart-role') with createRoleRestarter.
 * Cooperative: the role exits 4 by itself, nothing is forced. Hung (SIGSTOP): it still receives the
 * message (a stopped process keeps its Redis subscription) but never acts, so after RESTART_ACK_S
 * its container is restarted through the proxy and a new process reports healthy.
 */
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { RESTART_EXIT_CODE } from '../src/control/control-bus';
import { ControlPlane } from '../src/control/control-plane';
import { createRoleRestarter } from '../src/control/role-restarter';
import { roleEntries } from '../src/control/role-registry';
import { startSocketProxy, type SocketProxy } from '../src/control/socket-proxy';
import { createLogger } from '../src/core/logger';
import { Database } from '../src/db/database';
import { Queues } from '../src/queue/queues';
import { startStack, waitFor, type Stack } from './support/stack';
import { startSupervisor, type SupervisedRole, type Supervisor } from './support/supervisor';

const ACK_S = 2;
let stack: Stack;
let sup: Supervisor;
let proxy: SocketProxy;
let gpu: SupervisedRole;
let redis: IORedis;
let database: Database;
let queues: Queues;
const log = createLogger({ service: 'test', level: 'silent' });

const configWith = (env: Record<string, string>): Config => loadConfig({ env: { ...stack.env, RESTART_ACK_S: String(ACK_S), DOCKER_PROXY_URL: `http://127.0.0.1:${proxy.port}`, ...env } });
const planeWith = (config: Config) => new ControlPlane({ config, redis, queues, database, log, restarter: createRoleRestarter({ config, redis, log }) });
const reportedPids = async (role = 'worker-gpu') => (await roleEntries(redis, configWith({}), role)).map((e) => e.report.pid);

beforeAll(async () => {
  // A report every 3 s (entries live 9 s), so a stopped process is still listed when restart-role starts.
  stack = await startStack({ name: 'rrhung', env: { HEALTH_CHECK_INTERVAL_S: '3', SHUTDOWN_GRACE_MS: '2000' } });
  sup = await startSupervisor({ project: 'podbrain', stopTimeoutMs: 1000 });
  proxy = await startSocketProxy({ enginePath: sup.enginePath, project: 'podbrain', host: '127.0.0.1', port: 0 });
  redis = new IORedis(stack.redisUrl, { maxRetriesPerRequest: null });
  const config = configWith({});
  database = new Database(config, log);
  queues = Queues.fromConfig(config, redis);
  gpu = await sup.start({ role: 'worker-gpu', env: stack.env });
}, 180_000);

afterAll(async () => {
  await sup?.stop();
  await proxy?.close();
  await Promise.all((queues?.all() ?? []).map((q) => q.close()));
  await database?.pool.end();
  redis?.disconnect();
  await stack?.stop();
}, 60_000);

describe('restart-role reaches worker-gpu', () => {
  it('cooperative: the role stops and exits 4 by itself, the loop starts it again; nothing goes through the engine', async () => {
    const first = gpu.pid()!;
    await waitFor('worker-gpu listed', async () => (await reportedPids()).includes(first), 20_000, 100);
    const outcome = await planeWith(configWith({})).run('restart-role', { role: 'worker-gpu' });
    expect(outcome.data).toMatchObject({ forced: false, containers: [] });
    expect(outcome.data!.receivers).toBeGreaterThanOrEqual(1);
    expect(outcome.detail).toMatch(/^restart of worker-gpu: cooperative \(1 process\(es\) stopped within/);
    await gpu.waitRestarted(0);
    expect(gpu.exits[0]).toMatchObject({ pid: first, code: RESTART_EXIT_CODE, signal: null });
    await gpu.waitHealthy();
    expect(gpu.pid()).not.toBe(first);
    expect(sup.engineRequests).toEqual([]);
  }, 90_000);

  it('hung (SIGSTOP): the message reaches it but is never acted on; without DOCKER_PROXY_URL that is said plainly, with it the container is restarted through the proxy and a new process reports healthy', async () => {
    const hung = gpu.pid()!;
    await waitFor('the new worker-gpu listed', async () => (await reportedPids()).includes(hung), 20_000, 100);
    const restartsBefore = gpu.restarts;
    process.kill(hung, 'SIGSTOP');

    let t0 = Date.now();
    await expect(planeWith(configWith({ DOCKER_PROXY_URL: '' })).run('restart-role', { role: 'worker-gpu' })).rejects.toThrow(
      /^worker-gpu was not restarted: 1 of 1 process\(es\) did not stop within 2 s \(.+:\d+\), and the forced path is not configured \(DOCKER_PROXY_URL is empty/,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(ACK_S * 1000 - 100);
    expect(gpu.pid()).toBe(hung); // still there, still stopped
    expect(gpu.restarts).toBe(restartsBefore);

    t0 = Date.now();
    const outcome = await planeWith(configWith({})).run('restart-role', { role: 'worker-gpu' });
    const took = Date.now() - t0;
    // the stopped process still holds its subscription: publish counted it
    expect(outcome.data!.receivers).toBeGreaterThanOrEqual(1);
    expect(outcome.data).toMatchObject({ forced: true, containers: [{ name: 'podbrain-worker-gpu-1', ok: true }], unanswered: [expect.stringMatching(new RegExp(`:${hung}$`))] });
    expect(outcome.detail).toMatch(/^restart of worker-gpu: forced \(1 of 1 process\(es\) did not stop within 2 s .*\): container\(s\) podbrain-worker-gpu-1 restarted through the engine$/);
    // ack window + the stand-in's stop timeout (1 s) + the loop's restart, with room for a loaded box
    expect(took).toBeLessThan(ACK_S * 1000 + 10_000);

    // the engine's restart went through the proxy: inspected first, then restarted by full id
    const posts = sup.engineRequests.filter((r) => r.method === 'POST');
    expect(posts).toEqual([{ method: 'POST', url: `/containers/${gpu.containerId}/restart?t=10` }]);
    expect(sup.engineRequests).toContainEqual({ method: 'GET', url: `/containers/${gpu.containerId}/json` });
    expect(gpu.exits.at(-1)).toMatchObject({ pid: hung, signal: 'SIGKILL' });
    expect(gpu.restarts).toBe(restartsBefore + 1);
    await gpu.waitHealthy();
    const fresh = gpu.pid()!;
    expect(fresh).not.toBe(hung);
    await waitFor('the fresh worker-gpu reports', async () => (await reportedPids()).includes(fresh), 20_000, 100);
  }, 120_000);

  it('a role with no process and no container: forced path tried, and the answer says there is nothing to restart', async () => {
    await expect(planeWith(configWith({})).run('restart-role', { role: 'worker-ml' })).rejects.toThrow(
      'worker-ml was not restarted: no process of worker-ml is reporting, and no running container of the compose service worker-ml was found',
    );
  });
});

describe('how the restarter tells a clean stop from a hang (live entries in Redis, no process)', () => {
  const prefix = () => `${stack.prefix}:roles:worker-io`;
  const entry = (pid: number, startedAt = '2026-01-01T00:00:00.000Z') =>
    JSON.stringify({ role: 'worker-io', pid, hostname: 'box', version: '0', git_sha: 'x', status: 'healthy', started_at: startedAt, reported_at: new Date().toISOString(), queues: ['ingest'] });
  // No proxy: a hang ends in the "not configured" error, which names the silent processes.
  const noForce = () => planeWith(configWith({ DOCKER_PROXY_URL: '', RESTART_ACK_S: '3' }));

  it('removed before it could lapse: a clean stop (cooperative)', async () => {
    await redis.set(`${prefix()}:box:101`, entry(101), 'PX', 30_000);
    setTimeout(() => void redis.del(`${prefix()}:box:101`), 500);
    const outcome = await noForce().run('restart-role', { role: 'worker-io' });
    expect(outcome.data).toMatchObject({ forced: false });
  });

  it('the same key reported by a new process (a container keeps its pid across restarts): replaced (cooperative)', async () => {
    await redis.set(`${prefix()}:box:102`, entry(102), 'PX', 30_000);
    setTimeout(() => void redis.set(`${prefix()}:box:102`, entry(102, new Date().toISOString()), 'PX', 30_000), 500);
    const outcome = await noForce().run('restart-role', { role: 'worker-io' });
    expect(outcome.data).toMatchObject({ forced: false });
    await redis.del(`${prefix()}:box:102`);
  });

  it('an entry that lapses (its process stopped reporting) is a hang, not a stop; one still there at the deadline too', async () => {
    await redis.set(`${prefix()}:box:103`, entry(103), 'PX', 800);
    const t0 = Date.now();
    await expect(noForce().run('restart-role', { role: 'worker-io' })).rejects.toThrow(/1 of 1 process\(es\) did not stop within 3 s \(box:103\), and the forced path is not configured/);
    expect(Date.now() - t0).toBeLessThan(2500); // known hung once it lapsed: no need to wait out the window
    await redis.set(`${prefix()}:box:104`, entry(104), 'PX', 30_000);
    await expect(noForce().run('restart-role', { role: 'worker-io' })).rejects.toThrow(/did not stop within 3 s \(box:104\)/);
    await redis.del(`${prefix()}:box:104`);
  });
});
