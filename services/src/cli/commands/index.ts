import type { Command } from 'commander';
import { registerDbCommands } from './db';
import { registerDigestCommand } from './digest';
import { registerDoctorCommand } from './doctor';
import { registerEvalCommands } from './eval';
import { registerFeedCommands } from './feed';
import { registerModelsCommands } from './models';
import { registerNotifyCommands } from './notify';
import { registerReprocessCommands } from './reprocess';
import { registerRunCommand } from './run';
import { registerSearchCommand } from './search';
import { registerServeCommand } from './serve';
import { registerTranscribeCommand } from './transcribe';

export function registerCommands(program: Command): void {
  registerRunCommand(program);
  registerFeedCommands(program);
  registerTranscribeCommand(program);
  registerModelsCommands(program);
  registerEvalCommands(program);
  registerSearchCommand(program);
  registerDoctorCommand(program);
  registerDbCommands(program);
  registerNotifyCommands(program);
  registerReprocessCommands(program);
  registerDigestCommand(program);
  registerServeCommand(program);
}
