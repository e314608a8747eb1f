import { type Command, InvalidArgumentError } from 'commander';
import { digestRequests } from '../../api/contract/digests';
import { PodbrainError } from '../../core/errors';
import { createLogger } from '../../core/logger';
import { Database, isDatabaseUnreachable } from '../../db/database';
import { DEFAULT_TENANT } from '../../db/schema';
import { digestDeps } from '../../digest/deps';
import { generateDigest } from '../../digest/generate';
import { digestMarkdown } from '../../digest/render';
import { configFrom } from '../context';

function format(v: string): 'json' | 'md' {
  if (v !== 'json' && v !== 'md') throw new InvalidArgumentError('json or md');
  return v;
}

/** `podbrain digest [--from DATE] [--to DATE] [--format json|md]`: generates and stores a digest in the platform database (DATABASE_URL). */
export function registerDigestCommand(program: Command): void {
  program
    .command('digest')
    .description('generate a digest of the followed feeds (stored in the platform database, DATABASE_URL) and print it: new episodes, story clusters across shows, trends, one line per show')
    .option('--from <date>', 'start of the window: an ISO date (UTC) or date-time (default: DIGEST_WINDOW_DAYS days before --to)')
    .option('--to <date>', 'end of the window: a date means the end of that day (default: now)')
    .option('--format <format>', 'json or md', format, 'md')
    .option('--tenant <id>', 'whose feeds (default: the single-user tenant)', DEFAULT_TENANT)
    .action(async (opts: { from?: string; to?: string; format: 'json' | 'md'; tenant: string }, cmd: Command) => {
      const parsed = digestRequests.createDigest.safeParse({ from: opts.from, to: opts.to });
      if (!parsed.success) throw new PodbrainError('invalid_argument', parsed.error.issues.map((i) => `${i.path.length ? `--${i.path.join('.')}: ` : ''}${i.message}`).join('; '));
      const { from, to } = parsed.data;
      if (from && !to && from.getTime() >= Date.now()) throw new PodbrainError('invalid_argument', '--from must be before --to (default: now)');
      const config = configFrom(cmd);
      // Logs go to stderr so stdout stays the result.
      const log = createLogger({ service: 'podbrain-cli', level: config.logLevel === 'info' ? 'warn' : config.logLevel, destination: process.stderr });
      const database = new Database(config, log, { poolSize: 4, failFast: true, applicationName: 'podbrain-cli' });
      try {
        const { digest } = await generateDigest(digestDeps(config, database, log), { tenantId: opts.tenant, from, to, trigger: 'manual' }).catch((e: unknown) => {
          const where = config.databaseUrl.replace(/\/\/[^@/]*@/, '//');
          if (isDatabaseUnreachable(e)) throw new PodbrainError('database_unavailable', `cannot reach Postgres at ${where} (DATABASE_URL): is the appliance's database running?`);
          const code = (e as { code?: unknown }).code;
          if (code === '3D000') throw new PodbrainError('database_missing', `${(e as Error).message} at ${where} (DATABASE_URL): point DATABASE_URL at the appliance's database`);
          if (code === '42P01' || code === '42703') throw new PodbrainError('database_not_migrated', `the database at ${where} is not migrated (${(e as Error).message}): run podbrain db migrate`);
          throw e;
        });
        const viewer = config.notify.publicUrl || `http://127.0.0.1:${config.apiPort}`;
        process.stdout.write(opts.format === 'json' ? `${JSON.stringify(digest, null, 2)}\n` : digestMarkdown(digest, viewer));
      } finally {
        await database.close().catch(() => undefined);
      }
    });
}
