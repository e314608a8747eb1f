import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { StageName } from '../pipeline/stage-names';

/**
 * Canonical artifact storage (ARCHITECTURE §2):
 *   $DATA_DIR/corpus/<feed_id>/<episode_key>/<stage>@<fp12>/{files…, meta.json}
 *
 * A stage writes into a private temp directory; `commit` writes meta.json last and renames
 * the whole directory into place. A directory whose meta.json exists is complete, so a
 * crash at any moment leaves either nothing or a full set, never half of one.
 */

export const META_FILE = 'meta.json';

export interface ArtifactMeta {
  schema_version: 1;
  episode_key: string;
  feed_id: string;
  stage: StageName;
  fingerprint: string;
  created_at: string;
  duration_ms: number;
  files: string[];
  /** Whatever the stage wants to remember (engine, model, status, counts…). */
  info: Record<string, unknown>;
}

export interface ArtifactRef {
  stage: StageName;
  fingerprint: string;
  dir: string;
  meta: ArtifactMeta;
}

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as T;
}

/** A temp directory a stage writes its outputs into; committed as a whole. */
export class StagingDir {
  constructor(
    readonly dir: string,
    private readonly finalDir: string,
  ) {}

  file(name: string): string {
    if (name.includes('..') || path.isAbsolute(name)) throw new Error(`bad artifact name ${name}`);
    return path.join(this.dir, name);
  }

  async writeJson(name: string, value: unknown): Promise<string> {
    const f = this.file(name);
    await fs.writeFile(f, `${JSON.stringify(value, null, 2)}\n`);
    return f;
  }

  async writeText(name: string, text: string): Promise<string> {
    const f = this.file(name);
    await fs.writeFile(f, text);
    return f;
  }

  get target(): string {
    return this.finalDir;
  }
}

export class ArtifactStore {
  constructor(readonly dataDir: string) {}

  get corpusDir(): string {
    return path.join(this.dataDir, 'corpus');
  }

  get indexDir(): string {
    return path.join(this.dataDir, 'index');
  }

  get tmpDir(): string {
    return path.join(this.dataDir, 'tmp');
  }

  episodeDir(feedId: string, episodeKey: string): string {
    return path.join(this.corpusDir, feedId, episodeKey);
  }

  stageDir(feedId: string, episodeKey: string, stage: StageName, fingerprint: string): string {
    return path.join(this.episodeDir(feedId, episodeKey), `${stage}@${fingerprint.slice(0, 12)}`);
  }

  /** The committed artifact set for (episode, stage, fingerprint), or null. */
  async find(feedId: string, episodeKey: string, stage: StageName, fingerprint: string): Promise<ArtifactRef | null> {
    const dir = this.stageDir(feedId, episodeKey, stage, fingerprint);
    try {
      const meta = await readJson<ArtifactMeta>(path.join(dir, META_FILE));
      if (meta.fingerprint !== fingerprint) return null; // fp12 collision: treat as absent
      return { stage, fingerprint, dir, meta };
    } catch {
      return null;
    }
  }

  /** Every committed artifact set of an episode's stage (any fingerprint), newest first. */
  async list(feedId: string, episodeKey: string, stage?: StageName): Promise<ArtifactRef[]> {
    const base = this.episodeDir(feedId, episodeKey);
    let names: string[];
    try {
      names = await fs.readdir(base);
    } catch {
      return [];
    }
    const refs: ArtifactRef[] = [];
    for (const name of names) {
      const at = name.indexOf('@');
      if (at < 0 || (stage && name.slice(0, at) !== stage)) continue;
      try {
        const meta = await readJson<ArtifactMeta>(path.join(base, name, META_FILE));
        refs.push({ stage: meta.stage, fingerprint: meta.fingerprint, dir: path.join(base, name), meta });
      } catch {
        /* incomplete or foreign directory */
      }
    }
    return refs.sort((a, b) => b.meta.created_at.localeCompare(a.meta.created_at));
  }

  async stage(feedId: string, episodeKey: string, stage: StageName, fingerprint: string): Promise<StagingDir> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    const dir = await fs.mkdtemp(path.join(this.tmpDir, `${stage}-`));
    return new StagingDir(dir, this.stageDir(feedId, episodeKey, stage, fingerprint));
  }

  /**
   * Writes meta.json and moves the staging dir into place. If another process committed
   * the same (episode, stage, fingerprint) first, ours is discarded and theirs returned:
   * there is never more than one artifact set.
   */
  async commit(staging: StagingDir, meta: Omit<ArtifactMeta, 'schema_version' | 'files' | 'created_at'>): Promise<ArtifactRef> {
    const files = (await fs.readdir(staging.dir)).filter((f) => f !== META_FILE).sort();
    const full: ArtifactMeta = { schema_version: 1, created_at: new Date().toISOString(), files, ...meta };
    await fs.writeFile(path.join(staging.dir, META_FILE), `${JSON.stringify(full, null, 2)}\n`);
    await fs.mkdir(path.dirname(staging.target), { recursive: true });
    try {
      await fs.rename(staging.dir, staging.target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      const existing = await this.find(meta.feed_id, meta.episode_key, meta.stage, meta.fingerprint);
      if (existing) {
        await fs.rm(staging.dir, { recursive: true, force: true });
        return existing;
      }
      // A leftover incomplete dir (no meta.json) from a crash: replace it.
      await fs.rm(staging.target, { recursive: true, force: true });
      await fs.rename(staging.dir, staging.target);
    }
    return { stage: meta.stage, fingerprint: meta.fingerprint, dir: staging.target, meta: full };
  }

  async discard(staging: StagingDir): Promise<void> {
    await fs.rm(staging.dir, { recursive: true, force: true });
  }

  async readArtifactJson<T>(ref: ArtifactRef, name: string): Promise<T> {
    return readJson<T>(path.join(ref.dir, name));
  }

  readStream(ref: ArtifactRef, name: string) {
    return createReadStream(path.join(ref.dir, name));
  }
}
