import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import { DEFAULT_TENANT } from '../db/entities/tenant.entities';
import type { Queues } from '../queue/queues';
import type { ApiDatabase } from './database';
import { ApiError } from './errors';

const redisUnavailable = () => new ApiError(503, 'redis_unavailable', 'the queue (Redis) is unreachable right now; try again shortly');

/** What every api controller shares (one per api process); provided by ApiModule. */
export class ApiContext {
  constructor(
    readonly config: Config,
    readonly db: ApiDatabase,
    /** Commands and queue producers; the SSE subscriber has its own connection. */
    readonly redis: Redis,
    readonly queues: Queues,
    readonly log: Logger,
  ) {}

  /**
   * Runs a queue/Redis operation; while Redis is down it fails at once with 503 instead of
   * waiting in ioredis's offline queue (or BullMQ's wait for a ready connection).
   */
  async withRedis<T>(fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
    if (this.redis.status !== 'ready') throw redisUnavailable();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([fn(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(redisUnavailable()), timeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The caller's tenant. One key (AUTH_API_KEY) guards one deployment today, so every caller
   * is the default tenant; per-tenant keys (api_keys table) plug in here.
   */
  tenantOf(_req: unknown): string {
    return DEFAULT_TENANT;
  }
}
