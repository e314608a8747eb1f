import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import type { Logger } from '../core/logger';
import { ENTITIES } from '../db/data-source';

/** Error codes and messages of a Postgres that cannot be reached (as opposed to a bad query). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);
const UNREACHABLE_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i;

export function isDatabaseUnreachable(e: unknown): boolean {
  if (e instanceof DatabaseUnavailableError) return true;
  const err = e as { code?: unknown; message?: unknown; driverError?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  if (typeof err.code === 'string' && UNREACHABLE_CODES.has(err.code)) return true;
  if (typeof err.message === 'string' && UNREACHABLE_MESSAGES.test(err.message)) return true;
  return err.driverError ? isDatabaseUnreachable(err.driverError) : false;
}

export class DatabaseUnavailableError extends PodbrainError {
  constructor(cause?: unknown) {
    super('database_unavailable', 'the database is unreachable right now; try again shortly', {}, { cause });
  }
}

// A handful of query shapes, each hashed once rather than on every request.
const statementNames = new Map<string, string>();
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) statementNames.set(sql, (name = `pb_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`));
  return name;
}

/**
 * Postgres for the api role. The api starts (and serves /healthz, SSE, docs) even while
 * Postgres is down; queries then fail fast with DatabaseUnavailableError (→ 503) and the pool
 * reconnects by itself once Postgres is back: no restart needed.
 */
export class ApiDatabase {
  private ds: DataSource | null = null;
  private opening: Promise<DataSource> | null = null;

  constructor(
    private readonly config: Pick<Config, 'databaseUrl'>,
    private readonly log: Logger,
    private readonly poolSize = 20,
  ) {}

  /** The initialized DataSource; opens it on first use (and again after a failed start). */
  async dataSource(): Promise<DataSource> {
    if (this.ds) return this.ds;
    this.opening ??= this.open().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async open(): Promise<DataSource> {
    const ds = new DataSource({
      type: 'postgres',
      url: this.config.databaseUrl,
      entities: ENTITIES,
      synchronize: false,
      logging: false,
      poolSize: this.poolSize,
      applicationName: 'podbrain-api',
      // Fail fast instead of queueing requests behind a dead server.
      extra: { connectionTimeoutMillis: 3000, query_timeout: 15_000 },
    });
    try {
      await ds.initialize();
    } catch (e) {
      await ds.destroy().catch(() => undefined);
      if (isDatabaseUnreachable(e)) throw new DatabaseUnavailableError(e);
      throw e;
    }
    this.ds = ds;
    this.log.info('api connected to postgres');
    return ds;
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const ds = await this.dataSource();
    try {
      const r = (await ds.query(sql, params)) as unknown;
      // TypeORM answers UPDATE/DELETE … RETURNING as [rows, affectedCount]; SELECT/INSERT as rows.
      if (Array.isArray(r) && r.length === 2 && Array.isArray(r[0]) && typeof r[1] === 'number') return r[0] as T[];
      return r as T[];
    } catch (e) {
      if (isDatabaseUnreachable(e)) throw new DatabaseUnavailableError(e);
      throw e;
    }
  }

  /**
   * A hot read as a named prepared statement on TypeORM's pg pool: each connection parses and
   * plans it once instead of per request (planning cost more than running the Library's page).
   * The name is the SQL's hash, so differently shaped queries never collide.
   */
  async prepared<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const ds = await this.dataSource();
    const pool = (ds.driver as unknown as { master: Pool }).master;
    try {
      const r = await pool.query({ name: statementName(sql), text: sql, values: params });
      return r.rows as T[];
    } catch (e) {
      if (isDatabaseUnreachable(e)) throw new DatabaseUnavailableError(e);
      throw e;
    }
  }

  async close(): Promise<void> {
    const ds = this.ds;
    this.ds = null;
    if (ds?.isInitialized) await ds.destroy().catch(() => undefined);
  }
}
