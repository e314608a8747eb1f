import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFeedTranscriptEngine } from '../asr/feed/engine';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { silentLogger } from '../core/logger';
import { isLocalFeedLocation } from '../feeds/load';
import { effectiveAudioDownload } from '../feeds/policy';
import type { FeedEpisode } from '../feeds/types';
import { copyLocalAudio, downloadAudio, type DownloadResult } from '../net/download';
import { httpClientFor } from '../net/http-client';
import { EpisodeSkipped, type Stage, type StageContext } from '../pipeline/stage';
import type { StagingDir } from '../artifacts/store';
import { INGEST_FILE, type IngestArtifact } from './ingest-artifact';

const INGEST_SCHEMA = 1;
const NO_ENCLOSURE = 'no enclosure: the feed item has no audio to transcribe';

/**
 * Where an enclosure lives. Remote feeds may only point at http(s) audio; a local feed
 * file (CLI, tests, homelab folders) may also name files, relative to the feed file.
 */
function enclosureSource(episode: Pick<FeedEpisode, 'feedUrl' | 'enclosure'>): { kind: 'http'; url: string } | { kind: 'file'; path: string } | null {
  const raw = episode.enclosure?.url?.trim();
  if (!raw) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return { kind: 'http', url: raw };
  if (!isLocalFeedLocation(episode.feedUrl)) {
    throw new PodbrainError('enclosure_refused', `enclosure ${raw} is not an http(s) URL; a remote feed may only point at web audio`, { url: raw });
  }
  if (scheme === 'file') return { kind: 'file', path: fileURLToPath(raw) };
  if (scheme) throw new PodbrainError('enclosure_refused', `enclosure ${raw} has an unsupported scheme ${scheme}:`, { url: raw });
  return { kind: 'file', path: path.resolve(path.dirname(episode.feedUrl), raw) };
}

/**
 * Transcript first: the publisher's transcript is what transcribe uses (ASR_ENGINES starts with
 * `feed` and the episode lists one it may read) and AUDIO_DOWNLOAD=when-needed (the feed's own
 * choice, else the appliance's), so the audio is not downloaded for transcription; the player
 * streams the enclosure. Should the transcript prove unusable, transcribe downloads the audio
 * itself for the ASR fallback.
 */
export function streamsAudio(config: Config, episode: Pick<FeedEpisode, 'feedUrl' | 'transcripts' | 'feedAudioDownload'>): boolean {
  if (effectiveAudioDownload(config.audio.download, episode.feedAudioDownload) !== 'when-needed' || !feedEngineFirst(config)) return false;
  const feed = createFeedTranscriptEngine(config, { allowLocalFiles: isLocalFeedLocation(episode.feedUrl), logger: silentLogger });
  return feed.unavailableReason({ transcripts: episode.transcripts }) === null;
}

const feedEngineFirst = (config: Config) => config.asr.engines[0] === 'feed';

/** Ingest's recipe: downloading, or (transcript first) recording the enclosure only. */
const ingestRecipe = (stream: boolean) => (stream ? { schema: INGEST_SCHEMA, audio: 'stream' } : { schema: INGEST_SCHEMA });

/**
 * Downloads (or copies) the episode's enclosure into the artifact: `audio.<ext>` + `ingest.json`;
 * transcript first (streamsAudio), only `ingest.json` recording where the audio lives.
 */
export function createIngestStage(): Stage {
  return {
    name: 'ingest',
    needs: [],
    plan: ({ config, episode }) => {
      if (!enclosureSource(episode)) throw new EpisodeSkipped(NO_ENCLOSURE);
      // The audio is identified by where it comes from; a changed enclosure URL is new audio.
      // Not downloading makes another artifact (no audio in it): switching AUDIO_DOWNLOAD (the
      // appliance's or the feed's) to `always` makes ingest run again and fetch it. A downloading
      // plan keeps the parts it always had.
      const recipe = ingestRecipe(streamsAudio(config, episode));
      return { configured: true, parts: { ...recipe, enclosure: episode.enclosure?.url ?? null }, recipe };
    },
    // Whether an episode is streamed depends on the episode (a publisher transcript or not) and on
    // its feed's AUDIO_DOWNLOAD, which may differ from the appliance's: both are current then.
    recipes: (config) => (feedEngineFirst(config) ? [ingestRecipe(false), ingestRecipe(true)] : [ingestRecipe(false)]),
    run: async (ctx: StageContext, out: StagingDir) => {
      const source = enclosureSource(ctx.episode);
      if (!source) throw new EpisodeSkipped(NO_ENCLOSURE);
      if (streamsAudio(ctx.config, ctx.episode)) {
        const artifact: IngestArtifact = {
          schema_version: 1,
          episode_key: ctx.episode.episodeKey,
          audio: 'stream',
          audio_file: null,
          source_url: source.kind === 'http' ? source.url : (ctx.episode.enclosure?.url ?? source.path),
          final_url: null,
          bytes: null,
          sha256: null,
          content_type: ctx.episode.enclosure?.type ?? null,
          format: null,
          feed_duration_s: ctx.episode.durationS,
        };
        await out.writeJson(INGEST_FILE, artifact);
        ctx.log.info({ enclosure: artifact.source_url, feed_override: ctx.episode.feedAudioDownload != null }, 'audio not downloaded: the publisher transcript comes first (AUDIO_DOWNLOAD=when-needed)');
        return { info: { audio: 'stream' } };
      }
      const result = await fetchAudio(ctx, source, out.dir);
      const artifact: IngestArtifact = {
        schema_version: 1,
        episode_key: ctx.episode.episodeKey,
        audio: 'local',
        audio_file: result.file,
        source_url: result.url,
        final_url: result.finalUrl,
        bytes: result.bytes,
        sha256: result.sha256,
        content_type: result.contentType,
        format: result.format,
        feed_duration_s: ctx.episode.durationS,
      };
      await out.writeJson(INGEST_FILE, artifact);
      return { info: { audio: 'local', bytes: result.bytes, sha256: result.sha256, format: result.format, attempts: result.attempts, resumes: result.resumes } };
    },
  };
}

/**
 * Downloads (or copies) the episode's enclosure into `destDir`, under the same rules as the ingest
 * stage: for a stage that needs audio the ingest artifact does not hold (never downloaded, or
 * deleted by retention).
 */
export async function downloadEnclosure(ctx: Pick<StageContext, 'config' | 'episode' | 'signal' | 'progress'>, destDir: string): Promise<DownloadResult> {
  const source = enclosureSource(ctx.episode);
  if (!source) throw new EpisodeSkipped(NO_ENCLOSURE);
  return fetchAudio(ctx, source, destDir);
}

async function fetchAudio(ctx: Pick<StageContext, 'config' | 'episode' | 'signal' | 'progress'>, source: NonNullable<ReturnType<typeof enclosureSource>>, destDir: string): Promise<DownloadResult> {
  const { config } = ctx;
  if (source.kind === 'file') return copyLocalAudio({ source: source.path, destDir, maxBytes: config.audio.maxBytes });
  const expected = ctx.episode.enclosure?.length ?? null;
  return downloadAudio({
    client: httpClientFor(config),
    url: source.url,
    destDir,
    maxBytes: config.audio.maxBytes,
    retries: config.audio.downloadRetries,
    pace: { baseMs: config.audio.downloadTimeoutBaseMs, minBytesPerS: config.audio.downloadMinBytesPerS },
    signal: ctx.signal,
    onProgress: (bytes, total) => {
      const of = total ?? expected;
      if (of) ctx.progress(Math.min(1, bytes / of));
    },
  });
}
