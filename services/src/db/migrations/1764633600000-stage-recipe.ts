import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * stage_runs.recipe: the hash of the stage's own recipe (model, prompt, settings; no episode data
 * and no upstream fingerprints) a run was planned with. A `done` episode whose latest run of a
 * stage has a recipe the current configuration no longer produces is stale (GET /api/admin/stale).
 * Runs recorded before this column are NULL: unknown until reprocess-stale checks them.
 */
export class StageRecipe1764633600000 implements MigrationInterface {
  name = 'StageRecipe1764633600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE stage_runs ADD COLUMN recipe text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE stage_runs DROP COLUMN recipe`);
  }
}
