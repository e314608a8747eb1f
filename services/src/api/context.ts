import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { Queues } from '../queue/queues';
import type { TenantRepository } from '../repositories/tenants.repository';
import { correlationIdOf } from './correlation';
import { ApiError } from './errors';

const redisUnavailable = () => new ApiError(503, 'redis_unavailable', 'the queue (Redis) is unreachable right now; try again shortly');

/** What every api controller shares (one per api process); provided by ApiModule. */
export class ApiContext {
  constructor(
    readonly config: Config,
    /** Commands and queue producers; the SSE subscriber has its own connection. */
    readonly redis: Redis,
    readonly queues: Queues,
    readonly log: Logger,
    private readonly tenants: TenantRepository,
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

  /** The request's correlation id (api/correlation.ts): pass it to enqueues and log lines. */
  correlationOf(req: unknown): string {
    return correlationIdOf(req);
  }

  private readonly keyCache = new Map<string, { tenant: string | null; until: number }>();

  /** Tenant of a per-tenant API key (api_keys, sha256 stored, not revoked); cached for 30 s. */
  async tenantForKey(key: string): Promise<string | null> {
    return this.tenantForKeyHash(createHash('sha256').update(key).digest('hex'));
  }

  /** Tenant of the key with this sha256 (a tenant session names its key so), same cache. */
  async tenantForKeyHash(hash: string): Promise<string | null> {
    const hit = this.keyCache.get(hash);
    if (hit && hit.until > Date.now()) return hit.tenant;
    const tenant = await this.tenants.tenantOfKeyHash(hash);
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    this.keyCache.set(hash, { tenant, until: Date.now() + 30_000 });
    return tenant;
  }
}
