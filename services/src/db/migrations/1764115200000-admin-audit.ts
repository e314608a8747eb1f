import type { MigrationInterface, QueryRunner } from 'typeorm';

/** admin_audit: one row per admin API call (who, when, what, the answer's status), newest first by id. */
export class AdminAudit1764115200000 implements MigrationInterface {
  name = 'AdminAudit1764115200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE admin_audit (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      actor text NOT NULL,
      method text NOT NULL,
      path text NOT NULL,
      params jsonb NOT NULL DEFAULT '{}'::jsonb,
      status integer NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE admin_audit`);
  }
}
