import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrationDataSource, migrateUp } from '../src/db/migrate';
import { testEmbeddingModel } from './support/embedding-model';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPTS = path.join(ROOT, 'deploy/scripts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-scripts-'));
const servers: http.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

/** Runs a script asynchronously (stub servers answer from this process). */
function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(SCRIPTS, script), args, { env: { PATH: process.env.PATH!, HOME: tmp, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A /healthz stand-in whose answer the test controls. */
async function healthServer(answer: () => { code: number; status: string }): Promise<string> {
  const s = http.createServer((req, res) => {
    const a = answer();
    res.writeHead(a.code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: a.status, role: 'x', checks: { postgres: { status: 'healthy', latency_ms: 1 } }, uptime_seconds: 1 }));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/healthz`;
}

describe('deploy scripts', () => {
  it('are shellcheck-clean', () => {
    const files = readdirSync(SCRIPTS).filter((f) => f.endsWith('.sh'));
    expect(files).toEqual(expect.arrayContaining(['deploy.sh', 'rollback.sh', 'backup-db.sh', 'restore-db.sh', 'backup.sh', 'restore.sh', 'data-archive.sh', 'health-check.sh', 'fetch-model.sh', 'models-init.sh']));
    const r = spawnSync('shellcheck', files, { cwd: SCRIPTS, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('health-check.sh: 0 when every role is healthy or degraded, 1 when one is unhealthy or silent; --strict and --wait', async () => {
    const healthy = await healthServer(() => ({ code: 200, status: 'healthy' }));
    const degraded = await healthServer(() => ({ code: 200, status: 'degraded' }));
    const unhealthy = await healthServer(() => ({ code: 503, status: 'unhealthy' }));
    const ok = await run('health-check.sh', [], { HEALTH_TARGETS: `api=${healthy} worker-ml=${degraded}` });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^api\s+healthy\s+200$/m);
    expect(ok.stdout).toMatch(/^worker-ml\s+degraded\s+200$/m);
    expect((await run('health-check.sh', ['--strict'], { HEALTH_TARGETS: `api=${healthy} worker-ml=${degraded}` })).code).toBe(1);
    const bad = await run('health-check.sh', [], { HEALTH_TARGETS: `api=${healthy} worker-gpu=${unhealthy}` });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^worker-gpu\s+unhealthy\s+503$/m);
    const silent = await run('health-check.sh', [], { HEALTH_TARGETS: 'scheduler=http://127.0.0.1:1/healthz' });
    expect(silent.code).toBe(1);
    expect(silent.stdout).toMatch(/^scheduler\s+unreachable/m);
    // becomes healthy after ~1 s: --wait 10 succeeds
    const readyAt = Date.now() + 1000;
    const late = await healthServer(() => (Date.now() > readyAt ? { code: 200, status: 'healthy' } : { code: 503, status: 'unhealthy' }));
    expect((await run('health-check.sh', ['--wait', '10'], { HEALTH_TARGETS: `api=${late}`, HEALTH_RETRY_S: '0.3' })).code).toBe(0);
    expect((await run('health-check.sh', ['--wait', 'soon'], {})).code).toBe(2);
  });

  describe('deploy.sh / rollback.sh with a recording stand-in for docker', () => {
    const dir = path.join(tmp, 'deploy');
    const bin = path.join(dir, 'bin');
    const logFile = path.join(dir, 'docker.log');
    const apiTagFile = path.join(dir, 'api-tag');
    const envFile = path.join(dir, '.env');
    const stateDir = path.join(dir, 'state');
    let env: Record<string, string>;

    beforeAll(async () => {
      mkdirSync(bin, { recursive: true });
      // Records "<PODBRAIN_TAG> <args>"; `up … api caddy` makes the api run that tag; FAKE_DOCKER_FAIL fails a matching call.
      writeFileSync(
        path.join(bin, 'docker'),
        `#!/usr/bin/env bash
args="$*"
# not recorded: Compose v2 detection, and the health wait's container look-ups
case "$args" in
  "compose version") [[ -n "\${FAKE_NO_COMPOSE_V2:-}" ]] && exit 1; exit 0 ;;
  inspect*) echo healthy; exit 0 ;;
  *" ps -q "*) echo "cid-\${args##* }"; exit 0 ;;
