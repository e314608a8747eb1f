import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config';
import { silentLogger } from '../src/core/logger';
import { openMigrationDataSource, migrateUp } from '../src/db/migrate';
import { jobHandlers } from '../src/jobs/handlers';
import { StageJobs } from '../src/jobs/stage.jobs';
import { QUEUE_NAMES } from '../src/queue/queues';
import { WorkerHost } from '../src/queue/worker-host';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { Scheduler } from '../src/scheduler/scheduler';
import { call, startApi } from './api-support';
import { addFeed } from './support/db';
import { fixture } from './support/fixtures';
import { serveBody, serveFile, startFixtureServer, type FixtureServer } from './support/http-fixture-server';
import { TOPICS } from './support/index-corpus';
import { createTestDatabase } from './support/pg';
import { clearRedisPrefix, tempDir, waitFor } from './support/stack';

/**
 * deploy/scripts/backup.sh and restore.sh on a real library: stage mode in process (the real
 * stages: ingest downloads fixture audio, transcribe takes the publisher's SRT, extractive enrich,
 * hash-embedding index + FAISS) on real Postgres/Redis/BullMQ, the api for search. Backed up,
 * both the database and DATA_DIR wiped, restored: the same episodes done, the same search hits,
 * and no stage runs again.
 */
const SCRIPTS = path.resolve(__dirname, '../../deploy/scripts');
const ADMIN = process.env.PODBRAIN_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const STAGES = ['ingest', 'transcribe', 'enrich', 'index'] as const;
const QUERIES = ['black hole telescope', 'sourdough starter flour', 'goalkeeper penalty', 'galaxy merger gravitational waves'];

