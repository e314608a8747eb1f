import { createHash } from 'node:crypto';
import { type Compilable, type CompiledQuery, type DatabaseConnection, type Driver, Kysely, PostgresDialect, type Transaction } from 'kysely';
import { Pool } from 'pg';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { DB } from './schema';

/** Error codes and messages of a Postgres that cannot be reached (as opposed to a bad query). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);
const UNREACHABLE_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i;

export function isDatabaseUnreachable(e: unknown): boolean {
  if (e instanceof DatabaseUnavailableError) return true;
  const err = e as { code?: unknown; message?: unknown; cause?: unknown } | null;
  if (!err || typeof err !== 'object') return false;
  if (typeof err.code === 'string' && UNREACHABLE_CODES.has(err.code)) return true;
  if (typeof err.message === 'string' && UNREACHABLE_MESSAGES.test(err.message)) return true;
  return false;
}

class DatabaseUnavailableError extends PodbrainError {
  constructor(cause?: unknown) {
    super('database_unavailable', 'the database is unreachable right now; try again shortly', {}, { cause });
  }
}

const unavailable = (e: unknown): unknown => (isDatabaseUnreachable(e) && !(e instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(e) : e);

/**
 * Kysely's Postgres dialect whose failures while Postgres is down surface as DatabaseUnavailableError
 * (→ 503 in the api, a retry in a worker) instead of driver errors that differ by where they happen.
 */
class PostgresDialectMappingErrors extends PostgresDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    const patched = new WeakSet<DatabaseConnection>();
    const acquire = driver.acquireConnection.bind(driver);
    driver.acquireConnection = async () => {
      let connection: DatabaseConnection;
      try {
        connection = await acquire();
      } catch (e) {
        throw unavailable(e);
      }
      if (!patched.has(connection)) {
        // Patched in place: the driver releases connections through a private method of the instance.
        const execute = connection.executeQuery.bind(connection);
        connection.executeQuery = async <R>(q: CompiledQuery) => {
          try {
            return await execute<R>(q);
          } catch (e) {
            throw unavailable(e);
          }
        };
        patched.add(connection);
      }
      return connection;
    };
    return driver;
  }
}

export interface DatabaseOptions {
  poolSize?: number;
  applicationName?: string;
  /**
   * Fail fast instead of queueing behind a dead server (the api: a request answers 503 within
   * seconds). Workers wait longer: a stage's commit should rather ride out a short restart.
   */
  failFast?: boolean;
}

const SLOT = Symbol('query template slot');
type Slot = { readonly [SLOT]: string };
const isSlot = (v: unknown): v is Slot => typeof v === 'object' && v !== null && SLOT in v;

/**
 * A query built and compiled once, run many times with other values: the hot reads' Kysely
 * build + compile (tens of µs and short-lived garbage per call) happens once per shape. `build`
 * gets stand-ins for the values (`p.tenantId` …) and must only pass them to Kysely as values
 * (where, limit, tuple …), never branch on them: a branch belongs in the template's cache key.
 */
export class QueryTemplate<P extends Record<string, unknown>, R> {
  private readonly compiled: CompiledQuery<R>;
  readonly name: string;

  constructor(build: (p: P) => Compilable<R>) {
    const slots = new Proxy({}, { get: (_, key) => ({ [SLOT]: String(key) }) }) as P;
    this.compiled = build(slots).compile();
    this.name = statementName(this.compiled.sql);
  }

  /** The compiled SQL and its parameters with `values` in the stand-ins' places. */
  bind(values: P): { name: string; text: string; values: unknown[] } {
    const params = this.compiled.parameters.map((v) => {
      if (!isSlot(v)) return v;
      const key = v[SLOT];
      if (!(key in values)) throw new Error(`query template: no value for ${key}`);
      return values[key];
    });
    return { name: this.name, text: this.compiled.sql, values: params };
  }
}

// A handful of query shapes, each hashed once rather than on every call.
const statementNames = new Map<string, string>();
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) statementNames.set(sql, (name = `pb_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`));
  return name;
}

/**
 * Postgres for every role: one pg pool and a Kysely instance typed by db/schema.ts. Only
 * repositories/ (and db/migrations) write SQL. Nothing connects until the first query, so a role
 * starts while Postgres is down and recovers by itself once it is back: the pool reconnects.
 */
export class Database {
  readonly pool: Pool;
  /** The typed query builder; use it in repositories only. */
  readonly db: Kysely<DB>;

  constructor(config: Pick<Config, 'databaseUrl'>, log: Logger, opts: DatabaseOptions = {}) {
    this.pool = new Pool({
      connectionString: config.databaseUrl,
      max: opts.poolSize ?? 10,
      application_name: opts.applicationName ?? 'podbrain',
      ...(opts.failFast ? { connectionTimeoutMillis: 3000, query_timeout: 15_000 } : { connectionTimeoutMillis: 30_000 }),
    });
    // An idle client whose server went away (restart, failover) must not crash the process.
    this.pool.on('error', (e) => log.warn({ err: e.message }, 'postgres connection lost (an idle pool client); it reconnects on next use'));
    this.db = new Kysely<DB>({ dialect: new PostgresDialectMappingErrors({ pool: this.pool }) });
  }

  /**
   * A hot read as a named prepared statement: each connection parses and plans it once instead
   * of per call (planning cost more than running the Library's page). The name is the SQL's
   * hash, so differently shaped queries never collide.
   */
  async prepared<R>(query: Compilable<R>): Promise<R[]> {
    const compiled = query.compile();
    try {
      const r = await this.pool.query({ name: statementName(compiled.sql), text: compiled.sql, values: compiled.parameters as unknown[] });
      return r.rows as R[];
    } catch (e) {
      throw unavailable(e);
    }
  }

  /** A QueryTemplate with these values, as a named prepared statement (see `prepared`). */
  async preparedTemplate<P extends Record<string, unknown>, R>(template: QueryTemplate<P, R>, values: P): Promise<R[]> {
    try {
      const r = await this.pool.query(template.bind(values));
      return r.rows as R[];
    } catch (e) {
      throw unavailable(e);
    }
  }

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /** Throws (DatabaseUnavailableError while Postgres is down) unless a trivial query answers. */
  async ping(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (e) {
      throw unavailable(e);
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
    // Kysely ends the pool only once it has used it itself; ping() and prepared() use it directly, so a
    // process that made only those (an api that failed to start) kept an idle client and ran on ~10 s.
    if (!this.pool.ended) await this.pool.end();
  }
}

/** What repositories take: the Database, or an open transaction (`database.transaction(trx => …)`). */
export type Executor = Kysely<DB> | Transaction<DB>;
