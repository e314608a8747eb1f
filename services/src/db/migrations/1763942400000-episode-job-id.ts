import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * episodes.job_id: the deterministic id of the job the episode's running state waits on,
 * committed together with the state so the scheduler's reconciler can find lost jobs.
 */
export class EpisodeJobId1763942400000 implements MigrationInterface {
  name = 'EpisodeJobId1763942400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE episodes ADD COLUMN job_id text`);
    await q.query(`CREATE INDEX stage_runs_status_idx ON stage_runs (stage, status)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX stage_runs_status_idx`);
    await q.query(`ALTER TABLE episodes DROP COLUMN job_id`);
  }
}
