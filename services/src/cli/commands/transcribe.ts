import type { Command } from 'commander';

// Filled in by the issue that owns `podbrain transcribe`.
export function registerTranscribeCommand(_program: Command): void {}
