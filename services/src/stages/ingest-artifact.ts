import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactRef } from '../artifacts/store';
import { readJson } from '../artifacts/store';
import { PodbrainError } from '../core/errors';

/**
 * `ingest.json` in the ingest stage's artifact directory: the downloaded enclosure, or (transcript
 * first, AUDIO_DOWNLOAD=when-needed) only where it lives: then `audio` is `stream` and the
 * download fields are null.
 */
export interface IngestArtifact {
  schema_version: 1;
  episode_key: string;
  /** `local`: downloaded into this directory; `stream`: not downloaded (played from the enclosure). Absent in older artifacts: local. */
  audio?: 'local' | 'stream';
  /** File name of the audio inside the artifact directory (e.g. `audio.mp3`); null when not downloaded. */
  audio_file: string | null;
  source_url: string;
  final_url: string | null;
  bytes: number | null;
  sha256: string | null;
  content_type: string | null;
  /** Container/codec detected from the magic bytes, null when unrecognised. */
  format: string | null;
  /** Duration from the feed (`itunes:duration`), seconds; the transcribe stage measures the real one. */
  feed_duration_s: number | null;
}

export const INGEST_FILE = 'ingest.json';

/**
 * The ingest artifact and its audio file, `audioPath` null when there is none here: never
 * downloaded (transcript first), or deleted since (AUDIO_RETENTION, the disk budget, a backup
 * without audio). The ingest stage still counts as done then; whoever needs the audio fetches it.
 */
export async function readIngestArtifact(ref: ArtifactRef | undefined): Promise<IngestArtifact & { audioPath: string | null }> {
  if (!ref) throw new PodbrainError('missing_input', 'the ingest artifact is missing (run the ingest stage first)');
  const meta = await readJson<IngestArtifact>(path.join(ref.dir, INGEST_FILE));
  const name = typeof meta.audio_file === 'string' && path.basename(meta.audio_file) === meta.audio_file ? meta.audio_file : null;
  const file = name ? path.join(ref.dir, name) : null;
  const present = file ? await fs.lstat(file).then((st) => st.isFile(), () => false) : false;
  return { ...meta, audioPath: present ? file : null };
}
