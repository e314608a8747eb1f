import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/config';

/** Loads the config from env + the global --config file + the given flag overrides. */
export function configFrom(cmd: Command, overrides: Record<string, unknown> = {}): Config {
  const root = cmd.optsWithGlobals() as { config?: string };
  return loadConfig({ file: root.config, overrides });
}
