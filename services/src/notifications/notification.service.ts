import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { configuredChannels, type Channel } from './channels';
import type { Notification } from './notification';

export interface ChannelResult {
  channel: Channel['name'];
  ok: boolean;
  error?: string;
  ms: number;
}

export interface NotifyResult {
  /** false: an identical notification went out within the repeat window; nothing was sent. */
  sent: boolean;
  channels: ChannelResult[];
}

export interface NotificationServiceOptions {
  channels: Channel[];
  log: Logger;
  timeoutMs: number;
  repeatWindowMs: number;
  /** Values that must never appear in a log line or a result (tokens, passwords, secret URLs). */
  secrets: string[];
  now?: () => number;
}

export const NOTIFICATION_OPTIONS = Symbol('NOTIFICATION_OPTIONS');

/**
 * Fans one notification out to every configured channel at once, each bounded by the timeout.
 * Never throws: a caller (the agent) reports an incident whether or not anyone could be told.
 */
@Injectable()
export class NotificationService implements OnApplicationShutdown {
  private readonly lastSent = new Map<string, number>();
  private readonly now: () => number;

  constructor(@Inject(NOTIFICATION_OPTIONS) private readonly opts: NotificationServiceOptions) {
    this.now = opts.now ?? Date.now;
  }

  static fromConfig(config: Config, log: Logger, channels: Channel[] = configuredChannels(config)): NotificationService {
    const n = config.notify;
    // A webhook URL often carries its secret in the path (Slack, Discord, Gotify style).
    const hook = n.webhook.url ? new URL(n.webhook.url) : undefined;
    const secretUrl = hook ? [n.webhook.url, hook.href, hook.pathname.length > 1 ? `${hook.pathname}${hook.search}` : ''] : [];
    return new NotificationService({
      channels,
      log,
      timeoutMs: n.timeoutMs,
      repeatWindowMs: n.repeatWindowS * 1000,
      secrets: [n.ntfy.token, n.webhook.token, n.webhook.secret, n.email.password, ...secretUrl].filter(Boolean),
    });
  }

  get channelNames(): Channel['name'][] {
    return this.opts.channels.map((c) => c.name);
  }

  async notify(n: Notification): Promise<NotifyResult> {
    const identity = `${n.kind}\u0000${n.key}`;
    const now = this.now();
    const last = this.lastSent.get(identity);
    if (last !== undefined && now - last < this.opts.repeatWindowMs) {
      this.opts.log.debug({ kind: n.kind, key: n.key }, 'notification repeated within the window; not sent');
      return { sent: false, channels: [] };
    }
    this.lastSent.set(identity, now);
    this.forgetOlderThan(now - this.opts.repeatWindowMs);

    const channels = await Promise.all(this.opts.channels.map((c) => this.sendOne(c, n)));
    // Nobody was told: the next identical notification must not be held back by this one.
    if (channels.length && channels.every((c) => !c.ok)) this.lastSent.delete(identity);
    return { sent: true, channels };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    await Promise.all(this.opts.channels.map((c) => c.close?.().catch(() => undefined)));
  }

  private async sendOne(channel: Channel, n: Notification): Promise<ChannelResult> {
    const started = this.now();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new Error(`no answer within ${this.opts.timeoutMs} ms`);
        abort.abort(e);
        reject(e);
      }, this.opts.timeoutMs);
    });
    try {
      // The race settles the call even when a channel ignores its signal.
      await Promise.race([Promise.resolve().then(() => channel.send(n, abort.signal)), timeout]);
      return { channel: channel.name, ok: true, ms: this.now() - started };
    } catch (e) {
      const error = this.redact(errorMessage(e));
      this.opts.log.warn({ channel: channel.name, kind: n.kind, key: n.key, err: error }, 'notification not delivered');
      return { channel: channel.name, ok: false, error, ms: this.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.opts.secrets) out = out.split(s).join('***');
    return out;
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [k, at] of this.lastSent) if (at <= cutoff) this.lastSent.delete(k);
  }
}
