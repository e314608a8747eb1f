import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Database } from '../db/database';

export interface AuditEntry {
  actor: string;
  method: string;
  path: string;
  params: unknown;
  status: number;
}

export interface AuditRow extends AuditEntry {
  id: string;
  at: Date;
}

/** admin_audit: every admin API call (written by api/admin/audit.interceptor.ts). */
@Injectable()
export class AuditRepository {
  constructor(private readonly database: Database) {}

  async record(entry: AuditEntry): Promise<void> {
    await this.database.db.insertInto('admin_audit').values({ ...entry, params: JSON.stringify(entry.params ?? {}) }).execute();
  }

  /** Deletes the rows older than `days` days; returns how many. */
  async prune(days: number): Promise<number> {
    const r = await this.database.db
      .deleteFrom('admin_audit')
      .where('at', '<', sql<Date>`now() - make_interval(days => ${days})`)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Newest first; `before`: the id of the last row of the previous page (ids only grow). */
  async page(limit: number, before?: string): Promise<AuditRow[]> {
    let q = this.database.db.selectFrom('admin_audit').selectAll().orderBy('id', 'desc').limit(limit);
    if (before) q = q.where('id', '<', before as never);
    return q.execute();
  }
}
