import type { Command } from 'commander';

// Filled in by the issue that owns `podbrain run`.
export function registerRunCommand(_program: Command): void {}
