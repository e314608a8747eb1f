import fs from 'node:fs/promises';
import path from 'node:path';
import { Injectable } from '@nestjs/common';
import { readJson } from '../../artifacts/store';
import { StageRunRepository } from '../../repositories/stage-runs.repository';

/** The downloaded audio of an episode: a file of its ingest artifact. */
export interface AudioFile {
  path: string;
  contentType: string;
}

/** What the ingest stage writes next to the audio (stages/ingest: ingest.json). */
interface IngestMeta {
  audio_file?: unknown;
  content_type?: unknown;
}

/** Files of an episode's artifacts that the api serves (the player's audio). */
@Injectable()
export class EpisodeMediaService {
  constructor(private readonly stageRuns: StageRunRepository) {}

  /** The ingest artifact's audio file, if downloaded (its name is checked to stay inside the artifact). */
  async audioFile(key: string): Promise<AudioFile | null> {
    const dir = await this.stageRuns.artifactDir(key, 'ingest');
    if (!dir) return null;
    try {
      const meta = await readJson<IngestMeta>(path.join(dir, 'ingest.json'));
      if (typeof meta.audio_file !== 'string' || path.basename(meta.audio_file) !== meta.audio_file) return null;
      const file = path.join(dir, meta.audio_file);
      await fs.access(file);
      return { path: file, contentType: typeof meta.content_type === 'string' && meta.content_type.startsWith('audio/') ? meta.content_type : 'application/octet-stream' };
    } catch {
      return null;
    }
  }
}
