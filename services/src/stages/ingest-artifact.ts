import path from 'node:path';
import type { ArtifactRef } from '../artifacts/store';
import { readJson } from '../artifacts/store';
import { PodbrainError } from '../core/errors';

/** `ingest.json` in the ingest stage's artifact directory: the downloaded enclosure. */
export interface IngestArtifact {
  schema_version: 1;
  episode_key: string;
  /** File name of the audio inside the artifact directory (e.g. `audio.mp3`). */
  audio_file: string;
  source_url: string;
  final_url: string;
  bytes: number;
  sha256: string;
  content_type: string | null;
  /** Container/codec detected from the magic bytes, null when unrecognised. */
  format: string | null;
  /** Duration from the feed (`itunes:duration`), seconds; the transcribe stage measures the real one. */
  feed_duration_s: number | null;
}

export const INGEST_FILE = 'ingest.json';

export async function readIngestArtifact(ref: ArtifactRef | undefined): Promise<IngestArtifact & { audioPath: string }> {
  if (!ref) throw new PodbrainError('missing_input', 'the ingest artifact is missing (run the ingest stage first)');
  const meta = await readJson<IngestArtifact>(path.join(ref.dir, INGEST_FILE));
  return { ...meta, audioPath: path.join(ref.dir, meta.audio_file) };
}