esac
# like compose: the shell's PODBRAIN_TAG wins, else the --env-file's
tag="\${PODBRAIN_TAG:-}"
re='--env-file ([^ ]+)'
if [[ -z "$tag" && "$args" =~ $re ]]; then tag=$(grep -E '^PODBRAIN_TAG=' "\${BASH_REMATCH[1]}" | tail -n 1 | cut -d= -f2); fi
echo "\${tag:-unset} \${args#*docker-compose.yml }" >> "$FAKE_DOCKER_LOG"
if [[ -n "\${FAKE_DOCKER_FAIL:-}" && "$args" == *"$FAKE_DOCKER_FAIL"* ]]; then exit 1; fi
case "$args" in
  *" images") echo "podbrain-api-1 ghcr.io/podbrain/podbrain \${tag:-unset} sha256:0123" ;;
  *" up -d --no-deps api caddy") echo "$tag" > "$FAKE_API_TAG" ;;
esac
exit 0
`,
      );
      chmodSync(path.join(bin, 'docker'), 0o755);
      // Compose v1 stand-in: records that it was used, then behaves like the v2 stand-in
      writeFileSync(path.join(bin, 'docker-compose'), `#!/usr/bin/env bash\necho "$*" >> "$FAKE_DOCKER_LOG.v1"\nexec "$(dirname "$0")/docker" "$@"\n`);
      chmodSync(path.join(bin, 'docker-compose'), 0o755);
      writeFileSync(envFile, 'POSTGRES_PASSWORD=secret\nPODBRAIN_TAG=v1\n');
      writeFileSync(apiTagFile, 'v1\n');
      // The api is unhealthy whenever it runs the tag "v-bad".
      const url = await healthServer(() =>
        readFileSync(apiTagFile, 'utf8').trim() === 'v-bad' ? { code: 503, status: 'unhealthy' } : { code: 200, status: 'healthy' },
      );
      env = {
        PATH: `${bin}:${process.env.PATH}`,
        ENV_FILE: envFile,
        DEPLOY_STATE_DIR: stateDir,
        FAKE_DOCKER_LOG: logFile,
        FAKE_API_TAG: apiTagFile,
        HEALTH_TARGETS: `api=${url}`,
        HEALTH_TIMEOUT_S: '2',
        HEALTH_RETRY_S: '0.3',
      };
    });

    const calls = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n') : []);
    const clearCalls = () => writeFileSync(logFile, '');
    const envTag = () => /^PODBRAIN_TAG=(.*)$/m.exec(readFileSync(envFile, 'utf8'))?.[1];

    const ORDER = ['up -d postgres redis', 'run --rm migrate', 'up -d --no-deps worker-io worker-gpu worker-ml scheduler', 'up -d --no-deps api caddy'];

    it('deploys in order infrastructure → migrate → workers → api, passes the health gate and remembers the previous tag', async () => {
      clearCalls();
      const r = await run('deploy.sh', ['v2'], env);
      expect(r.stderr).toContain('deploy of v2 healthy');
      expect(r.code).toBe(0);
      expect(calls()).toEqual(['v1 images', 'v2 pull', ...ORDER.map((c) => `v2 ${c}`)]);
      expect(calls()[0]).toMatch(/^v1 /); // images recorded before switching
      expect(envTag()).toBe('v2');
      expect(readFileSync(envFile, 'utf8')).toContain('POSTGRES_PASSWORD=secret'); // the rest of .env untouched
      expect(readFileSync(path.join(stateDir, 'previous-tag'), 'utf8').trim()).toBe('v1');
      expect(readFileSync(path.join(stateDir, 'current-tag'), 'utf8').trim()).toBe('v2');
      expect(readFileSync(path.join(stateDir, 'previous-images.txt'), 'utf8')).toContain('ghcr.io/podbrain/podbrain v1');
    });

    it('rolls back automatically when the new release fails the health gate', async () => {
      clearCalls();
      const r = await run('deploy.sh', ['v-bad'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('failed the health gate: rolling back to v2');
      expect(calls()).toEqual([
        'v2 images',
        'v-bad pull',
        ...ORDER.map((c) => `v-bad ${c}`),
        // rollback: same order, previous tag, no migrations
        ...ORDER.filter((c) => !c.includes('migrate')).map((c) => `v2 ${c}`),
      ]);
      expect(envTag()).toBe('v2');
      expect(readFileSync(apiTagFile, 'utf8').trim()).toBe('v2');
      const history = readFileSync(path.join(stateDir, 'history'), 'utf8');
      expect(history).toMatch(/deploy-failed v-bad \(health gate\)[\s\S]*rollback-ok v2/);
    });

    it('a failed pull changes nothing; rollback.sh alone returns to the remembered tag; bad tags are refused', async () => {
      clearCalls();
      const pull = await run('deploy.sh', ['v3'], { ...env, FAKE_DOCKER_FAIL: 'pull' });
      expect(pull.code).toBe(1);
      expect(pull.stderr).toContain('nothing was restarted');
      expect(calls()).toEqual(['v2 images', 'v3 pull']);
      expect(envTag()).toBe('v2');

      // previous-tag is v2 now (remembered by the failed attempt); deploy v4 then roll back by hand
      expect((await run('deploy.sh', ['v4'], env)).code).toBe(0);
      clearCalls();
      const rb = await run('rollback.sh', [], env);
      expect(rb.code).toBe(0);
      expect(calls()).toEqual(ORDER.filter((c) => !c.includes('migrate')).map((c) => `v2 ${c}`));
      expect(envTag()).toBe('v2');

      const evil = await run('deploy.sh', ['v1;rm -rf /'], env);
      expect(evil.code).toBe(1);
      expect(evil.stderr).toContain('invalid image tag');
    });

    it('works with Compose v1 (docker-compose) when v2 is missing, waiting for health itself (v1 has no `up --wait`)', async () => {
      clearCalls();
      const r = await run('deploy.sh', ['v6'], { ...env, FAKE_NO_COMPOSE_V2: '1' });
      expect(r.stderr).toContain('deploy of v6 healthy');
      expect(r.code).toBe(0);
      const v1 = readFileSync(`${logFile}.v1`, 'utf8');
      expect(v1).toContain('up -d postgres redis');
      expect(v1).toMatch(/ps -q postgres[\s\S]*ps -q redis/);
      expect(calls().join('\n')).not.toContain('--wait');
    });

    it('the infrastructure health wait fails the deploy (and rolls back) when postgres never becomes healthy', async () => {
      const fakeInspect = path.join(bin, 'docker');
      const original = readFileSync(fakeInspect, 'utf8');
      writeFileSync(fakeInspect, original.replace('inspect*) echo healthy;', 'inspect*) [[ -n "${FAKE_UNHEALTHY:-}" ]] && echo unhealthy || echo healthy;'));
      try {
        const r = await run('deploy.sh', ['v7'], { ...env, FAKE_UNHEALTHY: '1', WAIT_HEALTHY_S: '1', WAIT_HEALTHY_RETRY_S: '0.2' });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('not healthy in time: postgres=unhealthy redis=unhealthy');
      } finally {
        writeFileSync(fakeInspect, original);
      }
    });
  });

  describe('models-init.sh (entry point of the compose service `models`)', () => {
    const asRoot = process.getuid?.() === 0;
    it.skipIf(!asRoot)('hands root-owned fresh volumes to uid 10001 and fetches the model as that user', async () => {
      const base = path.join(tmp, 'models-init');
      const models = path.join(base, 'models');
      const data = path.join(base, 'data');
      const origin = path.join(base, 'origin');
      for (const d of [base, models, data, origin]) mkdirSync(d, { recursive: true });
      for (const d of [tmp, base, origin]) chmodSync(d, 0o755); // uid 10001 must reach them
      writeFileSync(path.join(origin, 'ggml-tiny.bin'), Buffer.concat([Buffer.from('lmgg', 'latin1'), Buffer.alloc(1024, 1)]));
      chmodSync(path.join(origin, 'ggml-tiny.bin'), 0o644);
      // The embedding model's files, as a Hugging Face revision lays them out.
      const embedding = testEmbeddingModel();
      mkdirSync(path.join(origin, 'onnx'), { recursive: true });
      chmodSync(path.join(origin, 'onnx'), 0o755);
      for (const [from, to] of [['model.onnx', 'onnx/model_quantized.onnx'], ['tokenizer.json', 'tokenizer.json'], ['config.json', 'config.json']]) {
        writeFileSync(path.join(origin, to), readFileSync(path.join(embedding, from)));
        chmodSync(path.join(origin, to), 0o644);
      }
      const sha = createHash('sha256').update(readFileSync(path.join(embedding, 'model.onnx'))).digest('hex');
      const r = await run('models-init.sh', [], {
        MODELS_DIR: models,
        DATA_DIR: data,
        WHISPER_MODEL: 'tiny',
        WHISPER_MODEL_BASE_URL: `file://${origin}`,
        ASR_ENGINES: 'feed,whisper-cpp',
        EMBEDDINGS_MODEL_URL: `file://${origin}`,
        EMBEDDINGS_MODEL_SHA256: sha,
      });
      expect(r.stdout + r.stderr).toContain('fetch-model: saved');
      expect(r.stdout + r.stderr).toContain('fetch-embeddings-model: saved');
      expect(r.code).toBe(0);
      const embeddingFile = path.join(models, 'embeddings', 'all-MiniLM-L6-v2', 'model.onnx');
      for (const p of [models, data, path.join(models, 'ggml-tiny.bin'), embeddingFile]) expect(statSync(p).uid, p).toBe(10001);
      // Offline (the embedding model cannot be had): not fatal, the whisper model still comes.
      rmSync(path.join(models, 'embeddings'), { recursive: true });
      const offline = await run('models-init.sh', [], { MODELS_DIR: models, DATA_DIR: data, WHISPER_MODEL: 'tiny', WHISPER_MODEL_BASE_URL: `file://${origin}`, ASR_ENGINES: 'feed,whisper-cpp', EMBEDDINGS_MODEL_URL: `file://${origin}/missing` });
      expect(offline.code).toBe(0);
      expect(offline.stdout + offline.stderr).toContain('search uses hash embeddings until it is');
    });
    if (!asRoot) console.log('[deploy-scripts] models-init.sh ownership test skipped: needs root to chown');
  });

  describe('backup → wipe → restore on the local Postgres (database podbrain_test_d)', () => {
    const ADMIN = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    const DB = 'podbrain_test_d';
    const url = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
    const backupDir = path.join(tmp, 'backups');

    async function admin(sql: string) {
      const c = new Client({ connectionString: ADMIN });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    }
    async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query(sql)).rows as T[];
      } finally {
        await c.end();
      }
    }
    const snapshot = async () => ({
      tables: (await query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)).map((r) => r.t),
      rows: (await query<{ n: string; digest: string }>(`SELECT count(*) AS n, md5(string_agg(id || ':' || body || ':' || weights::text, ',' ORDER BY id)) AS digest FROM d_roundtrip`))[0],
      migrations: (await query<{ n: string }>(`SELECT count(*) AS n FROM schema_migrations`))[0].n,
    });

    beforeAll(async () => {
      await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
      await admin(`CREATE DATABASE ${DB}`);
      const ds = await createMigrationDataSource(url, { poolSize: 1 }).initialize();
      await migrateUp(ds); // the real schema, so the dump covers our tables, indexes and tsvector columns
      await ds.destroy();
      await query(`CREATE TABLE d_roundtrip (id serial PRIMARY KEY, body text NOT NULL, weights float8[] NOT NULL)`);
      await query(`INSERT INTO d_roundtrip (body, weights) SELECT 'episode ' || g || ' — naïve “quotes”', ARRAY[g * 0.5, g / 3.0] FROM generate_series(1, 2000) g`);
    });
    afterAll(async () => {
      await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`).catch(() => undefined);
    });

    it('restores exactly what was backed up, keeps only BACKUP_KEEP files and refuses without --yes', async () => {
      const before = await snapshot();
      expect(before.tables.length).toBeGreaterThan(10);
      expect(Number(before.rows.n)).toBe(2000);
      const env = { DATABASE_URL: url, BACKUP_DIR: backupDir, BACKUP_KEEP: '2' };
      const made: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await run('backup-db.sh', [], env);
        expect(r.stderr).toContain('backup written');
        expect(r.code).toBe(0);
        made.push(r.stdout.trim());
      }
      const kept = readdirSync(backupDir).sort();
      expect(kept).toHaveLength(2);
      expect(kept).toEqual(made.slice(1).map((f) => path.basename(f)).sort()); // the oldest was rotated out

      await query(`DROP SCHEMA public CASCADE; CREATE SCHEMA public;`);
      expect((await query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`))[0]).toEqual({ n: 0 });

      const refused = await run('restore-db.sh', [made[2]], { DATABASE_URL: url });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('re-run with --yes');
      const restored = await run('restore-db.sh', [made[2], '--yes'], { DATABASE_URL: url });
      expect(restored.stderr).toContain('restored');
      expect(restored.code).toBe(0);
      expect(await snapshot()).toEqual(before);

      const junk = path.join(tmp, 'junk.dump');
      writeFileSync(junk, 'not a dump');
      const bad = await run('restore-db.sh', [junk, '--yes'], { DATABASE_URL: url });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('not a pg_dump custom-format archive');
    });
  });
});
