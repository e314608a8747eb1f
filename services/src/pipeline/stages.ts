import type { Config } from '../config/config';
import { createEnrichStage } from '../stages/enrich.stage';
import { createIndexStage } from '../stages/index.stage';
import { createIngestStage } from '../stages/ingest.stage';
import { createTranscribeStage } from '../stages/transcribe.stage';
import type { Stage } from './stage';

/** The per-episode stage chain, shared by atomic mode (CLI) and stage mode (workers). */
export function buildStages(_config: Config): Stage[] {
  return [createIngestStage(), createTranscribeStage(), createEnrichStage(), createIndexStage()];
}
