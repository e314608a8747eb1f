#!/usr/bin/env node
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config';
import { PodbrainError } from '../core/errors';
import { registerCommands } from './commands';

async function main(argv: string[]): Promise<number> {
  const program = new Command('podbrain')
    .description('Many podcasts, one brain: feeds → transcripts → insights → search')
    .option('-c, --config <file>', 'YAML config file (else $PODBRAIN_CONFIG)')
    .showHelpAfterError()
    .exitOverride();
  registerCommands(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof ConfigError || e instanceof PodbrainError) {
      process.stderr.write(`podbrain: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`podbrain: ${(e as Error).stack ?? e}\n`);
    return 1;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
