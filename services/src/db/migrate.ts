import { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { InitialSchema1763856000000 } from './migrations/1763856000000-initial-schema';
import { EpisodeJobId1763942400000 } from './migrations/1763942400000-episode-job-id';
import { EpisodesNewestIndex1764028800000 } from './migrations/1764028800000-episodes-newest-index';
import { AdminAudit1764115200000 } from './migrations/1764115200000-admin-audit';
import { RuntimeSettings1764201600000 } from './migrations/1764201600000-runtime-settings';
import { FeedPaused1764288000000 } from './migrations/1764288000000-feed-paused';
import { Incidents1764374400000 } from './migrations/1764374400000-incidents';
import { FeedPolicy1764460800000 } from './migrations/1764460800000-feed-policy';
import { StageRecipe1764633600000 } from './migrations/1764633600000-stage-recipe';
import { Brain1764806400000 } from './migrations/1764806400000-brain';
import { Playback1764892800005 } from './migrations/1764892800005-playback';
import { Digest1764892800001 } from './migrations/1764892800001-digest';
import { FeedDescription1764892800010 } from './migrations/1764892800010-feed-description';

/**
 * TypeORM runs the migrations (db/migrations) and nothing else: no entities, no queries of the
 * roles (those go through db/database.ts and repositories/). Used by `podbrain migrate`, the
 * migrate role and tests that set up a database.
 */

/** In order. Hand-written; `synchronize` is never used. */
export const MIGRATIONS = [InitialSchema1763856000000, EpisodeJobId1763942400000, EpisodesNewestIndex1764028800000, AdminAudit1764115200000, RuntimeSettings1764201600000, FeedPaused1764288000000, Incidents1764374400000, FeedPolicy1764460800000, StageRecipe1764633600000, Brain1764806400000, Digest1764892800001, Playback1764892800005, FeedDescription1764892800010];

export function createMigrationDataSource(databaseUrl: string, opts: { poolSize?: number } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    entities: [],
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    poolSize: opts.poolSize ?? 2,
    applicationName: 'podbrain-migrate',
  });
}

/** An initialized migration DataSource; `destroy()` it when done. */
export async function openMigrationDataSource(config: Pick<Config, 'databaseUrl'>, opts: { poolSize?: number } = {}): Promise<DataSource> {
  try {
    return await createMigrationDataSource(config.databaseUrl, opts).initialize();
  } catch (e) {
    throw cannotConnect(config.databaseUrl, e);
  }
}

/** What a self-hoster can do about a failed connection (a missing database, no Postgres there), else the error as it is. */
function cannotConnect(databaseUrl: string, e: unknown): unknown {
  const code = (e as { code?: string }).code;
  let where: URL;
  try {
    where = new URL(databaseUrl);
  } catch {
    return e;
  }
  const db = decodeURIComponent(where.pathname.replace(/^\//, '')) || '(none)';
  const server = `${where.hostname}:${where.port || 5432}`;
  if (code === '3D000') return new PodbrainError('database_missing', `database "${db}" does not exist on ${server}: create it (createdb -h ${where.hostname} ${db}) or point DATABASE_URL at one`, {}, { cause: e });
  if (code === 'ECONNREFUSED') return new PodbrainError('postgres_unreachable', `no Postgres answers at ${server} (DATABASE_URL): start it, or point DATABASE_URL at one`, {}, { cause: e });
  return e;
}

/** Applies pending migrations; returns their names. */
export async function migrateUp(ds: DataSource): Promise<string[]> {
  const done = await ds.runMigrations({ transaction: 'each' });
  return done.map((m) => m.name);
}

/** Reverts the last migration (or every one with `all`); returns how many were reverted. */
export async function migrateDown(ds: DataSource, opts: { all?: boolean } = {}): Promise<number> {
  let n = 0;
  for (;;) {
    const applied = await appliedMigrations(ds);
    if (!applied.length) break;
    await ds.undoLastMigration({ transaction: 'each' });
    n++;
    if (!opts.all) break;
  }
  return n;
}

export async function appliedMigrations(ds: DataSource): Promise<string[]> {
  const exists = (await ds.query(`SELECT to_regclass('schema_migrations') AS t`)) as { t: string | null }[];
  if (!exists[0]?.t) return [];
  const rows = (await ds.query(`SELECT name FROM schema_migrations ORDER BY id`)) as { name: string }[];
  return rows.map((r) => r.name);
}
