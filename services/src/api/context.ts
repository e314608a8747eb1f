import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import { DEFAULT_TENANT } from '../db/entities/tenant.entities';
import type { Queues } from '../queue/queues';
import type { ApiDatabase } from './database';

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
   * The caller's tenant. One key (AUTH_API_KEY) guards one deployment today, so every caller
   * is the default tenant; per-tenant keys (api_keys table) plug in here.
   */
  tenantOf(_req: unknown): string {
    return DEFAULT_TENANT;
  }
}
