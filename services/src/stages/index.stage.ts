import fs from 'node:fs/promises';
import path from 'node:path';
import type { Transcript } from '../asr/types';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { CHUNKS_FILE, type IndexArtifactInfo, VECTORS_FILE, packVectors, serializeChunks } from '../index/artifacts';
import { CHUNKER_VERSION, chunkTranscript } from '../index/chunking';
import { createEmbeddingProvider, embeddingsUnavailableReason, resolveEmbeddings } from '../index/embeddings';
import { spaceOf } from '../index/embeddings/types';
import { vectorIndexFromConfig } from '../index/search.service';
import type { Stage } from '../pipeline/stage';

/** Bump when chunks.jsonl / vectors.f32 change shape. */
const INDEX_SCHEMA_VERSION = 1;

/**
 * index: transcript → sentence chunks (~300 tokens, 50 overlap, with start/end ms) →
 * embeddings → chunks.jsonl + vectors.f32 in the artifact, then the episode is added to the
 * corpus-wide FAISS index (ARCHITECTURE §1, §7). The embedding provider, model and dimension
 * are part of the fingerprint, so a new model re-indexes without re-transcribing.
 */
/** Everything that changes index output; all of it configuration (the recipe is the whole of it). */
function indexParts(config: Config): Record<string, unknown> {
  return {
    schema_version: INDEX_SCHEMA_VERSION,
    chunker: { version: CHUNKER_VERSION, tokens: config.index.chunkTokens, overlap: config.index.chunkOverlapTokens },
    // The space actually written: `auto` resolved (onnx when its model is in place, else hash), the
    // model of `hash` its implementation version, that of onnx its name and weights' checksum, so
    // fetching or changing the model makes every index run stale (reprocessing, issue 15).
    embeddings: resolveEmbeddings(config).space,
  };
}

export function createIndexStage(): Stage {
  return {
    name: 'index',
    needs: ['transcribe'],
    plan: ({ config }) => {
      const reason = embeddingsUnavailableReason(config);
      if (reason) return { configured: false, reason };
      return { configured: true, parts: indexParts(config) };
    },
    recipes: (config) => (embeddingsUnavailableReason(config) ? [] : [indexParts(config)]),
    async run(ctx, out) {
      const { config, episode, log } = ctx;
      const input = ctx.inputs.transcribe;
      if (!input) throw new PodbrainError('missing_input', 'index needs the transcript of this episode');
      const transcript = JSON.parse(await fs.readFile(path.join(input.dir, 'transcript.json'), 'utf8')) as Transcript;
      if (!Array.isArray(transcript.segments)) throw new PodbrainError('bad_transcript', `${input.dir}/transcript.json has no segments`);

      const chunks = chunkTranscript(transcript, { targetTokens: config.index.chunkTokens, overlapTokens: config.index.chunkOverlapTokens });
      const provider = createEmbeddingProvider(config, log);
      ctx.progress(0, `embedding ${chunks.length} chunks`);
      // Everything is embedded (and checked) before anything is written.
      const vectors = await provider.embed(
        chunks.map((c) => c.text),
        { signal: ctx.signal, onProgress: (done) => ctx.progress((0.9 * done) / Math.max(1, chunks.length)) },
      );
      const packed = packVectors(vectors, provider.dim);
      await out.writeText(CHUNKS_FILE, serializeChunks(chunks));
      await fs.writeFile(out.file(VECTORS_FILE), new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength));

      let generation: number | null = null;
      if (chunks.length) {
        const update = await vectorIndexFromConfig(config, provider, log).update({
          add: [{ feedId: episode.feedId, episodeKey: episode.episodeKey, title: episode.title, artifact: out.target, vectors: packed }],
        });
        generation = update.generation;
      }
      ctx.progress(1);
      const info: IndexArtifactInfo & Record<string, unknown> = {
        space: spaceOf(provider),
        chunks: chunks.length,
        title: episode.title,
        chunk_tokens: config.index.chunkTokens,
        chunk_overlap_tokens: config.index.chunkOverlapTokens,
        index_generation: generation,
      };
      return { info };
    },
  };
}
