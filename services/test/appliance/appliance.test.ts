import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFakeWhisperModel } from '../../src/asr/whisper/fake-model';
import { freePort, waitFor } from '../support/stack';

/**
 * The appliance as a self-hoster starts it: the real deploy/Dockerfile built into images, the
 * real docker-compose.yml brought up in a real Docker engine, with one override
 * (deploy/ci/compose.offline.yml) that swaps only the images no registry can give us here.
 * A fresh project name and fresh volumes; DOMAIN empty; the Whisper model fetched by the
 * `models` service from a container acting as the model host; a podcast served by another.
 * Skips, saying why, when no Docker engine can run (no docker CLI, not root, no dockerd).
 */
const ROOT = path.resolve(__dirname, '../../..');
const PROJECT = `pbci${Date.now().toString(36)}`;
const work = mkdtempSync(path.join(os.tmpdir(), 'podbrain-appliance-'));
const envFile = path.join(work, '.env');
const ROLES = ['api', 'scheduler', 'worker-io', 'worker-gpu', 'worker-ml'] as const;
const log = (...a: unknown[]) => console.log('[appliance]', ...a);

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 << 20, input: opts.input });
}
function must(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}):\n${(r.stdout ?? '').slice(-4000)}\n${(r.stderr ?? '').slice(-4000)}`);
  return r.stdout;
}

const dockerInfo = () => sh('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 }).status === 0;

/** Why the appliance cannot be tried here, or null. Starts dockerd when it can. */
function engineUnavailable(): string | null {
  if (process.env.PODBRAIN_TEST_APPLIANCE === '0') return 'PODBRAIN_TEST_APPLIANCE=0';
  if (sh('docker', ['--version'], { timeoutMs: 10_000 }).status !== 0) return 'no docker CLI on PATH (apt-get install docker.io docker-compose)';
  const composeOk = sh('docker-compose', ['version'], { timeoutMs: 20_000 }).status === 0 || sh('docker', ['compose', 'version'], { timeoutMs: 20_000 }).status === 0;
  if (!composeOk) return 'neither docker-compose (v1) nor docker compose (v2) is installed';
  if (dockerInfo()) return null;
  if (process.getuid?.() !== 0) return 'no Docker engine running and not root to start one';
  if (sh('sh', ['-c', 'command -v dockerd'], { timeoutMs: 5_000 }).status !== 0) return 'no Docker engine running and no dockerd to start';
  const out = openSync(path.join(os.tmpdir(), 'podbrain-dockerd.log'), 'a');
  spawn('dockerd', ['--storage-driver=overlay2'], { detached: true, stdio: ['ignore', out, out] }).unref();
  for (let i = 0; i < 60; i++) {
    if (dockerInfo()) return null;
    spawnSync('sleep', ['1']);
  }
  return `dockerd did not come up within 60 s (see ${path.join(os.tmpdir(), 'podbrain-dockerd.log')})`;
}

const skipWhy = engineUnavailable();
if (skipWhy) console.log(`[appliance] SKIPPED: the appliance test needs a Docker engine: ${skipWhy}`);

const compose1 = sh('docker-compose', ['version'], { timeoutMs: 20_000 }).status === 0;
const COMPOSE = compose1 ? ['docker-compose'] : ['docker', 'compose'];
const composeBase = ['-p', PROJECT, '--project-directory', ROOT, '--env-file', envFile, '-f', path.join(ROOT, 'docker-compose.yml'), '-f', path.join(ROOT, 'deploy/ci/compose.offline.yml')];
// compose reads only the env file: the test runner's own environment must not leak in. The
// containers read the same file (env_file: PODBRAIN_ENV_FILE, as deploy/scripts set it).
const cleanEnv = { PATH: process.env.PATH, HOME: work, DOCKER_HOST: process.env.DOCKER_HOST, PODBRAIN_ENV_FILE: envFile } as NodeJS.ProcessEnv;
const compose = (args: string[], timeoutMs = 300_000) => sh(COMPOSE[0], [...COMPOSE.slice(1), ...composeBase, ...args], { env: cleanEnv, timeoutMs });

/** The real deploy/Dockerfile with the classic builder; only the base images are the local stand-ins. */
const build = (extra: string[]) =>
  sh('docker', ['build', '-f', 'deploy/Dockerfile', '--build-arg', 'NODE_IMAGE=podbrain-local/node:22', '--build-arg', 'RUNTIME_IMAGE=podbrain-local/debian:bookworm', '--build-arg', 'CADDY_IMAGE=podbrain-local/caddy:2', ...extra, '.'], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    timeoutMs: 1_800_000,
  });

const containerOf = (svc: string) => compose(['ps', '-q', svc], 30_000).stdout.trim().split('\n')[0] ?? '';
const inspect = (id: string, format: string) => sh('docker', ['inspect', '-f', format, id], { timeoutMs: 30_000 }).stdout.trim();
const health = (svc: string) => {
  const id = containerOf(svc);
  return id ? inspect(id, '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}') : 'missing';
};

const ports: Record<string, number> = {};
const api = (p: string) => `http://127.0.0.1:${ports.API_PORT}${p}`;
async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body: body as T };
}

