import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore } from '../artifacts/store';
import { INGEST_FILE } from '../stages/ingest-artifact';

/** Extensions of audio kept in artifact directories (the download, a normalised WAV). */
const AUDIO_EXTENSIONS = new Set(['.mp3', '.m4a', '.mp4', '.aac', '.ogg', '.oga', '.opus', '.wav', '.flac', '.webm', '.wma', '.aif', '.aiff']);

export interface CleanedAudio {
  files: number;
  bytes: number;
  episodes: number;
}

/**
 * clean-artifacts: deletes the audio files (the ingest artifact's `audio_file`, and any other
 * audio file) in the artifact directories of the given finished episodes when they were last
 * modified before `before`. Transcripts, insights and the index stay. Only regular files
 * directly inside an episode's stage directories are touched, never through a symlink, and only
 * when the directory really lies inside DATA_DIR/corpus (a symlinked episode or stage directory
 * pointing elsewhere is left alone).
 */
export async function cleanEpisodeAudio(store: ArtifactStore, episodes: readonly { feedId: string; episodeKey: string }[], before: Date): Promise<CleanedAudio> {
  const out: CleanedAudio = { files: 0, bytes: 0, episodes: 0 };
  const corpus = await fs.realpath(store.corpusDir).catch(() => null);
  if (!corpus) return out;
  for (const ep of episodes) {
    const dir = store.episodeDir(ep.feedId, ep.episodeKey);
    if (!(await isRealDirInside(dir, corpus))) continue;
    let freed = 0;
    for (const stageDir of await fs.readdir(dir).catch(() => [] as string[])) {
      const full = path.join(dir, stageDir);
      if (!(await isRealDirInside(full, corpus))) continue;
      const named = await ingestAudioName(full);
      for (const name of await fs.readdir(full).catch(() => [] as string[])) {
        if (name !== named && !AUDIO_EXTENSIONS.has(path.extname(name).toLowerCase())) continue;
        const file = path.join(full, name);
        const st = await fs.lstat(file).catch(() => null);
        if (!st?.isFile() || st.mtimeMs >= before.getTime()) continue;
        await fs.rm(file, { force: true });
        out.files++;
        out.bytes += st.size;
        freed++;
      }
    }
    if (freed) out.episodes++;
  }
  return out;
}

/** A directory (not a symlink) whose real path is inside `root`. */
async function isRealDirInside(dir: string, root: string): Promise<boolean> {
  const st = await fs.lstat(dir).catch(() => null);
  if (!st?.isDirectory()) return false;
  const real = await fs.realpath(dir).catch(() => null);
  return real !== null && real.startsWith(root + path.sep);
}

/** The audio file an ingest artifact names (a plain file name only), or null. */
async function ingestAudioName(stageDir: string): Promise<string | null> {
  try {
    if (!(await fs.lstat(path.join(stageDir, INGEST_FILE))).isFile()) return null;
    const meta = JSON.parse(await fs.readFile(path.join(stageDir, INGEST_FILE), 'utf8')) as { audio_file?: unknown };
    return typeof meta.audio_file === 'string' && path.basename(meta.audio_file) === meta.audio_file ? meta.audio_file : null;
  } catch {
    return null;
  }
}
