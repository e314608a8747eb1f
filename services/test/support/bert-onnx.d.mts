export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
}
export const SHAPES: { test: BertShape; minilm: BertShape };
export const SPECIAL_TOKENS: string[];
export function buildVocab(texts: string[], maxWords?: number): string[];
export function tokenizerJson(vocab: string[]): Record<string, unknown>;
export function bertOnnx(opts: { vocabSize: number; maxPositions?: number; seed?: number } & BertShape): Buffer;
export function ensureEmbeddingModel(opts: { texts: string[]; shape?: 'test' | 'minilm' | BertShape; seed?: number; cacheDir?: string }): string;
