/**
 * The stage names, apart from the Stage interface (stage.ts) so that the artifact store, which
 * stage.ts builds on, can name stages without importing it back.
 */

/** Per-episode stages in pipeline order; `project` and `digest` exist only in stage mode. */
export const EPISODE_STAGES = ['ingest', 'transcribe', 'enrich', 'index'] as const;
export type EpisodeStageName = (typeof EPISODE_STAGES)[number];
export type StageName = EpisodeStageName | 'project' | 'digest';
