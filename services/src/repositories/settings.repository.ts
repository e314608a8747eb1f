import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import type { Config } from '../config/config';
import { Database } from '../db/database';
import { initialSettings, isRuntimeSettingKey, RUNTIME_SETTINGS, type RuntimeSettingKey, type RuntimeSettingValue, type RuntimeSettingValues } from '../control/runtime-settings';

export interface StoredSetting {
  key: RuntimeSettingKey;
  value: unknown;
  updated_at: Date;
  updated_by: string;
}

/** runtime_settings (control/runtime-settings.ts): the overrides set at runtime. */
@Injectable()
export class SettingsRepository {
  constructor(private readonly database: Database) {}

  /** The stored overrides; a row for a key this version does not know, or whose value no longer parses, is left out. */
  async stored(): Promise<StoredSetting[]> {
    const rows = await this.database.db.selectFrom('runtime_settings').selectAll().execute();
    return rows.flatMap((r) => (isRuntimeSettingKey(r.key) && RUNTIME_SETTINGS[r.key].schema.safeParse(r.value).success ? [{ ...r, key: r.key }] : []));
  }

  /** config's values with the stored overrides applied. */
  async effective(config: Config): Promise<RuntimeSettingValues> {
    const values: Record<string, unknown> = { ...initialSettings(config) };
    for (const s of await this.stored()) values[s.key] = RUNTIME_SETTINGS[s.key].schema.parse(s.value);
    return values as RuntimeSettingValues;
  }

  async set<K extends RuntimeSettingKey>(key: K, value: RuntimeSettingValue<K>, by: string): Promise<void> {
    const json = JSON.stringify(value);
    await this.database.db
      .insertInto('runtime_settings')
      .values({ key, value: json, updated_by: by })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: json, updated_by: by, updated_at: sql<Date>`now()` }))
      .execute();
  }

  /** Back to the .env / config value. */
  async reset(key: RuntimeSettingKey): Promise<void> {
    await this.database.db.deleteFrom('runtime_settings').where('key', '=', key).execute();
  }
}
