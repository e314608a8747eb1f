import type { Command } from 'commander';

// Filled in by the issue that owns `podbrain models`.
export function registerModelsCommands(_program: Command): void {}
