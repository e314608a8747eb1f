import type { Config } from '../config/config';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import type { SettingsRepository } from '../repositories/settings.repository';
import { initialSettings, RUNTIME_SETTING_KEYS, type RuntimeSettingKey, type RuntimeSettingValues } from './runtime-settings';

export type RuntimeSettingsListener = (values: RuntimeSettingValues, changed: readonly RuntimeSettingKey[]) => void | Promise<void>;

/**
 * The runtime settings as one role process sees them (control/runtime-settings.ts): config's
 * values at first, then SettingsRepository.effective() read at start, every
 * RUNTIME_SETTINGS_REFRESH_S and whenever a `settings-changed` control message arrives
 * (roles/roles.ts calls refresh). Listeners hear only about keys whose value changed, so a
 * value no row overrides is never pushed onto a role (a test's own worker concurrency stays).
 * A refresh that cannot reach Postgres keeps the last values.
 */
export class RuntimeSettingsWatcher {
  private current: RuntimeSettingValues;
  private readonly listeners: RuntimeSettingsListener[] = [];
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private again = false;

  constructor(private readonly deps: { config: Config; settings: Pick<SettingsRepository, 'effective'>; log: Logger }) {
    this.current = initialSettings(deps.config);
  }

  get values(): RuntimeSettingValues {
    return this.current;
  }

  onChange(listener: RuntimeSettingsListener): void {
    this.listeners.push(listener);
  }

  /** Reads once, then every RUNTIME_SETTINGS_REFRESH_S (0: only on settings-changed). */
  async start(): Promise<void> {
    await this.refresh();
    const everyS = this.deps.config.settingsRefreshS;
    if (everyS > 0) {
      const loop = () => {
        this.timer = setTimeout(() => void this.refresh().finally(() => this.timer && loop()), everyS * 1000);
        this.timer.unref();
      };
      loop();
    }
  }

  /** Reads the settings again; concurrent calls share one read (and one more after it, so no change is missed). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again);
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async readOnce(): Promise<void> {
    let next: RuntimeSettingValues;
    try {
      next = await this.deps.settings.effective(this.deps.config);
    } catch (e) {
      this.deps.log.warn({ err: errorMessage(e) }, 'runtime settings could not be read; keeping the last values');
      return;
    }
    const changed = RUNTIME_SETTING_KEYS.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(this.current[k]));
    this.current = next;
    if (!changed.length) return;
    this.deps.log.info({ changed: Object.fromEntries(changed.map((k) => [k, next[k]])) }, 'runtime settings changed');
    for (const listener of this.listeners) {
      try {
        await listener(next, changed);
      } catch (e) {
        this.deps.log.warn({ err: errorMessage(e), changed }, 'applying a runtime setting failed');
      }
    }
  }
}
