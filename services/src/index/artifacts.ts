import fs from 'node:fs/promises';
import path from 'node:path';
import { META_FILE, type ArtifactMeta } from '../artifacts/store';
import type { Chunk } from './chunking';
import { type EmbeddingSpace, sameSpace } from './embeddings/types';

/** Files of an index artifact (`index@<fp12>/`): the chunks and their vectors, row i = chunk i. */
export const CHUNKS_FILE = 'chunks.jsonl';
export const VECTORS_FILE = 'vectors.f32';

/** What the index stage keeps in meta.json `info`. */
export interface IndexArtifactInfo {
  space: EmbeddingSpace;
  chunks: number;
  title: string | null;
}

export interface IndexArtifact {
  feedId: string;
  episodeKey: string;
  title: string | null;
  /** Absolute artifact directory. */
  dir: string;
  chunks: number;
  createdAt: string;
}

export function serializeChunks(chunks: readonly Chunk[]): string {
  return chunks.map((c) => `${JSON.stringify(c)}\n`).join('');
}

export async function readChunks(dir: string): Promise<Chunk[]> {
  const text = await fs.readFile(path.join(dir, CHUNKS_FILE), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Chunk);
}

/** Concatenates row vectors into one little-endian float32 buffer (the on-disk format). */
export function packVectors(vectors: readonly Float32Array[], dim: number): Float32Array {
  const out = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => out.set(v, i * dim));
  return out;
}

export async function readVectors(dir: string, dim: number, expectedRows: number): Promise<Float32Array> {
  const buf = await fs.readFile(path.join(dir, VECTORS_FILE));
  if (buf.length !== expectedRows * dim * 4) {
    throw new Error(`${path.join(dir, VECTORS_FILE)}: ${buf.length} bytes, expected ${expectedRows} × ${dim} float32`);
  }
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

/**
 * Every committed index artifact in the corpus made in `space`, newest per episode.
 * Artifacts of other embedding spaces (an earlier model) are ignored, not deleted.
 */
export async function scanIndexArtifacts(corpusDir: string, space: EmbeddingSpace): Promise<IndexArtifact[]> {
  const ls = async (dir: string) => {
    try {
      return await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return [];
    }
  };
  const found = new Map<string, IndexArtifact>();
  for (const feed of await ls(corpusDir)) {
    if (!feed.isDirectory()) continue;
    const feedDir = path.join(corpusDir, feed.name);
    for (const ep of await ls(feedDir)) {
      if (!ep.isDirectory()) continue;
      const epDir = path.join(feedDir, ep.name);
      for (const stage of await ls(epDir)) {
        if (!stage.isDirectory() || !stage.name.startsWith('index@')) continue;
        const dir = path.join(epDir, stage.name);
        let meta: ArtifactMeta;
        try {
          meta = JSON.parse(await fs.readFile(path.join(dir, META_FILE), 'utf8')) as ArtifactMeta;
        } catch {
          continue; // incomplete
        }
        const info = meta.info as Partial<IndexArtifactInfo>;
        if (!info.space || !sameSpace(info.space, space) || typeof info.chunks !== 'number') continue;
        const key = `${meta.feed_id}/${meta.episode_key}`;
        const prev = found.get(key);
        if (prev && prev.createdAt >= meta.created_at) continue;
        found.set(key, {
          feedId: meta.feed_id,
          episodeKey: meta.episode_key,
          title: info.title ?? null,
          dir,
          chunks: info.chunks,
          createdAt: meta.created_at,
        });
      }
    }
  }
  return [...found.values()];
}
