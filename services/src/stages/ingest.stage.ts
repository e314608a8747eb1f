import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PodbrainError } from '../core/errors';
import { isLocalFeedLocation } from '../feeds/load';
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

/** Downloads (or copies) the episode's enclosure into the artifact: `audio.<ext>` + `ingest.json`. */
export function createIngestStage(): Stage {
  return {
    name: 'ingest',
    needs: [],
    plan: ({ episode }) => {
      if (!enclosureSource(episode)) throw new EpisodeSkipped(NO_ENCLOSURE);
      // The audio is identified by where it comes from; a changed enclosure URL is new audio.
      return { configured: true, parts: { schema: INGEST_SCHEMA, enclosure: episode.enclosure?.url ?? null } };
    },
    run: async (ctx: StageContext, out: StagingDir) => {
      const source = enclosureSource(ctx.episode);
      if (!source) throw new EpisodeSkipped(NO_ENCLOSURE);
      const result = await fetchAudio(ctx, source, out.dir);
      const artifact: IngestArtifact = {
        schema_version: 1,
        episode_key: ctx.episode.episodeKey,
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
      return { info: { bytes: result.bytes, sha256: result.sha256, format: result.format, attempts: result.attempts, resumes: result.resumes } };
    },
  };
}

async function fetchAudio(ctx: StageContext, source: NonNullable<ReturnType<typeof enclosureSource>>, destDir: string): Promise<DownloadResult> {
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
