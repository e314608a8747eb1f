import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * runtime_settings: settings an admin (or the on-call agent) changes while the appliance runs
 * (control/runtime-settings.ts lists the keys); every role reads them without a restart.
 * A key that is absent means the value from .env / config.ts.
 */
export class RuntimeSettings1764201600000 implements MigrationInterface {
  name = 'RuntimeSettings1764201600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE runtime_settings (
      key text PRIMARY KEY,
      value jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      updated_by text NOT NULL
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE runtime_settings`);
  }
}
