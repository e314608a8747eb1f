import type { Command } from 'commander';

// Filled in by the issue that owns `podbrain search`.
export function registerSearchCommand(_program: Command): void {}
