#!/usr/bin/env node
// Search-quality figure (issue 16): MRR@10 and nDCG@10 of hybrid search with `hash` embeddings
// vs hybrid with the ONNX sentence encoder, on the judged queries in qrels.yaml, in the same run
// (`podbrain eval search --corpus fixtures --provider hash,onnx`: a temporary library indexed
// from the fixture publisher transcripts per provider, by the real index stage).
// Without EMBEDDINGS_MODEL_PATH the ONNX side is the random-weight test model (generated locally,
// services/test/support/bert-onnx.mjs): its vectors carry no meaning, so its figure measures the
// plumbing only. With EMBEDDINGS_MODEL_PATH pointing at real weights (e.g. all-MiniLM-L6-v2 fetched
// by `podbrain models`) the figure is real. Needs `npm run build -w services`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const cli = path.join(root, 'services/dist/cli/main.js');
if (!existsSync(cli)) {
  console.error(`missing ${cli}: run "npm run build -w services" first`);
  process.exit(2);
}
const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');
let modelPath = process.env.EMBEDDINGS_MODEL_PATH ?? '';
const realWeights = Boolean(modelPath);
if (!realWeights) {
  const { ensureEmbeddingModel } = await import(path.join(root, 'services/test/support/bert-onnx.mjs'));
  const { fixturePublisherTranscripts } = await import(path.join(root, 'services/dist/eval/gate-corpus.js'));
  // The test vocabulary from the corpus text itself, so the tokenizer knows the words (the weights stay random).
  const texts = fixturePublisherTranscripts(fixtures).filter((c) => c.format === 'srt').map((c) => c.body.replace(/^\d+\n.*-->.*$/gm, ''));
  modelPath = ensureEmbeddingModel({ texts, shape: 'minilm' });
}
const qrels = path.join(here, 'qrels.yaml');
const t0 = performance.now();
const out = execFileSync(process.execPath, [cli, 'eval', 'search', '--qrels', qrels, '--corpus', 'fixtures', '--provider', 'hash,onnx', '--json', ...process.argv.slice(2)], {
  env: { ...process.env, PODBRAIN_CONFIG: '', DATA_DIR: '', EMBEDDINGS_MODEL_PATH: modelPath, EMBEDDINGS_MODEL_SHA256: '', PODBRAIN_FIXTURES: fixtures, LOG_LEVEL: 'warn' },
  maxBuffer: 64 << 20,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const seconds = (performance.now() - t0) / 1000;
const r = JSON.parse(out);
const by = Object.fromEntries(r.providers.map((p) => [p.provider, p]));
const { hash, onnx } = by;
const ratio = (a, b) => (b ? (a / b).toFixed(2) : 'n/a');
console.log(`search quality, ${r.queries} judged queries (bench/search-quality/qrels.yaml), fixture corpus, k = ${r.k}, ${seconds.toFixed(1)} s`);
console.log(`  hash  ${hash.embeddings.model} (${hash.embeddings.dim})  MRR@10 ${hash.mrr.toFixed(3)}  nDCG@10 ${hash.ndcg.toFixed(3)}  found ${Math.round(hash.found * r.queries)}/${r.queries}`);
console.log(`  onnx  ${onnx.embeddings.model} (${onnx.embeddings.dim})  MRR@10 ${onnx.mrr.toFixed(3)}  nDCG@10 ${onnx.ndcg.toFixed(3)}  found ${Math.round(onnx.found * r.queries)}/${r.queries}`);
console.log(`  onnx / hash: MRR@10 ×${ratio(onnx.mrr, hash.mrr)}, nDCG@10 ×${ratio(onnx.ndcg, hash.ndcg)}`);
console.log(realWeights
  ? `  onnx weights: ${modelPath} (real: these are the model's numbers)`
  : '  onnx weights: RANDOM (generated test model of all-MiniLM-L6-v2\'s shape): this measures the plumbing only, not semantic quality; set EMBEDDINGS_MODEL_PATH to real weights for real numbers');
if (process.env.BENCH_JSON) console.log(JSON.stringify({ seconds, realWeights, ...r }));
