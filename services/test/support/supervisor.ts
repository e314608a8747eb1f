/**
 * Roles as processes under a restart loop, with a Docker Engine API stand-in in front of them:
 * what compose (`restart: unless-stopped`) and the engine do for the appliance, for tests of
 * self-healing (issue 14) without Docker.
 *
 *   const sup = await startSupervisor({ project: 'podbrain' });
 *   const gpu = await sup.start({ role: 'worker-gpu', env: stack.env });   // waits until /healthz is 200
 *   gpu.pid(); gpu.restarts; process.kill(gpu.pid()!, 'SIGSTOP');
 *   await gpu.waitRestarted(0); await gpu.waitHealthy();
 *   sup.enginePath     // a unix socket speaking the engine's API (GET /containers/json, POST …/restart)
 *   await sup.stop();  // every role stopped (SIGTERM, then SIGKILL), the socket closed
 *
 * Each supervised role keeps its HEALTH_PORT across restarts (a scrape target stays put). Any exit
 * of the child starts it again after `restartDelayMs`, like the restart policy. The stand-in lists
 * each role as a running container with the compose labels (project, service), inspects it, and
 * restarts it like the engine: SIGTERM, then after the stop timeout (`t`, capped by
 * `stopTimeoutMs`) SIGCONT + SIGKILL, and answers 204 once the loop has started the new process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { ensureBuilt, freePort, MAIN_JS, SERVICES_DIR, tempDir } from './stack';

export interface SupervisedRole {
  role: string;
  /** The compose service name (defaults to the role). */
  name: string;
  /** The stand-in container's id (64 hex). */
  containerId: string;
  healthPort: number;
  /** The current child's pid (undefined between an exit and the next start). */
  pid(): number | undefined;
  /** How many times the loop started the role again (any exit, or the engine's restart). */
  readonly restarts: number;
  /** Every exit of a child so far, oldest first. */
  readonly exits: { pid: number; code: number | null; signal: NodeJS.Signals | null; at: number }[];
  /** Until /healthz of the current process answers 200. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Until the loop has started it more than `than` times. */
  waitRestarted(than: number, timeoutMs?: number): Promise<void>;
  logs(): string;
  /** Stops the loop and the process (SIGTERM, SIGKILL after 15 s). */
  stop(): Promise<void>;
}

export interface Supervisor {
  /** The engine stand-in's unix socket (what the socket proxy is pointed at). */
  enginePath: string;
  project: string;
  /** Every request the stand-in engine received. */
  engineRequests: { method: string; url: string }[];
  start(o: { role: string; name?: string; env: Record<string, string>; args?: string[]; waitHealthy?: boolean }): Promise<SupervisedRole>;
  stop(): Promise<void>;
}

export interface SupervisorOptions {
  project?: string;
  /** The most the stand-in waits after SIGTERM before SIGKILL, whatever `t` asks (default: `t`). */
  stopTimeoutMs?: number;
  /** Pause between an exit and the next start. */
  restartDelayMs?: number;
}

interface Entry extends SupervisedRole {
  child: ChildProcess | null;
  exited: Promise<void> | null;
  stopping: boolean;
  output: string[];
}

