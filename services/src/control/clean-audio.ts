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

/** A done episode whose audio may go. */
export interface AudioOwner {
  feedId: string;
  episodeKey: string;
}

export interface CleanOptions {
  /** Asked right before an episode's files go (e.g. "is it still done?"); false leaves it alone. */
  stillDeletable?: (ep: AudioOwner) => Promise<boolean>;
}

/**
 * clean-artifacts: deletes the audio files (the ingest artifact's `audio_file`, and any other
 * audio file) in the artifact directories of the given finished episodes when they were last
 * modified before `before` (absent: whatever their age). Transcripts, insights and the index
 * stay; the ingest artifact stays committed (its `ingest.json` and `meta.json`), so no stage
 * runs again because its audio is gone. Only regular files directly inside an episode's stage
 * directories are touched, never through a symlink, and only when the directory really lies
 * inside DATA_DIR/corpus (a symlinked episode or stage directory pointing elsewhere is left alone).
 */
export async function cleanEpisodeAudio(store: ArtifactStore, episodes: readonly AudioOwner[], before?: Date, opts: CleanOptions = {}): Promise<CleanedAudio> {
  const out: CleanedAudio = { files: 0, bytes: 0, episodes: 0 };
  const corpus = await fs.realpath(store.corpusDir).catch(() => null);
  if (!corpus) return out;
  for (const ep of episodes) {
    const files = (await audioFilesOf(store, corpus, ep)).filter((f) => !before || f.mtimeMs < before.getTime());
    if (files.length) addTo(out, await deleteFiles(ep, files, opts));
  }
  return out;
}

/**
 * The disk budget: deletes the audio of `episodes` in the order given (oldest first), whole
 * episodes at a time, until at least `bytesToFree` bytes are gone or the list ends.
 */
export async function cleanAudioUntilFreed(store: ArtifactStore, episodes: readonly AudioOwner[], bytesToFree: number, opts: CleanOptions = {}): Promise<CleanedAudio> {
  const out: CleanedAudio = { files: 0, bytes: 0, episodes: 0 };
  const corpus = await fs.realpath(store.corpusDir).catch(() => null);
  if (!corpus) return out;
  for (const ep of episodes) {
    if (out.bytes >= bytesToFree) break;
    const files = await audioFilesOf(store, corpus, ep);
    if (files.length) addTo(out, await deleteFiles(ep, files, opts));
  }
  return out;
}

interface AudioFileEntry {
  path: string;
  size: number;
  mtimeMs: number;
}

/** The audio files (regular files, no symlinks) in an episode's stage directories inside the corpus. */
async function audioFilesOf(store: ArtifactStore, corpus: string, ep: AudioOwner): Promise<AudioFileEntry[]> {
  const dir = store.episodeDir(ep.feedId, ep.episodeKey);
  if (!(await isRealDirInside(dir, corpus))) return [];
  const found: AudioFileEntry[] = [];
  for (const stageDir of await fs.readdir(dir).catch(() => [] as string[])) {
    const full = path.join(dir, stageDir);
    if (!(await isRealDirInside(full, corpus))) continue;
    const named = await ingestAudioName(full);
    for (const name of await fs.readdir(full).catch(() => [] as string[])) {
      if (name !== named && !AUDIO_EXTENSIONS.has(path.extname(name).toLowerCase())) continue;
      const file = path.join(full, name);
      const st = await fs.lstat(file).catch(() => null);
      if (st?.isFile()) found.push({ path: file, size: st.size, mtimeMs: st.mtimeMs });
    }
  }
  return found;
}

async function deleteFiles(ep: AudioOwner, files: AudioFileEntry[], opts: CleanOptions): Promise<CleanedAudio> {
  const out: CleanedAudio = { files: 0, bytes: 0, episodes: 0 };
  if (opts.stillDeletable && !(await opts.stillDeletable(ep))) return out;
  for (const f of files) {
    await fs.rm(f.path, { force: true });
    out.files++;
    out.bytes += f.size;
  }
  out.episodes = out.files ? 1 : 0;
  return out;
}

function addTo(total: CleanedAudio, part: CleanedAudio): void {
  total.files += part.files;
  total.bytes += part.bytes;
  total.episodes += part.episodes;
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
