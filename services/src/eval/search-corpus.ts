import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ArtifactStore } from '../artifacts/store';
import { parseTranscript } from '../asr/feed/formats';
import type { Transcript } from '../asr/types';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { type Logger, silentLogger } from '../core/logger';
import type { FeedEpisode } from '../feeds/types';
import { PipelineRunner } from '../pipeline/runner';
import type { Stage } from '../pipeline/stage';
import { createIndexStage } from '../stages/index.stage';
import { fixturePublisherTranscripts } from './gate-corpus';

/** The feed id of the fixture library; its episode keys are the source names (1865, reference-texts, …). */
export const FIXTURE_FEED = 'fixtures';

/** shared/fixtures beside the repository (the same depth from src/eval and dist/eval), unless PODBRAIN_FIXTURES says otherwise. */
export function defaultFixturesDir(): string {
  return process.env.PODBRAIN_FIXTURES || path.resolve(__dirname, '../../../../shared/fixtures');
}

export interface LibraryEpisode {
  episodeKey: string;
  title: string;
  transcript: Transcript;
}

/** The fixture publisher transcripts (the SRT of each source, parsed by the feed engine's parser) as library episodes. */
export function fixtureLibraryEpisodes(fixturesDir: string): LibraryEpisode[] {
  if (!existsSync(path.join(fixturesDir, 'feeds', 'real'))) {
    throw new PodbrainError('eval_no_fixtures', `no fixture feeds in ${fixturesDir}/feeds/real (set --fixtures or PODBRAIN_FIXTURES)`);
  }
  return fixturePublisherTranscripts(fixturesDir)
    .filter((c) => c.format === 'srt')
    .map((c) => {
      const episodeKey = c.name.replace(/\.srt$/, '');
      const { segments } = parseTranscript(c.body, 'srt');
      const transcript: Transcript = {
        schema_version: 1,
        episode_key: episodeKey,
        engine: 'feed',
        model: 'fixture',
        language: 'en',
        duration_ms: segments.at(-1)?.end_ms ?? 0,
        segments,
        speech_coverage: null,
        status: 'valid',
        quality: { reasons: [] },
      };
      return { episodeKey, title: episodeKey, transcript };
    });
}

/** Stands in for transcription: writes the episode's given transcript. */
function givenTranscriptStage(transcripts: Map<string, Transcript>): Stage {
  return {
    name: 'transcribe',
    needs: [],
    plan: ({ episode }) => ({ configured: true, parts: { given: transcripts.get(episode.episodeKey)?.segments.length ?? 0 } }),
    async run({ episode }, out) {
      const t = transcripts.get(episode.episodeKey);
      if (!t) throw new PodbrainError('eval_no_transcript', `no transcript for ${episode.episodeKey}`);
      await out.writeJson('transcript.json', t);
      return { info: { engine: 'feed' } };
    },
  };
}

/**
 * Builds a searchable library in config.dataDir from these episodes with the real index stage
 * (chunking, the configured embedding provider, the vector index), as `podbrain run` would.
 */
export async function buildLibrary(config: Config, episodes: LibraryEpisode[], log: Logger = silentLogger): Promise<void> {
  await fs.mkdir(config.dataDir, { recursive: true });
  const transcripts = new Map(episodes.map((e) => [e.episodeKey, e.transcript]));
  const runner = new PipelineRunner({ config, store: new ArtifactStore(config.dataDir), log, stages: [givenTranscriptStage(transcripts), createIndexStage()] });
  for (const e of episodes) {
    const episode = { feedId: FIXTURE_FEED, feedUrl: `file:///${FIXTURE_FEED}.xml`, episodeKey: e.episodeKey, title: e.title, guid: e.episodeKey } as unknown as FeedEpisode;
    const report = await runner.runEpisode(episode);
    if (report.state !== 'done') throw new PodbrainError('eval_index_failed', `indexing ${e.episodeKey} ended ${report.state}: ${report.reason ?? 'see the log'}`);
  }
}
