import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { parseEpisodeEvent, type EpisodeEvent } from '../../repositories/episode-events.repository';
import type { Logger } from '../../core/logger';
import { parseIncidentSignal } from '../../agent/agent-bus';
import type { EpisodeEventView, IncidentSignalView } from '../contract';

/** What an SSE client receives as `event: episode` (the contract's EpisodeEvent). */
function toEventView(e: EpisodeEvent): EpisodeEventView {
  return { episode_key: e.episode_key, feed_id: e.feed_id, state: e.state, stage: e.stage ?? null, reason: e.reason ?? e.error ?? null, at: e.at };
}

/**
 * One Redis subscription per api process, fanned out to every connected SSE client: a
 * client of any api instance hears the events of every worker (they publish on the channel),
 * and the incident changes of the agent and the alert webhook (on `incidentsChannel`).
 */
export class EventHub {
  private readonly emitter = new EventEmitter();
  private closed = false;

  constructor(
    private readonly subscriber: Redis,
    readonly channel: string,
    private readonly log: Logger,
    readonly incidentsChannel?: string,
  ) {
    this.emitter.setMaxListeners(0);
  }

  /** Subscribes in the background: the api starts (and serves reads) while Redis is down. */
  start(): void {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.incidentsChannel) {
        const s = parseIncidentSignal(message);
        if (s) this.emitter.emit('incident', s);
        return;
      }
      if (channel !== this.channel) return;
      const e = parseEpisodeEvent(message);
      if (e) this.emitter.emit('episode', toEventView(e));
    });
    // ioredis re-subscribes by itself after a reconnect; a SUBSCRIBE that fails outright is retried.
    this.subscribe();
  }

  private subscribe(): void {
    if (this.closed) return;
    // Not before the connection is ready: a SUBSCRIBE queued while ioredis is still connecting
    // puts the connection in subscriber mode before its own ready check (INFO) runs, that check
    // then fails ("only subscriber commands may be used") and the subscription is lost.
    if (this.subscriber.status !== 'ready') {
      this.subscriber.once('ready', () => this.subscribe());
      return;
    }
    this.subscriber.subscribe(...[this.channel, ...(this.incidentsChannel ? [this.incidentsChannel] : [])]).then(
      () => this.log.info({ channel: this.channel }, 'listening for episode events'),
      (err: Error) => {
        this.log.warn({ err: err.message }, 'events subscription failed; retrying in 1 s');
        setTimeout(() => this.subscribe(), 1000).unref();
      },
    );
  }

  onEpisode(listener: (e: EpisodeEventView) => void): () => void {
    this.emitter.on('episode', listener);
    return () => this.emitter.off('episode', listener);
  }

  onIncident(listener: (e: IncidentSignalView) => void): () => void {
    this.emitter.on('incident', listener);
    return () => this.emitter.off('incident', listener);
  }

  get clients(): number {
    return this.emitter.listenerCount('episode');
  }

  /** Runs when the hub closes (api shutdown): SSE responses end so the HTTP server can close. */
  onClose(listener: () => void): () => void {
    this.emitter.once('close', listener);
    return () => this.emitter.off('close', listener);
  }

  close(): void {
    this.closed = true;
    this.emitter.emit('close');
    this.emitter.removeAllListeners();
    this.subscriber.disconnect();
  }
}