function script(name: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(SCRIPTS, name), args, { env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function srt(sentences: string[]): string {
  const t = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace('.', ',');
  return sentences.map((s, i) => `${i + 1}\n${t(i * 4000)} --> ${t(i * 4000 + 3900)}\n${s}\n`).join('\n');
}

/** Three feeds (one per topic) of two episodes, each with audio (fixture clips) and a publisher SRT. */
async function startLibraryFeeds(): Promise<{ server: FixtureServer; feedUrls: string[] }> {
  const server = await startFixtureServer();
  const feedUrls: string[] = [];
  let i = 0;
  for (const [topic, sentences] of Object.entries(TOPICS)) {
    const items: string[] = [];
    for (const part of [1, 2]) {
      const text = part === 1 ? sentences : [...sentences.slice(5), ...sentences.slice(0, 5)];
      server.route(`/t/${i}.srt`, serveBody(srt(text), { contentType: 'application/x-subrip' }));
      server.route(`/a/${i}.ogg`, serveFile(fixture('audio', `fleurs-en-00${i % 7}.ogg`), { contentType: 'audio/ogg', ranges: true }));
      items.push(
        `<item><guid>${topic}-${part}</guid><title>${topic} part ${part}</title><pubDate>Mon, 0${i + 1} Jan 2024 10:00:00 GMT</pubDate>` +
          `<enclosure url="${server.url(`/a/${i}.ogg`)}" type="audio/ogg" length="1000"/><podcast:transcript url="${server.url(`/t/${i}.srt`)}" type="application/x-subrip"/></item>`,
      );
      i++;
    }
    server.route(
      `/${topic}.xml`,
      serveBody(`<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>${topic} show</title><link>https://example.com/</link><description>d</description>${items.join('')}</channel></rss>`, {
        contentType: 'application/rss+xml',
        etag: true,
      }),
    );
    feedUrls.push(server.url(`/${topic}.xml`));
  }
  return { server, feedUrls };
}

interface Box {
  ctx: RoleContext;
  pipeline: StageJobs;
  api: Awaited<ReturnType<typeof startApi>>;
  stop(): Promise<void>;
}

/** The appliance's roles in this process: scheduler, workers on every queue, api. */
async function startBox(config: Config): Promise<Box> {
  const ctx = await createRoleContext(config, { log: silentLogger, poolSize: 4 });
  const pipeline = new StageJobs(ctx);
  const host = new WorkerHost(ctx, jobHandlers(ctx, pipeline), { queues: QUEUE_NAMES, connection: ctx.redis, prefix: ctx.queues.prefix, lockMs: config.queue.lockMs, shutdownGraceMs: 5000 });
  const scheduler = new Scheduler(ctx, pipeline, ctx.queues, ctx.redis);
  host.start();
  scheduler.start();
  const api = await startApi({ ...config, apiPort: 0, role: 'api' });
  return {
    ctx,
    pipeline,
    api,
    async stop() {
      await api.close();
      await scheduler.stop();
      await host.close();
      await ctx.close();
    },
  };
}

/** Recursively: relative path → sha256 of every regular file (the audio files counted apart). */
function treeDigest(root: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const rel = path.relative(root, full);
      if (rel === 'tmp' || skip(rel)) continue;
      if (e.isDirectory()) walk(full);
      else out.set(rel, createHash('sha256').update(readFileSync(full)).digest('hex'));
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}
const isAudio = (rel: string) => /\/ingest@[^/]+\/audio\.[^/]+$/.test(rel);

/** A ustar member (enough for hostile archives: names, types and link targets we choose). */
function tarMember(name: string, opts: { type?: '0' | '2' | '5'; body?: string; link?: string } = {}): Buffer {
  const body = Buffer.from(opts.body ?? '');
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write(opts.type === '5' ? '0000755\0' : '0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write(opts.type ?? '0', 156);
  if (opts.link) h.write(opts.link, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

describe('backup.sh → wipe → restore.sh on a real library', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tmp: ReturnType<typeof tempDir>;
  let feed: { server: FixtureServer; feedUrls: string[] };
  let config: Config;
  let configEnv: Record<string, string>;
  let box: Box | null = null;
  let env: Record<string, string>;
  let backupDir: string;
  let dataDir: string;

  const admin = async (sql: string) => {
    const c = new Client({ connectionString: ADMIN });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const q = async (sql: string, params: unknown[] = []) => {
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  const episodes = () => q(`SELECT episode_key, title, state::text AS state FROM episodes ORDER BY episode_key`);
  const stageRuns = () =>
    q(`SELECT episode_key, stage, fingerprint, status::text AS status, attempts, started_at, finished_at FROM stage_runs WHERE stage <> 'project' ORDER BY episode_key, stage, fingerprint`);
  const search = async (base: string) => {
    const out: Record<string, { vector: boolean; hits: string[] }> = {};
    for (const query of QUERIES) {
      const r = await call(base, 'GET', `/api/search?q=${encodeURIComponent(query)}&k=5`);
      expect(r.status, r.text).toBe(200);
      out[query] = { vector: r.body.vector, hits: (r.body.hits as { episode_key: string; start_ms: number }[]).map((h) => `${h.episode_key}@${h.start_ms}`) };
    }
    return out;
  };
  /** The box's DATA_DIR from now on (restore.sh follows a DATA_DIR that moved). */
  const moveDataDir = (to: string) => {
    dataDir = to;
    config = loadConfig({ env: { ...configEnv, DATA_DIR: to } });
    env = { ...env, DATA_DIR: to };
  };
  /** The database and DATA_DIR gone, as on a new box (the database exists, empty). */
  const wipe = async () => {
    await box?.stop();
    box = null;
    await admin(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${db.name}`);
    rmSync(dataDir, { recursive: true, force: true });
    await clearRedisPrefix(config.redisUrl, config.queue.prefix);
  };

  let before: { episodes: unknown[]; runs: unknown[]; search: Awaited<ReturnType<typeof search>>; files: Map<string, string>; segments: number };

  beforeAll(async () => {
    db = await createTestDatabase();
    tmp = tempDir('backup');
    dataDir = path.join(tmp.dir, 'data');
    backupDir = path.join(tmp.dir, 'backups');
    feed = await startLibraryFeeds();
    configEnv = {
        DATABASE_URL: db.url,
        MODELS_DIR: path.join(tmp.dir, 'models'),
        QUEUE_PREFIX: `pbtest_bk_${process.pid}`,
        ALLOW_PRIVATE_NETWORK: 'true',
        ASR_ENGINES: 'feed',
        // the library keeps its audio (transcript first would not download it): the backup's audio is asserted
        AUDIO_DOWNLOAD: 'always',
        EMBEDDINGS_PROVIDER: 'hash',
        EMBEDDINGS_DIM: '64',
        QUEUE_BACKOFF_MS: '50',
        SCHEDULER_TICK_MS: '200',
        SCHEDULER_LEASE_MS: '2000',
        RECONCILE_GRACE_MS: '1500',
        QUEUE_LOCK_MS: '3000',
        LOG_LEVEL: 'silent',
    };
    config = loadConfig({ env: { ...configEnv, DATA_DIR: dataDir } });
    const ds = await openMigrationDataSource(config, { poolSize: 1 });
    await migrateUp(ds);
    await ds.destroy();
    env = { DATABASE_URL: db.url, DATA_DIR: dataDir, BACKUP_DIR: backupDir };

    box = await startBox(config);
    for (const url of feed.feedUrls) await addFeed(box.ctx.database, url, { pollIntervalS: 3600 });
    const rows = await waitFor(
      'six episodes done',
      async () => {
        const r = await episodes();
        return r.length === 6 && r.every((e) => ['done', 'failed', 'skipped'].includes(e.state)) ? r : null;
      },
      90_000,
      250,
    );
    expect(rows.map((r) => r.state)).toEqual(Array(6).fill('done'));
    // the api's vector index catches up with the index stage's writes
    await waitFor('vector search', async () => (await call(box!.api.base, 'GET', '/api/search?q=telescope')).body.vector === true, 30_000);
    before = {
      episodes: rows,
      runs: await stageRuns(),
      search: await search(box.api.base),
      files: treeDigest(dataDir),
      segments: (await q(`SELECT count(*)::int AS n FROM transcript_segments`))[0].n,
    };
    expect(before.runs).toHaveLength(6 * STAGES.length);
    expect(before.segments).toBeGreaterThan(0);
    for (const r of Object.values(before.search)) {
      expect(r.vector).toBe(true);
      expect(r.hits.length).toBeGreaterThan(1);
    }
  }, 150_000);

  afterAll(async () => {
    await box?.stop().catch(() => undefined);
    await clearRedisPrefix(config.redisUrl, config.queue.prefix).catch(() => undefined);
    await feed?.server.close();
    await db?.drop();
    tmp?.remove();
  });

  /** The restored box: same episodes, same hits, every stage's artifact found (nothing re-runs). */
  async function expectSameLibrary(opts: { audio: boolean }) {
    box = await startBox(config);
    expect(await episodes()).toEqual(before.episodes);
    await waitFor('vector search', async () => (await call(box!.api.base, 'GET', '/api/search?q=telescope')).body.vector === true, 30_000);
    expect(await search(box.api.base)).toEqual(before.search);
    expect((await q(`SELECT count(*)::int AS n FROM transcript_segments`))[0].n).toBe(before.segments);
    const key = (before.episodes[0] as { episode_key: string }).episode_key;
    const transcript = await call(box.api.base, 'GET', `/api/episodes/${key}/transcript`);
    expect(transcript.status).toBe(200);
    // without our copy the player is sent to the publisher's enclosure
    expect((await fetch(`${box.api.base}/api/episodes/${key}/audio`, { redirect: 'manual' })).status).toBe(opts.audio ? 200 : 302);

    // Running the pipeline again: each stage job of each episode finds its artifact.
    for (const e of before.episodes as { episode_key: string }[]) {
      for (const stage of STAGES) {
        expect(await box.pipeline.runStage(stage, e.episode_key, { signal: new AbortController().signal, attempt: 1, maxAttempts: 1 }), `${stage} of ${e.episode_key}`).toBe('reused');
      }
    }
    // a few scheduler ticks (reconciler, polls) later: still nothing executed, states unchanged
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stageRuns()).toEqual(before.runs);
    expect(await episodes()).toEqual(before.episodes);
    const files = treeDigest(dataDir, (rel) => rel.startsWith('index'));
    const expected = new Map([...before.files].filter(([rel]) => !rel.startsWith('index') && (opts.audio || !isAudio(rel))));
    expect(files).toEqual(expected);
  }

  it('a full backup brings a wiped box back: episodes done, the same top hits, no stage runs again', async () => {
    const b = await script('backup.sh', [], env);
    expect(b.stderr).toContain('backup written');
    expect(b.code).toBe(0);
    const dir = b.stdout.trim();
    expect(readdirSync(dir).sort()).toEqual(['data.tar.zst', 'db.dump', 'manifest.json'].sort());
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'podbrain-backup/1', episodes: 6, data: { audio_included: true, audio_files: 6, compression: 'zstd', dir: dataDir } });
    expect(manifest.postgres.server_version).toMatch(/^\d+/);
    expect(manifest.postgres.schema_migration).toMatch(/^[A-Za-z]+\d+$/);
    expect(manifest.podbrain.version).toMatch(/^\d+\.\d+\.\d+/);
    for (const f of manifest.files as { name: string; bytes: number; sha256: string }[]) {
      expect(statSync(path.join(dir, f.name)).size).toBe(f.bytes);
      expect(createHash('sha256').update(readFileSync(path.join(dir, f.name))).digest('hex')).toBe(f.sha256);
    }

    await wipe();
    moveDataDir(path.join(tmp.dir, 'data-restored'));
    const r = await script('restore.sh', [dir], env);
    expect(r.stderr).toContain('restored');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`artifact paths moved from ${manifest.data.dir} to ${dataDir}`);
    // the audio route finds the file through stage_runs.artifact_path: 200 proves the move
    await expectSameLibrary({ audio: true });
  }, 120_000);

  it('refuses to replace a library without --force, and a damaged or incomplete backup changes nothing', async () => {
    const b = await script('backup.sh', [], env);
    expect(b.code).toBe(0);
    const good = b.stdout.trim();
    const refused = await script('restore.sh', [good], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('already holds feeds or episodes; re-run with --force');

    const dataBefore = treeDigest(dataDir);
    const copy = (name: string) => {
      const d = path.join(tmp.dir, name);
      mkdirSync(d, { recursive: true });
      for (const f of readdirSync(good)) copyFileSync(path.join(good, f), path.join(d, f));
      return d;
    };
    // one byte of the dump changed
    const tampered = copy('tampered');
    const dump = readFileSync(path.join(tampered, 'db.dump'));
    dump[dump.length >> 1] ^= 0xff;
    writeFileSync(path.join(tampered, 'db.dump'), dump);
    // the data archive missing
    const incomplete = copy('incomplete');
    rmSync(path.join(incomplete, 'data.tar.zst'));
    // the archive cut short (its recorded size no longer matches)
    const truncated = copy('truncated');
    const arc = readFileSync(path.join(truncated, 'data.tar.zst'));
    writeFileSync(path.join(truncated, 'data.tar.zst'), arc.subarray(0, arc.length - 10));

    // a dump cut short whose manifest was rewritten to match: pg_restore fails half way, the transaction rolls back
    const cut = copy('cut-dump');
    // Cut inside the data, after the table of contents (restore.sh reads that first and refuses a dump whose
    // TOC is unreadable): the first cut from the end whose TOC still lists. Where the TOC ends depends on the schema.
    const original = readFileSync(path.join(cut, 'db.dump'));
    const cutAt = [0.9, 0.95, 0.98, 0.995].map((f) => Math.floor(original.length * f)).find((n) => {
      writeFileSync(path.join(cut, 'db.dump'), original.subarray(0, n));
      return spawnSync('pg_restore', ['--list', path.join(cut, 'db.dump')]).status === 0;
    });
    expect(cutAt, 'a cut of db.dump whose table of contents pg_restore still lists').toBeDefined();
    const body = readFileSync(path.join(cut, 'db.dump'));
    const manifestFile = path.join(cut, 'manifest.json');
    writeFileSync(
      manifestFile,
      readFileSync(manifestFile, 'utf8').replace(/\{"name": "db\.dump", "bytes": \d+, "sha256": "[0-9a-f]+"\}/, `{"name": "db.dump", "bytes": ${body.length}, "sha256": "${createHash('sha256').update(body).digest('hex')}"}`),
    );

    await q(`UPDATE episodes SET title = title || ' (after the backup)'`);
    for (const [dir, message] of [
      [tampered, 'backup damaged: the checksum of db.dump does not match the manifest; nothing was changed'],
      [incomplete, 'backup incomplete: data.tar.zst is missing; nothing was changed'],
      [truncated, 'backup damaged: data.tar.zst has'],
      [cut, 'the database restore failed and was rolled back: the database is unchanged, the files were not touched'],
    ] as const) {
      const r = await script('restore.sh', [dir, '--force'], env);
      expect(r.code, dir).toBe(1);
      expect(r.stderr).toContain(message);
    }
    expect((await episodes()).every((e) => e.title.endsWith('(after the backup)'))).toBe(true);
    expect(treeDigest(dataDir)).toEqual(dataBefore);
    await q(`UPDATE episodes SET title = replace(title, ' (after the backup)', '')`);
  }, 60_000);

  it('refuses hostile data archives (../, absolute paths, symlinks out) even with matching checksums', async () => {
    const good = readdirSync(backupDir).sort().at(-1)!;
    const outside = path.join(tmp.dir, 'outside');
    mkdirSync(outside, { recursive: true });
    const dataBefore = treeDigest(dataDir);
    const cases: [string, Buffer[], string][] = [
      ['dotdot', [tarMember('corpus/', { type: '5' }), tarMember(`corpus/../../outside/evil.txt`, { body: 'x' })], 'unsafe archive member name: corpus/../../outside/evil.txt'],
      ['absolute', [tarMember(`${outside}/evil.txt`, { body: 'x' })], `unsafe archive member name: ${outside}/evil.txt`],
      ['symlink', [tarMember('corpus/', { type: '5' }), tarMember('corpus/link', { type: '2', link: outside }), tarMember('corpus/link/evil.txt', { body: 'x' })], 'unsafe archive member (type l'],
      ['elsewhere', [tarMember('etc/', { type: '5' }), tarMember('etc/evil.txt', { body: 'x' })], 'unexpected archive member'],
    ];
    for (const [name, members, message] of cases) {
      const dir = path.join(tmp.dir, `hostile-${name}`);
      mkdirSync(dir, { recursive: true });
      copyFileSync(path.join(backupDir, good, 'db.dump'), path.join(dir, 'db.dump'));
      writeFileSync(path.join(dir, 'data.tar.gz'), gzipSync(Buffer.concat([...members, Buffer.alloc(1024)])));
      const entry = (f: string) => {
        const body = readFileSync(path.join(dir, f));
        return `    {"name": "${f}", "bytes": ${body.length}, "sha256": "${createHash('sha256').update(body).digest('hex')}"}`;
      };
      writeFileSync(
        path.join(dir, 'manifest.json'),
        `{\n  "format": "podbrain-backup/1",\n  "data": {"dir": "${dataDir}", "archive": "data.tar.gz", "compression": "gzip", "audio_included": true, "audio_files": 0, "members": 2},\n  "files": [\n${entry('db.dump')},\n${entry('data.tar.gz')}\n  ]\n}\n`,
      );
      const r = await script('restore.sh', [dir, '--force'], env);
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr, name).toContain(message);
      expect(r.stderr).toContain('nothing was changed');
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(treeDigest(dataDir)).toEqual(dataBefore);
    expect(await episodes()).toEqual(before.episodes);
  }, 60_000);

  it('through compose (a stand-in docker that runs each container command here): same backup, restore stops, migrates and restarts the roles', async () => {
    const bin = path.join(tmp.dir, 'bin');
    const log = path.join(tmp.dir, 'docker.log');
    mkdirSync(bin, { recursive: true });
    // `compose exec -T postgres …` runs here against the test database; `compose run … worker-io`
    // runs here with the container's /data mapped to DATA_DIR; anything else is only recorded.
    writeFileSync(
      path.join(bin, 'docker'),
      `#!/usr/bin/env bash
[[ "$1" == compose ]] && shift
[[ "$1" == version ]] && exit 0
while [[ "$1" == --env-file || "$1" == -f ]]; do shift 2; done
verb=$1; shift
case "$verb" in
  exec)
    [[ "$1" == -T ]] && shift
    echo "exec $1" >> "$FAKE_DOCKER_LOG"; shift
    POSTGRES_USER=postgres POSTGRES_DB="$FAKE_DB" PGHOST=127.0.0.1 exec "$@" ;;
  run)
    entry="" words=()
    while [[ "$1" == -* ]]; do
      if [[ "$1" == --entrypoint ]]; then entry=$2; shift 2; continue; fi
      words+=("$1"); shift
    done
    svc=$1; shift
    echo "run \${words[*]} \${entry:+$entry }$svc" >> "$FAKE_DOCKER_LOG"
    [[ -n "$entry" ]] || exit 0
    args=()
    for a in "$@"; do [[ "$a" == /data ]] && a=$FAKE_DATA_DIR; args+=("$a"); done
    PODBRAIN_VERSION=9.9.9 GIT_SHA=feedface exec "$entry" "\${args[@]}" ;;
  *) echo "$verb $*" >> "$FAKE_DOCKER_LOG" ;;
esac
`,
    );
    chmodSync(path.join(bin, 'docker'), 0o755);
    const composeEnv = { PATH: `${bin}:${process.env.PATH}`, FAKE_DOCKER_LOG: log, FAKE_DB: db.name, FAKE_DATA_DIR: dataDir, BACKUP_DIR: path.join(tmp.dir, 'compose-backups'), ENV_FILE: path.join(tmp.dir, 'none.env') };
    const calls = () => readFileSync(log, 'utf8').trim().split('\n');

    const b = await script('backup.sh', [], composeEnv);
    expect(b.code, b.stderr).toBe(0);
    const dir = b.stdout.trim();
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ podbrain: { version: '9.9.9', git_sha: 'feedface' }, data: { dir: '/data', audio_included: true, audio_files: 6 }, episodes: 6 });
    expect(calls()).toEqual(expect.arrayContaining(['exec postgres', 'run --rm --no-deps -T bash worker-io']));

    await wipe();
    writeFileSync(log, '');
    const r = await script('restore.sh', [dir], composeEnv);
    expect(r.code, r.stderr).toBe(0);
    const order = calls().filter((c) => !c.startsWith('exec'));
    expect(order).toEqual([
      'stop api caddy worker-io worker-gpu worker-ml scheduler',
      'run --rm --no-deps -T bash worker-io',
      'run --rm migrate',
      'up -d --no-deps worker-io worker-gpu worker-ml scheduler',
      'up -d --no-deps api caddy',
    ]);
    await expectSameLibrary({ audio: true });
  }, 120_000);

  it('--no-audio leaves the audio out; the restored box keeps transcripts and search and re-runs nothing', async () => {
    const b = await script('backup.sh', ['--no-audio'], env);
    expect(b.code, b.stderr).toBe(0);
    const dir = b.stdout.trim();
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.data).toMatchObject({ audio_included: false, audio_files: 0 });
    // BACKUP_AUDIO=false does the same
    const viaEnv = await script('backup.sh', [], { ...env, BACKUP_AUDIO: 'false' });
    expect(JSON.parse(readFileSync(path.join(viaEnv.stdout.trim(), 'manifest.json'), 'utf8')).data.audio_included).toBe(false);
    const full = readdirSync(backupDir).sort()[0];
    expect(statSync(path.join(dir, 'data.tar.zst')).size).toBeLessThan(statSync(path.join(backupDir, full, 'data.tar.zst')).size);

    await wipe();
    const r = await script('restore.sh', [dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('audio included: false');
    expect([...treeDigest(dataDir).keys()].filter(isAudio)).toEqual([]);
    await expectSameLibrary({ audio: false });
  }, 120_000);

  it('keeps the newest BACKUP_KEEP backups', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await script('backup.sh', ['--no-audio'], { ...env, BACKUP_KEEP: '2' });
      expect(r.code, r.stderr).toBe(0);
      made.push(path.basename(r.stdout.trim()));
    }
    expect(readdirSync(backupDir).sort()).toEqual(made.slice(1).sort());
    expect((await script('backup.sh', [], { ...env, BACKUP_KEEP: '0' })).code).toBe(1);
  }, 60_000);
});
