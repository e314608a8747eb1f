import { Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../../core/logger';
import { errorMessage } from '../../core/errors';
import { migrateUp, openMigrationDataSource } from '../../db/migrate';
import { startRole } from '../../roles/roles';
import { buildInfo } from '../../telemetry/health';
import { initMetrics } from '../../telemetry/metrics';
import { resolveViewerDir } from '../../api/static/viewer-static';
import { configFrom } from '../context';

interface ServeOptions {
  port?: number;
  host?: string;
  web?: string;
  migrate?: boolean;
  workers?: boolean;
}

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0 = any free port)');
  return n;
};

/**
 * `podbrain serve`: the api role with the viewer on one port, without Docker (issue 18). It needs
 * Postgres and Redis like the appliance's api (DATABASE_URL, REDIS_URL); the library it shows is
 * the stage mode's, in Postgres — `podbrain run --out` writes artifacts only, which no api reads.
 * `--workers` also runs the scheduler and one worker for every queue in this process, so feeds
 * added in the viewer are polled and processed (the appliance's roles, in one process).
 */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the viewer (web/dist) and the API on one port, without Docker (needs Postgres and Redis)')
    .option('--port <n>', 'port to listen on (overrides API_PORT, default 8100; 0 = any free port)', port)
    .option('--web <dir|auto|off>', 'the built viewer to serve (overrides WEB_DIST_DIR; auto = web/dist of this checkout)')
    .option('--migrate', 'apply pending database migrations first (podbrain db migrate)')
    .option('--workers', 'also run the scheduler and a worker for every queue in this process')
    .action(async (opts: ServeOptions, cmd: Command) => {
      const config = configFrom(cmd, {
        PODBRAIN_ROLE: 'api',
        ...(opts.port ? { API_PORT: opts.port } : {}),
        ...(opts.web ? { WEB_DIST_DIR: opts.web } : {}),
      });
      // API_PORT has no 0 (the appliance publishes a fixed port); --port 0 asks the kernel for one.
      if (opts.port === 0) config.apiPort = 0;
      const log = createLogger({ service: 'podbrain-serve', level: config.logLevel });
      const { version, gitSha } = buildInfo();
      initMetrics({ role: 'api', version, gitSha });
      if (opts.migrate) {
        const ds = await openMigrationDataSource(config, { poolSize: 2 });
        try {
          const ran = await migrateUp(ds);
          if (ran.length) log.info({ migrations: ran }, 'migrations applied');
        } finally {
          await ds.destroy();
        }
      }
      // Loaded here: the other commands never load Nest's HTTP stack.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { bootstrapApi, listeningPort } = require('../../api/bootstrap') as typeof import('../../api/bootstrap');
      const app = await bootstrapApi(config, { log });
      const running: { role: string; stop(): Promise<void> }[] = [{ role: 'api', stop: () => app.close() }];
      if (opts.workers) {
        running.push(await startRole('scheduler', { ...config, role: 'scheduler' }, { log: log.child({ role: 'scheduler' }) }));
        running.push(await startRole('worker', { ...config, role: 'worker' }, { log: log.child({ role: 'worker' }), queues: 'all' }));
      }
      const url = `http://127.0.0.1:${listeningPort(app)}/`;
      if (!resolveViewerDir(config.web.distDir)) {
        const why = config.web.distDir === 'off' ? 'WEB_DIST_DIR=off' : 'no built web/dist next to services/: `npm run build -w web`';
        process.stderr.write(`podbrain: serving the API only (${why})\n`);
      }
      process.stdout.write(`podbrain: serving on ${url} (API at ${url}api, docs at ${url}api/docs); Ctrl-C stops\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          log.info({ signal }, 'stopping');
          // Workers first (they finish their current job within SHUTDOWN_GRACE_MS), the api last.
          void (async () => {
            for (const r of [...running].reverse()) await r.stop().catch((e) => log.warn({ role: r.role, err: errorMessage(e) }, 'unclean stop'));
            resolve();
          })();
        };
        // Kept (not once): Nest's own shutdown hook raises the signal again once the app is closed.
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
