import type { Redis } from 'ioredis';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { EpisodeStateName } from '../db/schema';

/** What subscribers of `<prefix>:events` receive (the api's SSE fans these out). */
export interface EpisodeEvent {
  type: 'episode';
  episode_key: string;
  feed_id: string;
  state: EpisodeStateName;
  stage?: string;
  error?: string;
  reason?: string;
  at: string;
}

/** `podbrain:events` with the default QUEUE_PREFIX; tests get their own channel through their own prefix. */
export function eventsChannel(config: Pick<Config, 'queue'>): string {
  return `${config.queue.prefix}:events`;
}

/**
 * Episode state changes on Redis pub/sub (`<prefix>:events`): workers publish, every api process
 * subscribes (api/events/event-hub.ts) and fans them out to SSE clients. A provider of the role
 * modules (roles/role.module.ts); built with the role's Redis connection.
 */
export class EpisodeEventPublisher {
  constructor(
    private readonly redis: Redis,
    readonly channel: string,
    private readonly log?: Logger,
  ) {}

  /** Best effort: a lost event never fails a stage (the API can always re-read Postgres). */
  async publish(e: Omit<EpisodeEvent, 'type' | 'at'>): Promise<void> {
    const event: EpisodeEvent = { type: 'episode', ...e, at: new Date().toISOString() };
    try {
      await this.redis.publish(this.channel, JSON.stringify(event));
    } catch (err) {
      this.log?.warn({ err: (err as Error).message, episode_key: e.episode_key }, 'could not publish episode event');
    }
  }
}

export function parseEpisodeEvent(message: string): EpisodeEvent | null {
  try {
    const v = JSON.parse(message) as EpisodeEvent;
    return v && v.type === 'episode' && typeof v.episode_key === 'string' ? v : null;
  } catch {
    return null;
  }
}
