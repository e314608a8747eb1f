import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM script without types
import { ciAptPackages, npmCiReason, staleBuilds, startCommands } from '../../scripts/test-setup.mjs';

/**
 * `npm test` on a fresh clone does its own set-up (scripts/test-setup.mjs, issue 11): the
 * decisions are tested on fabricated trees; the service start on a free port with a stand-in.
 */

const ROOT = path.resolve(__dirname, '../..');
const SETUP = path.join(ROOT, 'scripts/test-setup.mjs');
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'podbrain-setup-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function touch(file: string, secondsAgo: number) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '');
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(file, t, t);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('test set-up decisions', () => {
  it('npm ci when node_modules is missing or older than package-lock.json, not otherwise', () => {
    const root = temp();
    touch(path.join(root, 'package-lock.json'), 100);
    expect(npmCiReason(root)).toBe('node_modules is missing');
    touch(path.join(root, 'node_modules/.package-lock.json'), 200);
    expect(npmCiReason(root)).toBe('package-lock.json is newer than node_modules');
    touch(path.join(root, 'node_modules/.package-lock.json'), 50);
    expect(npmCiReason(root)).toBeNull();
  });

  it('builds when a dist is missing or older than its sources', () => {
    const root = temp();
    touch(path.join(root, 'services/src/cli/main.ts'), 100);
    touch(path.join(root, 'web/package.json'), 100);
    touch(path.join(root, 'web/src/main.ts'), 100);
    expect(staleBuilds(root)).toEqual(['services', 'web']);
    touch(path.join(root, 'services/dist/cli/main.js'), 50);
    touch(path.join(root, 'web/dist/index.html'), 50);
    expect(staleBuilds(root)).toEqual([]);
    touch(path.join(root, 'services/src/pipeline/runner.ts'), 10);
    expect(staleBuilds(root)).toEqual(['services']);
  });

  it('starts the services with the very commands .ci/run uses', () => {
    const ci = readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
    const etc = temp();
    mkdirSync(path.join(etc, '15'));
    const { postgres, redis } = startCommands(etc);
    const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
    if (has('redis-server')) {
      const line = /^\s*(redis-server .*)$/m.exec(ci)![1];
      expect(redis.map((a: string) => (a === '' ? '""' : a)).join(' ')).toBe(line);
    }
    if (has('pg_ctlcluster')) {
      expect(ci).toContain('pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start');
      expect(postgres).toEqual(['pg_ctlcluster', '--skip-systemctl-redirect', '15', 'main', 'start']);
    }
    expect(ciAptPackages(ROOT)).toEqual(expect.arrayContaining(['ffmpeg', 'cmake', 'libfaiss-dev', 'chromium']));
  });
});

describe('test set-up: a service that is down', () => {
  const ensure = (port: number, start: string[] | null) =>
    spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import { ensureService } from ${JSON.stringify(SETUP)}; await ensureService('Redis', { host: '127.0.0.1', port: ${port} }, ${JSON.stringify(start)}, 'HOW TO START IT');`],
      { encoding: 'utf8', timeout: 60_000 },
    );

  it('not installed: stops with exit 1, saying what is unreachable and how to start it', async () => {
    const r = ensure(await freePort(), null);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/setup: Redis is not reachable on 127\.0\.0\.1:\d+ \(ECONNREFUSED\) and is not installed here, so the tests cannot run\.\nHOW TO START IT/);
  });

  it('installed but down: runs its start command and goes on once it answers', async () => {
    const port = await freePort();
    // Stands in for `redis-server --daemonize yes …`: returns at once, leaves a listener behind for a few seconds.
    const daemon = `node -e "require('net').createServer((c) => c.end()).listen(${port}, '127.0.0.1'); setTimeout(() => process.exit(0), 8000)" >/dev/null 2>&1 &`;
    const r = ensure(port, ['sh', '-c', daemon]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`setup: Redis is down on 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): starting it`));
  });

  it('a start command that fails: exit 1 with how to start it', async () => {
    const r = ensure(await freePort(), ['sh', '-c', 'exit 3']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/setup: could not start Redis \(exit 3\)\.\nHOW TO START IT/);
  });
});