async function allRolesHealthy(timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(
    'every role healthy by its HEALTHCHECK',
    async () => {
      const states = Object.fromEntries(ROLES.map((r) => [r, health(r)]));
      if (Object.values(states).every((s) => s === 'healthy')) return true;
      if (Date.now() - t0 > timeoutMs - 3000) log('health states:', JSON.stringify(states));
      return false;
    },
    timeoutMs,
    3000,
  ).catch((e) => {
    for (const r of ROLES) log(`${r} logs:\n${compose(['logs', '--no-color', '--tail', '40', r], 60_000).stdout}`);
    throw e;
  });
  return Date.now() - t0;
}

const GIT_SHA = `ci-${PROJECT}`;
const hostDirs = { model: path.join(work, 'modelhost'), feed: path.join(work, 'feedhost') };
const helperContainers = [`${PROJECT}-modelhost`, `${PROJECT}-feedhost`];

function startHelperHost(name: string, alias: string, dir: string): void {
  sh('docker', ['rm', '-f', name], { timeoutMs: 30_000 });
  must(
    sh('docker', [
      'run', '-d', '--no-healthcheck', '--name', name, '--network', `${PROJECT}_default`, '--network-alias', alias,
      '-v', `${dir}:/srv:ro`, '-v', `${path.join(ROOT, 'deploy/ci/static-server.mjs')}:/static-server.mjs:ro`,
      '--entrypoint', 'node', 'podbrain:ci', '/static-server.mjs', '/srv', '8080',
    ], { timeoutMs: 60_000 }),
    `start ${alias}`,
  );
}

