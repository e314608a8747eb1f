import type { Command } from 'commander';
import { appliedMigrations, migrateDown, migrateUp, openMigrationDataSource } from '../../db/migrate';
import { configFrom } from '../context';

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('Postgres schema migrations (DATABASE_URL)');

  db.command('migrate')
    .description('apply every pending migration')
    .action(async (_opts, cmd: Command) => {
      const ds = await openMigrationDataSource(configFrom(cmd), { poolSize: 2 });
      try {
        const ran = await migrateUp(ds);
        process.stdout.write(ran.length ? ran.map((n) => `applied ${n}\n`).join('') : 'schema is up to date\n');
      } finally {
        await ds.destroy();
      }
    });

  db.command('revert')
    .description('revert the last migration (--all: every migration)')
    .option('--all', 'revert every applied migration')
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const ds = await openMigrationDataSource(configFrom(cmd), { poolSize: 2 });
      try {
        const n = await migrateDown(ds, { all: opts.all });
        process.stdout.write(`reverted ${n} migration(s)\n`);
      } finally {
        await ds.destroy();
      }
    });

  db.command('status')
    .description('list applied migrations')
    .action(async (_opts, cmd: Command) => {
      const ds = await openMigrationDataSource(configFrom(cmd), { poolSize: 2 });
      try {
        const applied = await appliedMigrations(ds);
        process.stdout.write(applied.length ? `${applied.join('\n')}\n` : 'no migrations applied\n');
      } finally {
        await ds.destroy();
      }
    });
}
