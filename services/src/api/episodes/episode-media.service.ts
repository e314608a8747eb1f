import fs from 'node:fs/promises';
import path from 'node:path';
import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
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

/** Longest enclosure URL the player is sent to. */
const MAX_URL_LENGTH = 4096;

/**
 * Where a player may fetch an episode that has no local copy: the enclosure URL from its feed,
 * only when it is a well-formed http(s) URL without credentials (a `file:` enclosure of a local
 * feed, `javascript:`, `data:` … are never handed to a browser). Normalised, so it cannot carry
 * line breaks into a Location header.
 */
export function playableEnclosureUrl(raw: string | null | undefined): string | null {
  if (!raw || raw.length > MAX_URL_LENGTH) return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || !url.hostname) return null;
  return url.href;
}

/**
 * Answers with an episode's audio as EpisodesService.audio found it: our copy (HTTP ranges, so
 * players seek), else a 302 to the publisher's http(s) enclosure — not cached (the local copy may
 * appear or go later), no referrer to the publisher. For every route that serves audio.
 */
export async function sendEpisodeAudio(res: Response, file: AudioFile | { redirect: string }): Promise<void> {
  if ('redirect' in file) {
    res.set({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(302, file.redirect);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    res.sendFile(file.path, { headers: { 'content-type': file.contentType }, acceptRanges: true, cacheControl: false }, (err) => (err && !res.headersSent ? reject(err) : resolve()));
  });
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
