import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { ArtifactStore } from '../artifacts/store';
import type { Config } from '../config/config';
import { createLogger, type Logger } from '../core/logger';
import { settleWithin, SHUTDOWN_BUDGET_MS } from '../core/shutdown';
import { openDatabase } from '../db/data-source';
import { EpisodeEventPublisher, eventsChannel } from '../episodes/events';
import { EpisodeRepository, StageRunRepository } from '../episodes/episodes.repository';
import { FeedRepository } from '../episodes/feeds.repository';
import { buildStages } from '../pipeline/stages';
import { createRedis, Queues } from '../queue/queues';
import type { PipelineDeps } from '../workers/pipeline';

export interface RoleContext extends PipelineDeps {
  /** Commands (publish, lock, queue producers). */
  redis: Redis;
  close(): Promise<void>;
}

/** The shared wiring of every non-api role: Postgres, Redis, queues, the artifact store and the stage chain. */
export async function createRoleContext(config: Config, opts: { log?: Logger; poolSize?: number; stages?: PipelineDeps['stages'] } = {}): Promise<RoleContext> {
  const log = opts.log ?? createLogger({ service: `podbrain-${config.role}`, level: config.logLevel });
  const ds: DataSource = await openDatabase(config, { poolSize: opts.poolSize ?? 10 });
  const redis = createRedis(config, { forWorker: true });
  redis.on('error', (e) => log.debug({ err: e.message }, 'redis connection error'));
  const queues = Queues.fromConfig(config, redis);
  const store = new ArtifactStore(config.dataDir);
  return {
    config,
    ds,
    redis,
    queues,
    store,
    stages: opts.stages ?? buildStages(config),
    events: new EpisodeEventPublisher(redis, eventsChannel(config), log),
    log,
    episodes: new EpisodeRepository(ds),
    stageRuns: new StageRunRepository(ds),
    feeds: new FeedRepository(ds),
    /** Bounded (core/shutdown.ts): a queue close waits on Redis, a pool end on Postgres; either may be unreachable. */
    async close() {
      if ((await settleWithin(queues.close(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') log.warn('queues did not close (Redis unreachable?): disconnecting');
      redis.disconnect();
      if ((await settleWithin(ds.destroy(), SHUTDOWN_BUDGET_MS.close)) === 'timeout') log.warn('Postgres pool did not close in time: leaving it');
    },
  };
}
