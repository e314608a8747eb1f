import path from 'node:path';
import { PodbrainError } from '../core/errors';

/** Our N-API binding over libfaiss (services/native/faiss). Async calls run on libuv's pool. */
export interface NativeIndex {
  ntotal(): number;
  dim(): number;
  isTrained(): boolean;
  train(x: Float32Array, threads?: number): void;
  trainAsync(x: Float32Array, threads?: number): Promise<void>;
  add(x: Float32Array, threads?: number): void;
  addAsync(x: Float32Array, threads?: number): Promise<void>;
  search(q: Float32Array, k: number, threads?: number): { labels: Float64Array; distances: Float32Array };
  searchAsync(q: Float32Array, k: number, threads?: number): Promise<{ labels: Float64Array; distances: Float32Array }>;
  setParam(name: 'efSearch' | 'efConstruction' | 'nprobe', value: number): boolean;
  write(file: string): void;
  writeAsync(file: string): Promise<void>;
}

export interface NativeIndexClass {
  create(dim: number, factory: string, metric: 'ip' | 'l2'): NativeIndex;
  read(file: string): NativeIndex;
  readAsync(file: string): Promise<NativeIndex>;
}

// src/index and dist/index are both two levels below services/.
const ADDON = path.resolve(__dirname, '../../native/faiss/build/Release/podbrain_faiss.node');

let cached: NativeIndexClass | null = null;

export function faiss(): NativeIndexClass {
  if (cached) return cached;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = (require(ADDON) as { NativeIndex: NativeIndexClass }).NativeIndex;
  } catch (e) {
    throw new PodbrainError('faiss_unavailable', `the FAISS addon is not built (${ADDON}): run \`npm run build:faiss -w services\``, {}, { cause: e });
  }
  return cached;
}
