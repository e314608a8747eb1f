import { z } from 'zod';
import type { Config } from '../config/config';
import { QUEUE_NAMES, QUEUE_SETTINGS, type QueueName } from '../queue/queues';

/**
 * Settings that are safe to change while the appliance runs (issue 14). Stored in Postgres
 * (runtime_settings); a key with no row has its .env / config.ts value. Every role reads the
 * table again every RUNTIME_SETTINGS_REFRESH_S and on a `settings-changed` control message.
 */
export const AGENT_MODES = ['off', 'shadow', 'auto'] as const;
export type AgentMode = (typeof AGENT_MODES)[number];

const boolish = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'on', 'off'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'on');
const concurrency = z.coerce.number().int().min(1).max(256);

type QueueConcurrencyKey = `queue.${QueueName}.concurrency`;

interface ConcurrencySetting {
  summary: string;
  schema: typeof concurrency;
  initial: (c: Config) => number;
}

function queueConcurrencySettings(): Record<QueueConcurrencyKey, ConcurrencySetting> {
  const out = {} as Record<QueueConcurrencyKey, ConcurrencySetting>;
  for (const q of QUEUE_NAMES) out[`queue.${q}.concurrency`] = { summary: `Worker concurrency of the ${q} queue in every process that serves it`, schema: concurrency, initial: () => QUEUE_SETTINGS[q].concurrency };
  return out;
}

export const RUNTIME_SETTINGS = {
  'feeds.poll_interval_s': { summary: 'How often every feed is polled, in seconds', schema: z.coerce.number().int().min(60).max(7 * 86_400), initial: (c: Config) => c.feeds.pollIntervalS },
  'agent.mode': { summary: 'On-call agent: off, shadow (records what it would do) or auto', schema: z.enum(AGENT_MODES), initial: (c: Config): AgentMode => c.agent.mode },
  'agent.kill_switch': { summary: 'When on, the on-call agent runs no action at all', schema: boolish, initial: () => false },
  'reprocess.auto': { summary: 'Reprocess stale episodes automatically inside REPROCESS_WINDOW, when no new episode waits', schema: boolish, initial: (c: Config) => c.reprocess.auto },
  ...queueConcurrencySettings(),
} satisfies Record<string, { summary: string; schema: z.ZodType; initial: (c: Config) => unknown }>;

export type RuntimeSettingKey = keyof typeof RUNTIME_SETTINGS;
export type RuntimeSettingValue<K extends RuntimeSettingKey> = z.output<(typeof RUNTIME_SETTINGS)[K]['schema']>;
export type RuntimeSettingValues = { [K in RuntimeSettingKey]: RuntimeSettingValue<K> };
export const RUNTIME_SETTING_KEYS = Object.keys(RUNTIME_SETTINGS) as RuntimeSettingKey[];

export function isRuntimeSettingKey(s: string): s is RuntimeSettingKey {
  return Object.prototype.hasOwnProperty.call(RUNTIME_SETTINGS, s);
}

export function queueConcurrencyKey(q: QueueName): QueueConcurrencyKey {
  return `queue.${q}.concurrency`;
}

/** The values from config (what applies when no row overrides them). */
export function initialSettings(config: Config): RuntimeSettingValues {
  return Object.fromEntries(RUNTIME_SETTING_KEYS.map((k) => [k, RUNTIME_SETTINGS[k].initial(config)])) as RuntimeSettingValues;
}

export class RuntimeSettingError extends Error {}

/** Parses one value for its key; throws RuntimeSettingError naming the key and the problem. */
export function parseSetting<K extends RuntimeSettingKey>(key: K, raw: unknown): RuntimeSettingValue<K> {
  const r = RUNTIME_SETTINGS[key].schema.safeParse(raw);
  if (!r.success) throw new RuntimeSettingError(`${key}: ${r.error.issues.map((i) => i.message).join('; ')}`);
  return r.data as RuntimeSettingValue<K>;
}
