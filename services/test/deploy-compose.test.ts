import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { describeSettings } from '../src/config/config';

const ROOT = path.resolve(__dirname, '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-compose-'));

type Service = {
  image?: string;
  build?: { dockerfile?: string; target?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  stop_grace_period?: string;
  profiles?: string[];
  ports?: unknown[];
  volumes?: unknown[];
  networks?: Record<string, unknown>;
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  deploy?: { resources?: { limits?: { cpus?: number; memory?: string }; reservations?: { devices?: { driver: string; capabilities: string[] }[] } } };
};

/** An empty .env: the appliance's settings file must exist (the containers' env_file), an empty one will do. */
const emptyEnv = path.join(tmp, 'empty.env');
writeFileSync(emptyEnv, '');

/**
 * `docker-compose config` (Debian's docker-compose): validates and prints the merged file,
 * each container's env_file merged into its environment. `envFile` is both compose's
 * --env-file and the containers' env_file (PODBRAIN_ENV_FILE), as deploy/scripts run it.
 */
function composeConfig(files: string[], envFile = emptyEnv, containerEnvFile = envFile): { services: Record<string, Service>; volumes: Record<string, unknown>; networks?: Record<string, unknown> } {
  const args = ['--env-file', envFile, ...files.flatMap((f) => ['-f', path.join(ROOT, f)]), 'config'];
  // run outside the repo so a developer's own .env cannot change the outcome
  const r = spawnSync('docker-compose', ['--project-directory', ROOT, ...args], { cwd: tmp, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmp, PODBRAIN_ENV_FILE: containerEnvFile } });
  expect(r.stderr.replace(/^.*(WARNING|variable is not set).*$/gm, '').trim(), r.stderr).toBe('');
  expect(r.status).toBe(0);
  return parseYaml(r.stdout);
}

const ROLES = ['api', 'scheduler', 'worker-io', 'worker-gpu', 'worker-ml'];
const LONG_RUNNING = [...ROLES, 'postgres', 'redis', 'caddy', 'prometheus', 'alertmanager', 'loki', 'promtail', 'grafana', 'postgres-exporter', 'redis-exporter', 'socket-proxy'];