function writePodcast(): void {
  mkdirSync(hostDirs.feed, { recursive: true });
  copyFileSync(path.join(ROOT, '../shared/fixtures/audio/jfk.mp3'), path.join(hostDirs.feed, 'jfk.mp3'));
  const text = readFileSync(path.join(ROOT, '../shared/fixtures/audio/jfk.txt'), 'utf8').trim();
  writeFileSync(path.join(hostDirs.feed, 'jfk.vtt'), `WEBVTT\n\n00:00:00.000 --> 00:00:11.000\n${text}\n`);
  const size = statSync(path.join(hostDirs.feed, 'jfk.mp3')).size;
  writeFileSync(
    path.join(hostDirs.feed, 'feed.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel>
  <title>Appliance Test Radio</title><link>http://feedhost:8080/</link><description>Served by a container</description>
  <item>
    <title>With a publisher transcript</title><guid isPermaLink="false">appliance-1</guid>
    <pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate>
    <enclosure url="http://feedhost:8080/jfk.mp3" type="audio/mpeg" length="${size}"/>
    <podcast:transcript url="http://feedhost:8080/jfk.vtt" type="text/vtt"/>
  </item>
  <item>
    <title>Transcribed by whisper.cpp</title><guid isPermaLink="false">appliance-2</guid>
    <pubDate>Sun, 01 Nov 2026 10:00:00 GMT</pubDate>
    <enclosure url="http://feedhost:8080/jfk.mp3?whisper" type="audio/mpeg" length="${size}"/>
  </item>
</channel>
</rss>
`,
  );
  for (const d of [work, hostDirs.feed]) chmodSync(d, 0o755);
}

describe.skipIf(skipWhy !== null)('the appliance in a real Docker engine (docker-compose.yml + deploy/ci/compose.offline.yml)', () => {
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    let t = Date.now();
    must(sh('bash', [path.join(ROOT, 'deploy/ci/base-images.sh')], { timeoutMs: 900_000 }), 'deploy/ci/base-images.sh');
    timings.base_images_s = (Date.now() - t) / 1000;

    // The build trusts the host's extra CA bundle (TLS interception on these machines), as a self-hoster behind a proxy would.
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    if (ca && existsSync(ca)) copyFileSync(ca, path.join(ROOT, 'deploy/certs/build-host-ca.crt'));
    t = Date.now();
    must(build(['--build-arg', `GIT_SHA=${GIT_SHA}`, '-t', 'podbrain:ci']), 'docker build podbrain:ci');
    must(build(['--target', 'viewer', '-t', 'podbrain-viewer:ci']), 'docker build podbrain-viewer:ci');
    timings.image_build_s = (Date.now() - t) / 1000;

    for (const k of ['HTTP_PORT', 'HTTPS_PORT', 'API_PORT', 'SCHEDULER_HEALTH_PORT', 'WORKER_IO_HEALTH_PORT', 'WORKER_GPU_HEALTH_PORT', 'WORKER_ML_HEALTH_PORT', 'PROMETHEUS_PORT', 'GRAFANA_PORT']) ports[k] = await freePort();
    writeFileSync(
      envFile,
      [
        'PODBRAIN_IMAGE=podbrain',
        'PODBRAIN_TAG=ci',
        'POSTGRES_PASSWORD=ci-secret-password',
        'DOMAIN=',
        ...Object.entries(ports).map(([k, v]) => `${k}=${v}`),
        'ALLOW_PRIVATE_NETWORK=true',
        'WHISPER_MODEL=tiny',
        'WHISPER_MODEL_BASE_URL=http://modelhost:8080',
        'WHISPER_THREADS=2',
        'WHISPER_BEAM_SIZE=1',
        'WHISPER_VAD=false',
        'WHISPER_TEMPERATURE_FALLBACK=false',
        'ASR_MIN_COVERAGE=0',
        '',
      ].join('\n'),
    );
    mkdirSync(hostDirs.model, { recursive: true });
    await writeFakeWhisperModel({ shape: 'tiny', outDir: hostDirs.model });
    chmodSync(hostDirs.model, 0o755);
    chmodSync(path.join(hostDirs.model, 'ggml-tiny.bin'), 0o644);
    writePodcast();

    // The project network exists once the first services are up; the stand-in hosts join it.
    t = Date.now();
    must(compose(['up', '-d', 'postgres', 'redis']), 'compose up postgres redis');
    startHelperHost(helperContainers[0], 'modelhost', hostDirs.model);
    startHelperHost(helperContainers[1], 'feedhost', hostDirs.feed);
    must(compose(['up', '-d']), 'compose up -d');
    timings.first_healthy_s = (Date.now() - t + (await allRolesHealthy(120_000))) / 1000;
    log('timings so far:', JSON.stringify(timings));
  }, 3_000_000);

  afterAll(() => {
    if (process.env.PODBRAIN_APPLIANCE_KEEP === '1') return void log(`kept: project ${PROJECT}, env ${envFile}`);
    sh('docker', ['rm', '-f', ...helperContainers], { timeoutMs: 60_000 });
    compose(['down', '-v', '--remove-orphans', '--timeout', '20'], 300_000);
    sh('docker', ['rmi', 'podbrain:ci2', 'podbrain-viewer:ci2', 'podbrain:broken', 'podbrain-viewer:broken'], { timeoutMs: 120_000 });
    rmSync(path.join(ROOT, 'deploy/certs/build-host-ca.crt'), { force: true });
    rmSync(work, { recursive: true, force: true });
    log('timings:', JSON.stringify(timings));
  }, 600_000);

  it('the image: podbrain on PATH, the build args in /healthz, size within 1.0 GB, no npm or compiler inside', async () => {
    const bytes = Number(inspect('podbrain:ci', '{{.Size}}'));
    log(`podbrain:ci image size ${(bytes / 1e6).toFixed(0)} MB`);
    expect(bytes).toBeLessThanOrEqual(1.0e9);
    const help = sh('docker', ['run', '--rm', '--entrypoint', 'podbrain', 'podbrain:ci', '--help'], { timeoutMs: 60_000 });
    expect(help.stdout + help.stderr).toContain('Usage');
    expect(help.status).toBe(0);
    const which = sh('docker', ['run', '--rm', '--entrypoint', 'sh', 'podbrain:ci', '-c', 'command -v npm gcc cmake; true'], { timeoutMs: 60_000 });
    expect(which.stdout.trim()).toBe('');
    const h = await getJson<{ git_sha?: string; version?: string }>(api('/healthz'));
    expect(h.body.git_sha).toBe(GIT_SHA);
  });

  it('first start on fresh volumes: models exits 0 (fetched from the model host), migrate exits 0, every role healthy', () => {
    for (const svc of ['models', 'migrate']) {
      const id = compose(['ps', '-a', '-q', svc], 30_000).stdout.trim();
      expect(id, svc).not.toBe('');
      expect(inspect(id, '{{.State.Status}} {{.State.ExitCode}}'), svc).toBe('exited 0');
    }
    const modelsLog = compose(['logs', '--no-color', 'models'], 30_000).stdout;
    expect(modelsLog).toContain('saved /models/ggml-tiny.bin');
    for (const r of ROLES) expect(health(r), r).toBe('healthy');
    expect(timings.first_healthy_s).toBeLessThan(180);
  });

  it('caddy (DOMAIN empty) answers /, a deep link and /api/health with 200', async () => {
    const base = `http://127.0.0.1:${ports.HTTP_PORT}`;
    const home = await waitFor('caddy /', async () => {
      const r = await fetch(`${base}/`, { signal: AbortSignal.timeout(10_000) });
      return r.status === 200 ? r : null;
    }, 60_000);
    expect(await home.text()).toContain('<div id="app"');
    const deep = await fetch(`${base}/episodes/some-episode-key`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<div id="app"');
    const h = await getJson<{ status: string; roles: Record<string, { status: string }> }>(`${base}/api/health`);
    expect(h.status, JSON.stringify(h.body)).toBe(200);
    expect(Object.keys(h.body.roles).sort()).toEqual([...ROLES].sort());
    for (const [role, r] of Object.entries(h.body.roles)) expect(r.status, role).not.toBe('unhealthy');
  });

  it('Prometheus scrapes every role (up == 1)', async () => {
    const up = await waitFor(
      'up == 1 for the five roles',
      async () => {
        const r = await getJson<{ data: { result: { metric: { role: string }; value: [number, string] }[] } }>(
          `http://127.0.0.1:${ports.PROMETHEUS_PORT}/api/v1/query?query=${encodeURIComponent('up{job="podbrain"}')}`,
        );
        const res = r.body.data?.result ?? [];
        return res.length === 5 && res.every((x) => x.value[1] === '1') ? res : null;
      },
      90_000,
      3000,
    );
    expect(up.map((x) => x.metric.role).sort()).toEqual([...ROLES].sort());
  });

  type Episode = { episode_key: string; title: string; state: string; state_reason: string | null };
  const episodes = async () => (await getJson<{ items: Episode[] }>(api('/api/episodes?limit=50'))).body.items ?? [];
  const snapshot: { feeds?: unknown; episodes?: Episode[]; transcript?: unknown; search?: string[] } = {};
  const searchKeys = async (q: string) => ((await getJson<{ hits: { episode_key: string }[] }>(api(`/api/search?q=${encodeURIComponent(q)}`))).body.hits ?? []).map((h) => h.episode_key).sort();

  it('a feed served by a container reaches done through the five role containers', async () => {
    const t = Date.now();
    const add = await fetch(api('/api/feeds'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'http://feedhost:8080/feed.xml' }) });
    expect(add.status, await add.clone().text()).toBeLessThan(300);
    const done = await waitFor(
      'both episodes done',
      async () => {
        const items = await episodes();
        if (items.some((e) => e.state === 'failed')) throw new Error(`an episode failed: ${JSON.stringify(items)}`);
        return items.length === 2 && items.every((e) => e.state === 'done') ? items : null;
      },
      300_000,
      3000,
    ).catch((e) => {
      for (const r of ['worker-io', 'worker-gpu', 'worker-ml']) log(`${r} logs:\n${compose(['logs', '--no-color', '--tail', '30', r], 60_000).stdout}`);
      throw e;
    });
    timings.feed_to_done_s = (Date.now() - t) / 1000;
    expect(done.map((e) => e.title).sort()).toEqual(['Transcribed by whisper.cpp', 'With a publisher transcript']);
    const published = done.find((e) => e.title === 'With a publisher transcript')!;
    const transcript = await getJson<{ segments?: { text: string }[] }>(api(`/api/episodes/${encodeURIComponent(published.episode_key)}/transcript`));
    expect(transcript.status).toBe(200);
    expect(JSON.stringify(transcript.body)).toContain('ask not what your country can do for you');
    const whispered = done.find((e) => e.title === 'Transcribed by whisper.cpp')!;
    expect((await getJson(api(`/api/episodes/${encodeURIComponent(whispered.episode_key)}/transcript`))).status).toBe(200);
    expect(await searchKeys('country')).toContain(published.episode_key);
    snapshot.feeds = (await getJson(api('/api/feeds'))).body;
    snapshot.episodes = done.sort((a, b) => a.episode_key.localeCompare(b.episode_key));
    snapshot.transcript = transcript.body;
    snapshot.search = await searchKeys('country');
  });

  it('docker compose down && up keeps feeds, episodes, transcripts and search', async () => {
    expect(snapshot.episodes, 'needs the feed test').toBeTruthy();
    // the stand-in hosts are not the project's: they leave its network so that `down` can remove it
    const net = `${PROJECT}_default`;
    const aliases = ['modelhost', 'feedhost'];
    for (const c of helperContainers) must(sh('docker', ['network', 'disconnect', net, c], { timeoutMs: 30_000 }), `disconnect ${c}`);
    must(compose(['down', '--timeout', '30']), 'compose down');
    must(compose(['up', '-d']), 'compose up -d again');
    helperContainers.forEach((c, i) => must(sh('docker', ['network', 'connect', '--alias', aliases[i], net, c], { timeoutMs: 30_000 }), `connect ${c}`));
    await allRolesHealthy(150_000);
    expect((await getJson(api('/api/feeds'))).body).toEqual(snapshot.feeds);
    const again = (await episodes()).sort((a, b) => a.episode_key.localeCompare(b.episode_key));
    expect(again.map((e) => [e.episode_key, e.state])).toEqual(snapshot.episodes!.map((e) => [e.episode_key, e.state]));
    const key = snapshot.episodes!.find((e) => e.title === 'With a publisher transcript')!.episode_key;
    expect((await getJson(api(`/api/episodes/${encodeURIComponent(key)}/transcript`))).body).toEqual(snapshot.transcript);
    expect(await searchKeys('country')).toEqual(snapshot.search);
  });

  const deployEnv = () => ({
    ...cleanEnv,
    COMPOSE: `${COMPOSE.join(' ')} -p ${PROJECT} --project-directory ${ROOT}`,
    COMPOSE_FILES: `-f ${path.join(ROOT, 'docker-compose.yml')} -f ${path.join(ROOT, 'deploy/ci/compose.offline.yml')}`,
    ENV_FILE: envFile,
    DEPLOY_STATE_DIR: path.join(work, 'state'),
    API_PORT: String(ports.API_PORT),
    SCHEDULER_HEALTH_PORT: String(ports.SCHEDULER_HEALTH_PORT),
    WORKER_IO_HEALTH_PORT: String(ports.WORKER_IO_HEALTH_PORT),
    WORKER_GPU_HEALTH_PORT: String(ports.WORKER_GPU_HEALTH_PORT),
    WORKER_ML_HEALTH_PORT: String(ports.WORKER_ML_HEALTH_PORT),
    HEALTH_TIMEOUT_S: '90',
    WAIT_HEALTHY_S: '120',
  });
  const deployScript = (name: string, args: string[]) => sh('bash', [path.join(ROOT, 'deploy/scripts', name), ...args], { env: deployEnv(), timeoutMs: 900_000 });
  const envTag = () => /^PODBRAIN_TAG=(.*)$/m.exec(readFileSync(envFile, 'utf8'))?.[1];
  // the commit the running api reports (waits through a restart still settling)
  const apiSha = () => waitFor('the api /healthz', async () => (await getJson<{ git_sha?: string }>(api('/healthz'))).body.git_sha, 60_000, 1000);

  it('deploy.sh to a new tag and rollback.sh work; a deploy that fails its health gate rolls back by itself', async () => {
    // the next release: the same build (layer cache) with another commit id
    must(build(['-q', '--build-arg', 'GIT_SHA=ci2-release', '-t', 'podbrain:ci2']), 'build ci2');
    // a broken release: every role exits at once
    must(sh('docker', ['build', '-q', '-t', 'podbrain:broken', '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, input: 'FROM podbrain:ci\nENTRYPOINT ["node", "-e", "process.exit(3)"]\n', timeoutMs: 120_000 }), 'build broken');
    for (const tag of ['ci2', 'broken']) must(sh('docker', ['tag', 'podbrain-viewer:ci', `podbrain-viewer:${tag}`], { timeoutMs: 30_000 }), 'tag viewer');

    let t = Date.now();
    const up = deployScript('deploy.sh', ['ci2', '--local']);
    timings.deploy_s = (Date.now() - t) / 1000;
    expect(up.stderr, up.stderr).toContain('deploy of ci2 healthy');
    expect(up.status).toBe(0);
    expect(envTag()).toBe('ci2');
    expect(await apiSha()).toBe('ci2-release');

    const back = deployScript('rollback.sh', []);
    expect(back.stderr, back.stderr).toContain('rollback to ci healthy');
    expect(back.status).toBe(0);
    expect(envTag()).toBe('ci');
    expect(await apiSha()).toBe(GIT_SHA);

    t = Date.now();
    const bad = deployScript('deploy.sh', ['broken', '--local']);
    timings.failed_deploy_with_rollback_s = (Date.now() - t) / 1000;
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stderr).toContain('failed the health gate: rolling back to ci');
    expect(bad.stderr).toContain('rollback to ci healthy');
    expect(envTag()).toBe('ci');
    expect(await apiSha()).toBe(GIT_SHA);
    const history = readFileSync(path.join(work, 'state/history'), 'utf8');
    expect(history).toMatch(/deploy-ok ci2[\s\S]*rollback-ok ci[\s\S]*deploy-failed broken \(health gate\)[\s\S]*rollback-ok ci/);
    // the library survived all of it
    expect((await episodes()).filter((e) => e.state === 'done')).toHaveLength(2);
  });
});
