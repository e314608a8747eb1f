import fs from 'node:fs/promises';
import path from 'node:path';
import { ArtifactStore } from '../../src/artifacts/store';
import type { Transcript } from '../../src/asr/types';
import type { Config } from '../../src/config/config';
import { silentLogger } from '../../src/core/logger';
import type { FeedEpisode } from '../../src/feeds/types';
import { PipelineRunner, type EpisodeReport } from '../../src/pipeline/runner';
import type { Stage } from '../../src/pipeline/stage';
import { createIndexStage } from '../../src/stages/index.stage';

/** Small topical transcripts for index/search tests: each topic has its own vocabulary. */
export const TOPICS: Record<string, string[]> = {
  astronomy: [
    'Tonight we talk about black holes and the telescopes that photograph them.',
    'A black hole bends light so strongly that nothing escapes its event horizon.',
    'The Event Horizon Telescope linked radio dishes across the planet.',
    'Astronomers measured the shadow of the galaxy core with that array.',
    'Neutron stars collide and send gravitational waves through spacetime.',
    'The detectors in Louisiana and Washington heard the merger as a chirp.',
    'Our guest explains why the Andromeda galaxy will merge with the Milky Way.',
    'Telescopes in orbit avoid the blur of the atmosphere.',
    'The James Webb telescope sees infrared light from the first galaxies.',
    'Dark matter still has no direct detection after decades of searching.',
  ],
  cooking: [
    'Today we bake sourdough bread with a starter that is ten years old.',
    'The starter needs flour and water every day to stay active.',
    'Knead the dough gently and let it rise overnight in the fridge.',
    'A hot cast iron pot gives the loaf a crisp crust.',
    'Our guest chef prefers rye flour for a sour, dense crumb.',
    'Salt matters: two percent of the flour weight is a good start.',
    'Score the loaf with a razor before it goes in the oven.',
    'Steam in the first twenty minutes lets the bread expand.',
    'Let the bread cool for an hour before you cut it.',
    'Leftover starter makes excellent pancakes and crackers.',
  ],
  football: [
    'The striker scored twice in the second half of the derby.',
    'Their goalkeeper saved a penalty in the final minute.',
    'The coach switched to a back three after the red card.',
    'Midfield pressing won the ball high up the pitch all evening.',
    'The league table is tight at the top after this weekend.',
    'Our pundit thinks the transfer window will change the title race.',
    'The referee used video review for the offside goal.',
    'Fans sang for ninety minutes in the rain.',
    'The captain signed a new contract until the end of the season.',
    'Next week the team travels away for the cup semi final.',
  ],
};

export function makeTranscript(episodeKey: string, sentences: string[], segmentMs = 4000): Transcript {
  return {
    schema_version: 1,
    episode_key: episodeKey,
    engine: 'feed',
    model: 'test',
    language: 'en',
    duration_ms: sentences.length * segmentMs,
    segments: sentences.map((text, i) => ({ start_ms: i * segmentMs, end_ms: (i + 1) * segmentMs - 100, text })),
    speech_coverage: null,
    status: 'valid',
    quality: { reasons: [] },
  };
}

export function makeEpisode(feedId: string, key: string, title: string): FeedEpisode {
  return { feedId, feedUrl: `file:///${feedId}.xml`, episodeKey: key, title, guid: key } as unknown as FeedEpisode;
}

/** A stand-in for the transcribe stage that writes the given transcript. */
export function fakeTranscribeStage(transcripts: Map<string, Transcript>): Stage {
  return {
    name: 'transcribe',
    needs: [],
    plan: ({ episode }) => ({ configured: true, parts: { fake: 1, text: transcripts.get(episode.episodeKey)?.segments.map((s) => s.text) } }),
    async run({ episode }, out) {
      const t = transcripts.get(episode.episodeKey);
      if (!t) throw new Error(`no transcript for ${episode.episodeKey}`);
      await out.writeJson('transcript.json', t);
      return { info: { engine: 'feed' } };
    },
  };
}

export interface CorpusEpisode {
  feedId: string;
  key: string;
  title: string;
  sentences: string[];
}

/** Two episodes per topic (the sentences twice, the second shuffled) in two feeds. */
export function topicEpisodes(): CorpusEpisode[] {
  const out: CorpusEpisode[] = [];
  for (const [i, [topic, sentences]] of Object.entries(TOPICS).entries()) {
    out.push({ feedId: 'feed-a', key: `feed-a:${topic}-1`, title: `All about ${topic}`, sentences: [...sentences, ...sentences.slice().reverse()] });
    out.push({ feedId: i % 2 ? 'feed-a' : 'feed-b', key: `feed-b:${topic}-2`, title: `More ${topic}`, sentences: [...sentences.slice(5), ...sentences.slice(0, 5)] });
  }
  return out;
}

/** Runs the (fake) transcribe + real index stage for each episode into config.dataDir. */
export async function buildCorpus(config: Config, episodes: CorpusEpisode[], stages?: Stage[]): Promise<EpisodeReport[]> {
  await fs.mkdir(config.dataDir, { recursive: true });
  const transcripts = new Map(episodes.map((e) => [e.key, makeTranscript(e.key, e.sentences)]));
  const runner = new PipelineRunner({
    config,
    store: new ArtifactStore(config.dataDir),
    log: silentLogger,
    stages: stages ?? [fakeTranscribeStage(transcripts), createIndexStage()],
  });
  const reports: EpisodeReport[] = [];
  for (const e of episodes) reports.push(await runner.runEpisode(makeEpisode(e.feedId, e.key, e.title)));
  return reports;
}

const made: string[] = [];

export async function tempDataDir(name: string): Promise<string> {
  const base = path.join(process.env.TMPDIR ?? '/tmp', 'podbrain-index-tests');
  await fs.mkdir(base, { recursive: true });
  const dir = await fs.mkdtemp(path.join(base, `${name}-`));
  made.push(dir);
  return dir;
}

/** Call from afterAll: removes every data dir this test file made. */
export async function removeTempDataDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
}
