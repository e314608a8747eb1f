import { Injectable } from '@nestjs/common';
import { Database } from '../db/database';

/** Tenants and their API keys (api_keys: sha256 of the key, never the key). */
@Injectable()
export class TenantRepository {
  constructor(private readonly database: Database) {}

  /** The tenant of a key by its sha256 (hex), unless revoked. */
  async tenantOfKeyHash(keyHash: string): Promise<string | null> {
    const row = await this.database.db.selectFrom('api_keys').select('tenant_id').where('key_hash', '=', keyHash).where('revoked_at', 'is', null).limit(1).executeTakeFirst();
    return row?.tenant_id ?? null;
  }

  /** The tenant's subscribed feed ids. */
  async subscribedFeedIds(tenantId: string): Promise<string[]> {
    const rows = await this.database.db.selectFrom('subscriptions').select('feed_id').where('tenant_id', '=', tenantId).execute();
    return rows.map((r) => r.feed_id);
  }
}
