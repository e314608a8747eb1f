import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The digest (issue 17): a scheduled digest is made once per tenant and window, whoever runs its
 * job (two schedulers, a retried or repeated job); on-demand ones may repeat a window freely.
 */
export class Digest1764892800001 implements MigrationInterface {
  name = 'Digest1764892800001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE UNIQUE INDEX digests_scheduled_window_idx ON digests (tenant_id, period_start, period_end) WHERE trigger = 'scheduled'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX digests_scheduled_window_idx`);
  }
}
