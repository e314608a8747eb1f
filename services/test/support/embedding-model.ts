import { readFileSync, readdirSync } from 'node:fs';
import { ensureEmbeddingModel } from './bert-onnx.mjs';
import { fixture } from './fixtures';
import { TOPICS } from './index-corpus';

/** The texts the test vocabulary is built from: the index tests' topics and the fixture transcripts. */
export function vocabularyTexts(): string[] {
  const dir = fixture('audio');
  const transcripts = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => readFileSync(`${dir}/${f}`, 'utf8'));
  return [...Object.values(TOPICS).flat(), ...transcripts];
}

/**
 * A random-weight BERT sentence encoder (2 layers, hidden 64: the code path of all-MiniLM-L6-v2,
 * smaller) with a real WordPiece tokenizer.json, generated locally and cached (never downloaded).
 */
export function testEmbeddingModel(shape: 'test' | 'minilm' = 'test'): string {
  return ensureEmbeddingModel({ texts: vocabularyTexts(), shape });
}