export async function startSupervisor(opts: SupervisorOptions = {}): Promise<Supervisor> {
  await ensureBuilt();
  const project = opts.project ?? 'podbrain';
  const restartDelayMs = opts.restartDelayMs ?? 200;
  const dir = tempDir('supervisor');
  const enginePath = path.join(dir.dir, 'engine.sock');
  const entries: Entry[] = [];
  const engineRequests: Supervisor['engineRequests'] = [];

  const spawnChild = (e: Entry, env: Record<string, string>, args: string[]) => {
    const child = spawn(process.execPath, [MAIN_JS, e.role, ...args], { cwd: SERVICES_DIR, env: { ...process.env, ...env, HEALTH_PORT: String(e.healthPort) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => {
      e.output.push(b.toString());
      if (e.output.length > 5000) e.output.splice(0, 1000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    e.child = child;
    e.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        e.exits.push({ pid: child.pid!, code, signal, at: Date.now() });
        e.output.push(`\n[supervisor] ${e.name} (pid ${child.pid}) exited: code ${code} signal ${signal}\n`);
        if (e.child === child) e.child = null;
        resolve();
        if (e.stopping) return;
        setTimeout(() => {
          if (e.stopping) return;
          (e as { restarts: number }).restarts++;
          spawnChild(e, env, args);
        }, restartDelayMs);
      }),
    );
  };

  const waitFor = async (what: string, e: Entry, ok: () => Promise<boolean> | boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await ok()) return;
      if (Date.now() > deadline) throw new Error(`${e.name}: ${what} not reached within ${timeoutMs} ms:\n${e.output.join('').slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const healthy = async (e: Entry) => {
    if (!e.child) return false;
    try {
      const res = await fetch(`http://127.0.0.1:${e.healthPort}/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    } catch {
      return false;
    }
  };

  /** The engine's restart: SIGTERM, then SIGCONT + SIGKILL after the stop timeout; then the loop's new process. */
  const engineRestart = async (e: Entry, t: number) => {
    const child = e.child;
    const before = e.restarts;
    if (child && e.exited) {
      const exited = e.exited;
      child.kill('SIGTERM');
      const waitMs = Math.min(t * 1000, opts.stopTimeoutMs ?? t * 1000);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), waitMs));
      if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
        await exited;
      }
    }
    await waitFor('a new process after the engine restart', e, () => e.restarts > before && e.child !== null, 30_000);
  };

  const findContainer = (ref: string) => entries.find((e) => !e.stopping && (e.containerId.startsWith(ref) || `${project}-${e.name}-1` === ref));
  const summary = (e: Entry) => ({
    Id: e.containerId,
    Names: [`/${project}-${e.name}-1`],
    Labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': e.name },
    State: e.child ? 'running' : 'restarting',
  });

  const engine = http.createServer((req, res) => {
    engineRequests.push({ method: req.method!, url: req.url! });
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const u = new URL(req.url!, 'http://engine');
    const p = u.pathname.replace(/^\/v\d+\.\d+/, '');
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(p);
    const restart = /^\/containers\/([^/]+)\/restart$/.exec(p);
    if (req.method === 'GET' && p === '/_ping') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    if (req.method === 'GET' && p === '/containers/json') {
      let labels: string[] = [];
      try {
        const f = JSON.parse(u.searchParams.get('filters') ?? '{}') as { label?: string[] | Record<string, boolean> };
        labels = Array.isArray(f.label) ? f.label : Object.keys(f.label ?? {});
      } catch {
        return json(400, { message: 'bad filters' });
      }
      const list = entries.filter((e) => !e.stopping).map(summary);
      return json(200, list.filter((c) => labels.every((l) => { const [k, v] = l.split('='); return (c.Labels as Record<string, string>)[k] === v; })));
    }
    const target = (inspect ?? restart) ? findContainer(decodeURIComponent((inspect ?? restart)![1])) : undefined;
    if ((inspect || restart) && !target) return json(404, { message: 'No such container' });
    if (req.method === 'GET' && inspect) return json(200, { Id: target!.containerId, Name: `/${project}-${target!.name}-1`, Config: { Labels: summary(target!).Labels }, State: { Pid: target!.pid() ?? 0 } });
    if (req.method === 'POST' && restart) {
      const t = Number(u.searchParams.get('t') ?? 10);
      engineRestart(target!, Number.isFinite(t) ? t : 10).then(
        () => res.writeHead(204).end(),
        (err: Error) => json(500, { message: err.message }),
      );
      return;
    }
    json(404, { message: `page not found (the stand-in serves list, inspect and restart only)` });
  });
  await new Promise<void>((r) => engine.listen(enginePath, r));

  const supervisor: Supervisor = {
    enginePath,
    project,
    engineRequests,
    async start(o) {
      const name = o.name ?? o.role;
      if (entries.some((e) => e.name === name && !e.stopping)) throw new Error(`${name} is already supervised`);
      const e: Entry = {
        role: o.role,
        name,
        containerId: randomBytes(32).toString('hex'),
        healthPort: await freePort(),
        pid: () => e.child?.pid,
        restarts: 0,
        exits: [],
        child: null,
        exited: null,
        stopping: false,
        output: [],
        waitHealthy: (timeoutMs = 90_000) => waitFor('healthy', e, () => healthy(e), timeoutMs),
        waitRestarted: (than, timeoutMs = 60_000) => waitFor(`restart #${than + 1}`, e, () => e.restarts > than && e.child !== null, timeoutMs),
        logs: () => e.output.join(''),
        async stop() {
          e.stopping = true;
          const child = e.child;
          if (!child || !e.exited) return;
          child.kill('SIGCONT');
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await e.exited;
          clearTimeout(t);
        },
      };
      entries.push(e);
      spawnChild(e, o.env, o.args ?? []);
      if (o.waitHealthy !== false) await e.waitHealthy();
      return e;
    },
    async stop() {
      await Promise.all(entries.map((e) => e.stop()));
      engine.closeAllConnections();
      await new Promise<void>((r) => engine.close(() => r()));
      dir.remove();
    },
  };
  return supervisor;
}