describe('docker-compose.yml', () => {
  const base = composeConfig(['docker-compose.yml']);
  const s = base.services;
  const gpu = composeConfig(['docker-compose.yml', 'docker-compose.gpu.yml']).services;

  it('is valid for docker-compose config alone, with the GPU override and with .env.example', () => {
    expect(Object.keys(s).sort()).toEqual(
      ['alertmanager', 'api', 'caddy', 'grafana', 'loki', 'migrate', 'models', 'ollama', 'postgres', 'postgres-exporter', 'prometheus', 'promtail', 'redis', 'redis-exporter', 'scheduler', 'socket-proxy', 'worker-gpu', 'worker-io', 'worker-ml'].sort(),
    );
    expect(Object.keys(gpu).sort()).toEqual([...Object.keys(s), 'ollama-gpu', 'ollama-pull'].sort());
    expect(composeConfig(['docker-compose.yml'], path.join(ROOT, 'deploy/.env.example')).services.postgres.environment!.POSTGRES_PASSWORD).toBe('change-me');
  });

  it('postgres and redis have healthchecks and volumes; redis never evicts queue keys', () => {
    expect(s.postgres.healthcheck!.test.join(' ')).toContain('pg_isready');
    expect(s.redis.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(JSON.stringify(s.postgres.volumes)).toContain('/var/lib/postgresql/data');
    expect(JSON.stringify(s.redis.volumes)).toContain('/data');
    expect(s.redis.command!.join(' ')).toContain('--maxmemory-policy noeviction');
  });

  it('migrate runs once before the roles; models is fetched before worker-gpu', () => {
    expect(s.migrate.entrypoint).toEqual(['tini', '--', 'node', 'services/dist/cli/main.js']);
    expect(s.migrate.command).toEqual(['db', 'migrate']);
    expect(s.migrate.restart).toBe('no');
    expect(s.migrate.depends_on!.postgres.condition).toBe('service_healthy');
    for (const role of ROLES) {
      expect(s[role].depends_on!.migrate, role).toEqual({ condition: 'service_completed_successfully' });
      expect(s[role].depends_on!.postgres.condition).toBe('service_healthy');
      expect(s[role].depends_on!.redis.condition).toBe('service_healthy');
    }
    expect(s['worker-gpu'].depends_on!.models).toEqual({ condition: 'service_completed_successfully' });
    // root only to hand the fresh volumes to uid 10001, then fetch-model.sh runs as that user
    expect(s.models.image).toBe(s.api.image);
    expect(s.models.entrypoint).toEqual(['/bin/sh', '/app/deploy/scripts/models-init.sh']);
    expect(JSON.stringify(s.models.volumes)).toMatch(/"target":\s*"\/models"|models:\/models/);
  });

  it('the image decides its own version and commit: compose passes no PODBRAIN_VERSION / GIT_SHA to the roles', () => {
    for (const role of [...ROLES, 'migrate']) {
      expect(s[role].environment, role).not.toHaveProperty('GIT_SHA');
      expect(s[role].environment, role).not.toHaveProperty('PODBRAIN_VERSION');
    }
  });

  it('the five roles run one image with their role, the env contract and the /healthz healthcheck', () => {
    const images = new Set(ROLES.map((r) => s[r].image));
    expect(images.size).toBe(1);
    expect([...images][0]).toBe('ghcr.io/podbrain/podbrain:latest');
    for (const role of ROLES) {
      expect(s[role].command, role).toEqual([role]);
      expect(s[role].environment!.PODBRAIN_ROLE).toBe(role);
      expect(s[role].healthcheck!.test).toEqual(['CMD', 'node', 'services/dist/telemetry/healthcheck.js']);
      const env = s[role].environment!;
      // the rest of the env contract comes from .env (env_file): see the next test
      for (const k of ['DATABASE_URL', 'REDIS_URL', 'DATA_DIR', 'MODELS_DIR', 'API_PORT', 'HEALTH_PORT']) {
        expect(env, `${role} ${k}`).toHaveProperty(k);
      }
    }
    expect(s.api.environment!.DATABASE_URL).toBe('postgres://podbrain:podbrain@postgres:5432/podbrain');
    expect(s.api.environment!.API_HEALTH_TARGETS.split(',').map((t) => t.split('=')[0])).toEqual(['scheduler', 'worker-io', 'worker-gpu', 'worker-ml']);
  });

  it('every setting of the typed config reaches the roles from .env (env_file), the layout compose fixes wins, and compose repeats no default of config.ts', () => {
    const LAYOUT: Record<string, string> = { DATABASE_URL: 'postgres://podbrain:podbrain@postgres:5432/podbrain', REDIS_URL: 'redis://redis:6379', DATA_DIR: '/data', MODELS_DIR: '/models', API_PORT: '8100', HEALTH_PORT: '9464' };
    const everySetting = path.join(tmp, 'every-setting.env');
    writeFileSync(everySetting, describeSettings().map((x) => `${x.env}=from-env-file-${x.env}`).join('\n') + '\n');
    // (only as the containers' env_file: marker values would not do as host ports)
    const services = composeConfig(['docker-compose.yml'], emptyEnv, everySetting).services;
    for (const name of [...ROLES, 'migrate']) {
      const env = services[name].environment!;
      for (const { env: key } of describeSettings()) {
        if (key in LAYOUT) expect(env[key], `${name} ${key}`).toBe(LAYOUT[key]);
        else if (key === 'PODBRAIN_ROLE') expect(env[key], name).toBe(name === 'migrate' ? 'cli' : name);
        else if (
          !(name === 'worker-gpu' && ['SHUTDOWN_GRACE_MS', 'GPU_METRICS_INTERVAL_S'].includes(key)) &&
          !(name === 'api' && key === 'API_HEALTH_TARGETS') &&
          !(name === 'scheduler' && ['PROMETHEUS_URL', 'LOKI_URL', 'DOCKER_PROXY_URL'].includes(key))
        ) {
          expect(env[key], `${name} ${key}`).toBe(`from-env-file-${key}`);
        }
      }
    }
    // the models service reads the same file (WHISPER_MODEL, ASR_ENGINES, WHISPER_MODEL_BASE_URL)
    expect(services.models.environment!.WHISPER_MODEL).toBe('from-env-file-WHISPER_MODEL');
    expect(services.models.environment!.MODELS_DIR).toBe('/models');
    // The file itself lists only what the containers' layout fixes plus each role's own
    // settings; everything else (and every default) comes from .env and config.ts.
    const raw = parseYaml(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as Record<string, unknown> & { services: Record<string, { environment?: Record<string, string> }> };
    expect(Object.keys(raw['x-podbrain-env'] as object).sort()).toEqual(Object.keys(LAYOUT).sort());
    const own = Object.fromEntries(Object.entries(raw.services).filter(([n]) => [...ROLES, 'migrate', 'models'].includes(n)).map(([n, svc]) => [n, Object.keys(svc.environment ?? {}).filter((k) => k !== '<<').sort()]));
    expect(own).toEqual({
      api: ['API_HEALTH_TARGETS', 'PODBRAIN_ROLE'],
      scheduler: ['DOCKER_PROXY_URL', 'LOKI_URL', 'PODBRAIN_ROLE', 'PROMETHEUS_URL'],
      'worker-io': ['PODBRAIN_ROLE'],
      'worker-gpu': ['GPU_METRICS_INTERVAL_S', 'PODBRAIN_ROLE', 'SHUTDOWN_GRACE_MS'],
      'worker-ml': ['PODBRAIN_ROLE'],
      migrate: ['PODBRAIN_ROLE'],
      models: ['DATA_DIR', 'MODELS_DIR'],
    });
    // without PODBRAIN_ENV_FILE compose takes .env beside docker-compose.yml
    expect(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')).toContain('env_file: ${PODBRAIN_ENV_FILE:-.env}');
  });

  it('restart policies and memory limits on every long-running service, no CPU limit a small box cannot satisfy; long stop grace for worker-gpu', () => {
    for (const [name, svc] of [...Object.entries(s), ...Object.entries(gpu)]) {
      // Docker refuses to create a container whose CPU limit exceeds the host's cores (a 2-core box)
      expect(svc.deploy?.resources?.limits?.cpus, `${name} has a CPU limit`).toBeUndefined();
    }
    for (const name of LONG_RUNNING) {
      expect(s[name].restart, name).toBe('unless-stopped');
      expect(s[name].deploy?.resources?.limits?.memory, name).toBeTruthy();
    }
    expect(s['worker-gpu'].stop_grace_period).toBe('120s');
    expect(Number(s['worker-gpu'].environment!.SHUTDOWN_GRACE_MS)).toBeLessThan(120_000);
  });

  it('caddy serves the viewer image, prometheus/loki/promtail/grafana mount the repo configs, ollama is an opt-in profile', () => {
    expect(s.caddy.build).toMatchObject({ dockerfile: 'deploy/Dockerfile', target: 'viewer' });
    expect(JSON.stringify(s.caddy.ports)).toMatch(/"target":\s*443|:443/);
    const mounts = (name: string) => JSON.stringify(s[name].volumes);
    expect(mounts('prometheus')).toContain('prometheus/prometheus.yml');
    expect(mounts('prometheus')).toContain('prometheus/rules');
    expect(mounts('loki')).toContain('loki/loki-config.yml');
    expect(mounts('promtail')).toContain('loki/promtail-config.yml');
    expect(mounts('grafana')).toContain('grafana/provisioning');
    expect(mounts('grafana')).toContain('grafana/dashboards');
    expect(s.ollama.profiles).toEqual(['ollama']);
    for (const f of ['prometheus/prometheus.yml', 'loki/loki-config.yml', 'loki/promtail-config.yml', 'deploy/scripts/fetch-model.sh']) expect(existsSync(path.join(ROOT, f)), f).toBe(true);
  });

  it('alertmanager renders its config from the environment at start and sends to the agent; the scheduler knows where Prometheus and Loki are', () => {
    const am = s.alertmanager;
    expect(am.entrypoint).toEqual(['/bin/sh', '/etc/alertmanager/entrypoint.sh']);
    expect(JSON.stringify(am.volumes)).toMatch(/alertmanager.*\/etc\/alertmanager/);
    expect(am.environment!.AGENT_WEBHOOK_URL).toBe('http://api:8100/api/admin/alerts');
    for (const k of ['AGENT_WEBHOOK_TOKEN', 'AUTH_API_KEY', 'ALERTMANAGER_WEBHOOK_URL', 'NOTIFY_EMAIL_TO', 'SMTP_HOST']) expect(am.environment, k).toHaveProperty(k);
    expect(am.healthcheck!.test.join(' ')).toContain('/-/ready');
    for (const f of ['alertmanager/entrypoint.sh', 'alertmanager/alertmanager.yml.tmpl']) expect(existsSync(path.join(ROOT, f)), f).toBe(true);
    expect(s.scheduler.environment).toMatchObject({ PROMETHEUS_URL: 'http://prometheus:9090', LOKI_URL: 'http://loki:3100' });
    // .env's values reach Alertmanager (compose reads the same file as --env-file)
    const envFile = path.join(tmp, 'alerting.env');
    writeFileSync(envFile, 'AGENT_WEBHOOK_TOKEN=tok\nALERTMANAGER_WEBHOOK_URL=https://hooks.example.org/a\nPROMETHEUS_URL=http://elsewhere:9090\n');
    const withEnv = composeConfig(['docker-compose.yml'], envFile).services;
    expect(withEnv.alertmanager.environment).toMatchObject({ AGENT_WEBHOOK_TOKEN: 'tok', ALERTMANAGER_WEBHOOK_URL: 'https://hooks.example.org/a' });
    expect(withEnv.scheduler.environment!.PROMETHEUS_URL).toBe('http://elsewhere:9090');
    // the offline override swaps in the Debian stand-in (deploy/ci/base-images.sh builds it)
    const offline = composeConfig(['docker-compose.yml', 'deploy/ci/compose.offline.yml']).services;
    expect(offline.alertmanager.image).toBe('podbrain-local/alertmanager:0');
    expect(offline.alertmanager.entrypoint).toEqual(am.entrypoint);
  });

  it('the socket proxy: the podbrain image, the engine socket read-only and nothing else, no ports, on an internal network only the scheduler shares', () => {
    const p = s['socket-proxy'];
    expect(p.image).toBe(s.api.image);
    expect(p.entrypoint).toEqual(['tini', '--', 'node', 'services/dist/control/socket-proxy-main.js']);
    expect(p.volumes).toEqual(['/var/run/docker.sock:/var/run/docker.sock:ro']);
    expect(p.ports).toBeUndefined();
    expect(p).toMatchObject({ user: '0:0', read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] });
    expect(Object.keys(p.networks!)).toEqual(['control']);
    expect(p.deploy!.resources!.limits!.memory).toBe('64m');
    expect(p.healthcheck!.test.join(' ')).toContain('http://127.0.0.1:2375/_ping');
    expect(base.networks!.control).toEqual({ internal: true });
    const onControl = Object.entries(s).filter(([, svc]) => svc.networks && 'control' in svc.networks).map(([n]) => n);
    expect(onControl.sort()).toEqual(['scheduler', 'socket-proxy']);
    expect(Object.keys(s.scheduler.networks!).sort()).toEqual(['control', 'default']);
    expect(s.scheduler.environment!.DOCKER_PROXY_URL).toBe('http://socket-proxy:2375');
    // the only other service with the engine socket is promtail (read-only, for container logs)
    const withSocket = Object.entries(s).filter(([, svc]) => JSON.stringify(svc.volumes ?? []).includes('docker.sock')).map(([n]) => n);
    expect(withSocket.sort()).toEqual(['promtail', 'socket-proxy']);
    expect(existsSync(path.join(ROOT, 'services/src/control/socket-proxy-main.ts'))).toBe(true);
  });

  it('the GPU override reserves NVIDIA GPUs for worker-gpu and ollama and runs the CUDA image', () => {
    for (const name of ['worker-gpu', 'ollama']) {
      expect(gpu[name].deploy!.resources!.reservations!.devices![0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    }
    expect(gpu['worker-gpu'].image).toBe('ghcr.io/podbrain/podbrain-cuda:latest');
    expect(gpu['worker-gpu'].build!.dockerfile).toBe('deploy/Dockerfile.cuda');
    expect(gpu['worker-gpu'].environment!.GPU_REQUIRED).toBe('true');
    expect(Number(gpu['worker-gpu'].environment!.GPU_METRICS_INTERVAL_S)).toBeGreaterThan(0);
    expect(gpu['worker-gpu'].stop_grace_period).toBe('120s'); // kept from the base file
    expect(gpu['worker-io'].deploy?.resources?.reservations).toBeUndefined();
  });

  it('the GPU override runs Ollama on the GPU without a profile, pulls OLLAMA_MODEL once, and points the roles at it; .env wins', () => {
    expect(Object.keys(s)).not.toContain('ollama-gpu');
    expect(gpu['ollama-gpu'].profiles).toBeUndefined();
    expect(gpu['ollama-gpu'].deploy!.resources!.reservations!.devices![0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(gpu['ollama-gpu'].volumes).toContainEqual(expect.stringMatching(/^ollama:\/root\/\.ollama/));
    const pull = gpu['ollama-pull'];
    expect(pull.restart).toBe('no');
    expect(pull.profiles).toBeUndefined();
    expect(pull.environment).toMatchObject({ OLLAMA_HOST: 'http://ollama-gpu:11434', OLLAMA_MODEL: 'qwen2.5:3b-instruct' });
    expect(pull.command!.join(' ')).toMatch(/ollama pull "\$\$OLLAMA_MODEL" \|\|/); // a failed pull never fails the stack
    expect(pull.depends_on!['ollama-gpu']).toEqual({ condition: 'service_healthy' });
    expect(gpu['worker-ml'].depends_on!['ollama-pull']).toEqual({ condition: 'service_completed_successfully' });
    for (const role of ROLES) {
      expect(gpu[role].environment, role).toMatchObject({ OPENAI_BASE_URL: 'http://ollama-gpu:11434/v1', LLM_MODEL: 'qwen2.5:3b-instruct' });
      expect(s[role].environment!.OPENAI_BASE_URL, role).toBeUndefined(); // the CPU box stays extractive by default
    }
    const own = path.join(tmp, 'own-llm.env');
    writeFileSync(own, 'OLLAMA_MODEL=llama3.2:3b\nOPENAI_BASE_URL=http://llm.example:8080/v1\n');
    const custom = composeConfig(['docker-compose.yml', 'docker-compose.gpu.yml'], own).services;
    expect(custom['ollama-pull'].environment!.OLLAMA_MODEL).toBe('llama3.2:3b');
    for (const role of ROLES) expect(custom[role].environment, role).toMatchObject({ OPENAI_BASE_URL: 'http://llm.example:8080/v1', LLM_MODEL: 'llama3.2:3b' });
  });

  it('.env.example documents every setting of the typed config and every variable the compose files use', () => {
    const example = readFileSync(path.join(ROOT, 'deploy/.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const missing = describeSettings().map((x) => x.env).filter((e) => !documented.has(e));
    expect(missing).toEqual([]);
    const composeText = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8') + readFileSync(path.join(ROOT, 'docker-compose.gpu.yml'), 'utf8');
    const code = composeText.replace(/^\s*#.*$/gm, '');
    const used = new Set([...code.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((v) => !documented.has(v))).toEqual([]);
  });
});

describe('images and front door', () => {
  it('Dockerfile: multi-stage build on node:22, non-root, tini, HEALTHCHECK, role as CMD; CUDA variant builds whisper with CUDA', () => {
    const df = readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8');
    expect(df).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    expect(df).toMatch(/^ARG RUNTIME_IMAGE=debian:bookworm-slim$/m);
    expect(df).toMatch(/^ARG CADDY_IMAGE=caddy:2\.8-alpine$/m);
    expect([...df.matchAll(/^FROM (\S+)(?: AS (\w+))?/gm)].map((m) => m[2] ?? m[1])).toEqual(['node', 'build', 'runtime', 'viewer', 'runtime']);
    for (const pkg of ['cmake', 'g++', 'python3', 'libfaiss-dev', 'libopenblas-dev', 'liblapack-dev']) expect(df).toContain(pkg);
    expect(df).toContain('RUN npm ci --ignore-scripts');
    expect(df).toMatch(/ENV WHISPER_NATIVE=0[\s\S]*npm run build:native[\s\S]*npm run build[\s\S]*npm prune --omit=dev/);
    for (const pkg of ['ffmpeg', 'tini', 'libopenblas0-pthread', 'libgomp1']) expect(df).toContain(pkg);
    expect(df).toMatch(/^USER podbrain$/m);
    expect(df).toMatch(/^HEALTHCHECK .*\n\s+CMD \["node", "services\/dist\/telemetry\/healthcheck.js"\]$/m);
    expect(df).toContain('ENTRYPOINT ["tini", "--", "node", "--require", "./services/dist/telemetry/register.js", "services/dist/main.js"]');
    expect(df).toMatch(/^CMD \["api"\]$/m);
    expect(df).toContain('/usr/local/bin/podbrain'); // `podbrain <command>` in the image, as the README says
    // the build-time version and commit are the image's (compose no longer overrides them)
    expect(df).toMatch(/ARG GIT_SHA=unknown\nENV PODBRAIN_VERSION=\$\{PODBRAIN_VERSION\} \\\n\s+GIT_SHA=\$\{GIT_SHA\}/);
    expect(df).toContain('COPY --from=build /app/web/dist /srv');
    // every path the runtime stage copies out of the build is one our build really produces
    for (const m of df.matchAll(/^COPY --from=build \S+ \/app\/(\S+) /gm)) {
      expect(existsSync(path.join(ROOT, m[1])), `build output ${m[1]} (run npm run build:native && npm run build)`).toBe(true);
    }
    const cuda = readFileSync(path.join(ROOT, 'deploy/Dockerfile.cuda'), 'utf8');
    expect(cuda).toMatch(/ARG CUDA_DEVEL=nvidia\/cuda:\$\{CUDA_VERSION\}-devel/);
    expect(cuda).toMatch(/ARG CUDA_RUNTIME=nvidia\/cuda:\$\{CUDA_VERSION\}-runtime/);
    expect(cuda).toMatch(/WHISPER_CUDA=1/);
    expect(cuda).toMatch(/^CMD \["worker-gpu"\]$/m);
    expect(cuda).toMatch(/^USER podbrain$/m);
    // node-gyp builds the FAISS addon in the CUDA build stage: Node's headers must be there
    expect(cuda).toContain('COPY --from=node /usr/local/include/node /usr/local/include/node');
    expect(cuda).toContain('/usr/local/bin/podbrain');
    for (const [name, text] of [['Dockerfile', df], ['Dockerfile.cuda', cuda]]) {
      // no BuildKit-only syntax: the classic builder (DOCKER_BUILDKIT=0) must build it, and no frontend pull
      expect(text, name).not.toMatch(/^# syntax=/m);
      expect(text, name).not.toMatch(/RUN --mount|COPY --link|<<EOF/);
      // npm 11 (honours allowScripts) and no dependency install script at all: native code is built by our own scripts
      expect(text, name).toMatch(/npm install -g [^\n]*npm@11/);
      for (const m of text.matchAll(/npm (ci|prune)\b[^\n]*/g)) expect(m[0], name).toContain('--ignore-scripts');
      expect(text, name).toContain('COPY deploy/certs/ /usr/local/share/ca-certificates/podbrain-extra/');
    }
  });

  it('.dockerignore (the only ignore file the classic builder reads) keeps secrets, state and build output out of the context', () => {
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['.env', '.git', '**/node_modules', '**/dist', 'deploy/.state', 'deploy/backups', 'services/native/whisper/build']) expect(ignore, p).toContain(p);
    expect(ignore).not.toContain('deploy/certs');
    expect(existsSync(path.join(ROOT, 'deploy/Dockerfile.dockerignore'))).toBe(false); // BuildKit-only; would silently differ
  });

  it('Caddyfile passes caddy validate; DOMAIN switches from plain :80 to automatic HTTPS', () => {
    const file = path.join(ROOT, 'deploy/Caddyfile');
    const run = (env: Record<string, string>, ...args: string[]) =>
      spawnSync('caddy', [...args, '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmp, ...env } });
    for (const env of [{}, { DOMAIN: 'podcasts.example.org' }] as Record<string, string>[]) {
      const r = run(env, 'validate');
      expect(r.stderr + r.stdout).toContain('Valid configuration');
      expect(r.status).toBe(0);
    }
    const listen = (env: Record<string, string>) => {
      const cfg = JSON.parse(run(env, 'adapt').stdout) as { apps: { http: { servers: Record<string, { listen: string[] }> } } };
      return Object.values(cfg.apps.http.servers).flatMap((x) => x.listen);
    };
    expect(listen({})).toEqual([':80']);
    // compose never passes an empty DOMAIN (Caddy's default applies only when unset): ":80" instead
    const envFile = path.join(tmp, 'empty-domain.env');
    writeFileSync(envFile, 'DOMAIN=\n');
    const caddyEnv = composeConfig(['docker-compose.yml'], envFile).services.caddy.environment!;
    expect(caddyEnv.DOMAIN).toBe(':80');
    expect(listen({ DOMAIN: caddyEnv.DOMAIN })).toEqual([':80']);
    expect(composeConfig(['docker-compose.yml']).services.caddy.environment!.DOMAIN).toBe(':80');
    expect(listen({ DOMAIN: 'podcasts.example.org' })).toEqual([':443']);
    const adapted = run({}, 'adapt').stdout;
    expect(adapted).toContain('"api:8100"');
    expect(adapted).toContain('"/api/*"');
    expect(adapted).toContain('index.html');
  });
});

describe('fetch-model.sh (the appliance\'s only download)', () => {
  let hits = 0;
  let answer = Buffer.concat([Buffer.from('lmgg', 'latin1'), Buffer.alloc(4096, 7)]);
  const server = http.createServer((req, res) => {
    hits++;
    if (req.url !== '/ggml-tiny.en.bin') return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-length': answer.length }).end(answer);
  });
  afterAll(() => void server.close());
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      execFile('sh', [path.join(ROOT, 'deploy/scripts/fetch-model.sh')], { env: { PATH: process.env.PATH!, ...env } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });

  it('downloads a missing model once, checks its header, skips when whisper-cpp is not used', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const modelsDir = path.join(tmp, 'models');
    const env = { MODELS_DIR: modelsDir, WHISPER_MODEL: 'tiny.en', WHISPER_MODEL_BASE_URL: base, ASR_ENGINES: 'feed,whisper-cpp' };
    const first = await run(env);
    expect(first.out).toContain('saved');
    expect(first.code).toBe(0);
    expect(readFileSync(path.join(modelsDir, 'ggml-tiny.en.bin')).subarray(0, 4).toString('latin1')).toBe('lmgg');
    const again = await run(env);
    expect(again.out).toContain('nothing to do');
    expect(hits).toBe(1);
    answer = Buffer.from('<html>rate limited</html>');
    const bad = await run({ ...env, MODELS_DIR: path.join(tmp, 'models2') });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('bad header');
    expect(existsSync(path.join(tmp, 'models2', 'ggml-tiny.en.bin'))).toBe(false);
    const skip = await run({ ...env, ASR_ENGINES: 'feed,openai', MODELS_DIR: path.join(tmp, 'models3') });
    expect(skip.out).toContain('nothing to fetch');
    expect((await run({ ...env, WHISPER_MODEL: '../etc/passwd' })).code).toBe(2);
  });
});
