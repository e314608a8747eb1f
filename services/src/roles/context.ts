import type { Redis } from 'ioredis';
import { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { createLogger, type Logger } from '../core/logger';
import { settleWithin, SHUTDOWN_BUDGET_MS } from '../core/shutdown';
import { Database } from '../db/database';
import { EpisodeEventPublisher, eventsChannel } from '../repositories/episode-events.repository';
import { EpisodeRepository } from '../repositories/episodes.repository';
import { FeedRepository } from '../repositories/feeds.repository';
import { StageRunRepository } from '../repositories/stage-runs.repository';
import { buildStages } from '../pipeline/stages';
import { createRedis, Queues } from '../queue/queues';
import type { PipelineDeps } from '../jobs/stage.jobs';
import { SavedSearchAlerts } from '../saved-searches/saved-search-alerts';

export interface RoleContext extends PipelineDeps {
  /** Commands (publish, lock, queue producers). */
  redis: Redis;
  /** Standing alerts: matched where episodes are projected, swept by the scheduler leader (built lazily: costs nothing where unused). */
  savedSearches: SavedSearchAlerts;
  close(): Promise<void>;
}

/** The shared wiring of every non-api role: Postgres, Redis, queues, the artifact store and the stage chain. */
export async function createRoleContext(config: Config, opts: { log?: Logger; poolSize?: number; stages?: PipelineDeps['stages'] } = {}): Promise<RoleContext> {
  const log = opts.log ?? createLogger({ service: `podbrain-${config.role}`, level: config.logLevel });
  const database = new Database(config, log, { poolSize: opts.poolSize ?? 10, applicationName: `podbrain-${config.role}` });
  const redis = createRedis(config, { forWorker: true });
  redis.on('error', (e) => log.debug({ err: e.message }, 'redis connection error'));
  const queues = Queues.fromConfig(config, redis);
  const store = new ArtifactStore(config.dataDir);
  const savedSearches = new SavedSearchAlerts({ config, database, log });
  return {
    config,
    database,
    redis,
    queues,
    store,
    stages: opts.stages ?? buildStages(config),
    events: new EpisodeEventPublisher(redis, eventsChannel(config), log),
    log,
    episodes: new EpisodeRepository(database),
    stageRuns: new StageRunRepository(database),
    feeds: new FeedRepository(database),
    savedSearches,
    /** Bounded (core/shutdown.ts): a queue close waits on Redis, a pool end on Postgres; either may be unreachable. */
    async close() {
      if ((await settleWithin(savedSearches.close(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') log.warn('saved-search matching still running: leaving it');
      if ((await settleWithin(queues.close(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') log.warn('queues did not close (Redis unreachable?): disconnecting');
      redis.disconnect();
      if ((await settleWithin(database.close(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') log.warn('Postgres pool did not close in time: leaving it');
    },
  };
}
