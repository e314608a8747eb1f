import type { Command } from 'commander';

// Filled in by the issue that owns `podbrain eval`.
export function registerEvalCommands(_program: Command): void {}
