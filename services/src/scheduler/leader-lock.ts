import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * "Exactly one active scheduler": a Redis key with a lease (SET NX PX), renewed by its
 * holder every third of the lease. A holder that dies (kill -9) stops renewing; a standby
 * trying every third of the lease takes over within about 1⅓ leases.
 */
export class LeaderLock {
  readonly token = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private held = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly leaseMs: number,
  ) {}

  get isLeader(): boolean {
    return this.held;
  }

  /** Acquires or renews; returns whether this process leads now. A Redis error counts as "not leader". */
  async tick(): Promise<boolean> {
    try {
      if (this.held) {
        const renewed = (await this.redis.eval(RENEW, 1, this.key, this.token, String(this.leaseMs))) as number;
        if (renewed === 1) return true;
      }
      this.held = (await this.redis.set(this.key, this.token, 'PX', this.leaseMs, 'NX')) === 'OK';
    } catch {
      this.held = false;
    }
    return this.held;
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.redis.eval(RELEASE, 1, this.key, this.token).catch(() => undefined);
  }

  async holder(): Promise<string | null> {
    return this.redis.get(this.key);
  }
}
