// A random-weight BERT sentence encoder in ONNX plus a real WordPiece tokenizer.json, generated
// locally so tests and the embeddings bench never download a model (issue 16).
//
// The graph is the one a Hugging Face BertModel export has (all-MiniLM-L6-v2's shape at
// layers 6, hidden 384, heads 12, intermediate 1536): word + position + token-type embeddings,
// LayerNorm, per layer self-attention with the additive attention mask, GELU (erf) feed-forward,
// post-LayerNorms; inputs input_ids / attention_mask / token_type_ids (int64 [batch, seq]),
// output last_hidden_state (float [batch, seq, hidden]). Weights are seeded random (std 0.02),
// so the vectors carry no meaning, but loading, tokenising, pooling and normalising run the real
// code, and the cost per token is the real model's (the vocabulary is small: a gather's cost does
// not depend on it). Written straight as ONNX protobuf: no Python, no torch, milliseconds.
//
// Plain ESM JavaScript: used by the tests (through embedding-model.ts) and bench/embeddings.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------- protobuf (the ONNX subset)

function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value));
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Buffer.from(out);
}
const tag = (field, wire) => varint((field << 3) | wire);
const int = (field, v) => Buffer.concat([tag(field, 0), varint(v)]);
const bytes = (field, buf) => Buffer.concat([tag(field, 2), varint(buf.length), buf]);
const str = (field, s) => bytes(field, Buffer.from(s, 'utf8'));
const msg = (field, parts) => bytes(field, Buffer.concat(parts));
function float(field, f) {
  const b = Buffer.alloc(4);
  b.writeFloatLE(f);
  return Buffer.concat([tag(field, 5), b]);
}

const FLOAT = 1;
const INT64 = 7;

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9. */
function tensor(name, dims, type, data) {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return [...dims.map((d) => int(1, d)), int(2, type), str(8, name), bytes(9, raw)];
}

/** AttributeProto: name 1, f 2, i 3, t 5, ints 8, type 20 (FLOAT 1, INT 2, TENSOR 4, INTS 7). */
function attr(name, value) {
  if (Array.isArray(value)) return [str(1, name), ...value.map((v) => int(8, v)), int(20, 7)];
  if (Number.isInteger(value)) return [str(1, name), int(3, value), int(20, 2)];
  return [str(1, name), float(2, value), int(20, 1)];
}

/** ValueInfoProto of a tensor: name 1, type 2 → tensor_type 1 → elem_type 1, shape 2 → dim 1 (dim_value 1 | dim_param 2). */
function valueInfo(name, type, dims) {
  const shape = dims.map((d) => msg(1, [typeof d === 'string' ? str(2, d) : int(1, d)]));
  return [str(1, name), msg(2, [msg(1, [int(1, type), msg(2, shape)])])];
}

// ---------------------------------------------------------------- the BERT graph

/** mulberry32 + Box-Muller: reproducible normal weights. */
function normalSource(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (n, std) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - uniform())) * std;
      const th = 2 * Math.PI * uniform();
      out[i] = r * Math.cos(th);
      if (i + 1 < n) out[i + 1] = r * Math.sin(th);
    }
    return out;
  };
}

export function bertOnnx({ vocabSize, layers, hidden, heads, intermediate, maxPositions = 512, seed = 1 }) {
  if (hidden % heads) throw new Error(`hidden ${hidden} is not a multiple of heads ${heads}`);
  const headDim = hidden / heads;
  const normal = normalSource(seed);
  const nodes = [];
  const inits = [];
  let n = 0;
  const node = (op, inputs, attrs = {}, out = `${op.toLowerCase()}_${n++}`) => {
    nodes.push(msg(1, [...inputs.map((i) => str(1, i)), str(2, out), str(3, `n${n++}`), str(4, op), ...Object.entries(attrs).map(([k, v]) => msg(5, attr(k, v)))]));
    return out;
  };
  const init = (name, dims, type, data) => {
    inits.push(msg(5, tensor(name, dims, type, data)));
    return name;
  };
  const weight = (name, dims) => init(name, dims, FLOAT, normal(dims.reduce((a, b) => a * b, 1), 0.02));
  const fill = (name, dims, v) => init(name, dims, FLOAT, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(v));
  const scalarF = (name, v) => init(name, [], FLOAT, new Float32Array([v]));
  const ints = (name, values, dims = [values.length]) => init(name, dims, INT64, new BigInt64Array(values.map(BigInt)));
  const layerNorm = (x, prefix) => node('LayerNormalization', [x, fill(`${prefix}.gamma`, [hidden], 1), fill(`${prefix}.beta`, [hidden], 0)], { axis: -1, epsilon: 1e-12 });
  const dense = (x, prefix, from, to) => node('Add', [node('MatMul', [x, weight(`${prefix}.weight`, [from, to])]), fill(`${prefix}.bias`, [to], 0)]);

  // Embeddings.
  const words = node('Gather', [weight('embeddings.word', [vocabSize, hidden]), 'input_ids']);
  const seqLen = node('Gather', [node('Shape', ['input_ids']), ints('one_i', [1], [])], { axis: 0 });
  const positionIds = node('Range', [ints('zero_i', [0], []), seqLen, ints('step_i', [1], [])]);
  const positions = node('Gather', [weight('embeddings.position', [maxPositions, hidden]), positionIds]);
  const types = node('Gather', [weight('embeddings.token_type', [2, hidden]), 'token_type_ids']);
  let x = layerNorm(node('Add', [node('Add', [words, positions]), types]), 'embeddings.norm');

  // Additive mask [batch, 1, 1, seq]: 0 where attended, -10000 on padding.
  const maskF = node('Unsqueeze', [node('Cast', ['attention_mask'], { to: FLOAT }), ints('mask_axes', [1, 2])]);
  const maskAdd = node('Mul', [node('Sub', [scalarF('one_f', 1), maskF]), scalarF('neg_big', -10000)]);
  const heads4 = ints('heads_shape', [0, 0, heads, headDim]);
  const merged = ints('merged_shape', [0, 0, hidden]);
  const scale = scalarF('attn_scale', 1 / Math.sqrt(headDim));
  const half = scalarF('half', 0.5);
  const sqrt2 = scalarF('sqrt2', Math.SQRT2);

  for (let l = 0; l < layers; l++) {
    const p = `layer${l}`;
    const split = (name, perm) => node('Transpose', [node('Reshape', [dense(x, `${p}.${name}`, hidden, hidden), heads4])], { perm });
    const q = split('query', [0, 2, 1, 3]);
    const k = split('key', [0, 2, 3, 1]);
    const v = split('value', [0, 2, 1, 3]);
    const scores = node('Add', [node('Mul', [node('MatMul', [q, k]), scale]), maskAdd]);
    const ctx = node('MatMul', [node('Softmax', [scores], { axis: -1 }), v]);
    const ctxMerged = node('Reshape', [node('Transpose', [ctx], { perm: [0, 2, 1, 3] }), merged]);
    const attnOut = layerNorm(node('Add', [dense(ctxMerged, `${p}.attention.output`, hidden, hidden), x]), `${p}.attention.norm`);
    const up = dense(attnOut, `${p}.intermediate`, hidden, intermediate);
    const gelu = node('Mul', [node('Mul', [up, half]), node('Add', [node('Erf', [node('Div', [up, sqrt2])]), scalarF(`${p}.one`, 1)])]);
    x = layerNorm(node('Add', [dense(gelu, `${p}.output`, intermediate, hidden), attnOut]), `${p}.output.norm`);
  }
  node('Identity', [x], {}, 'last_hidden_state');

  const io = ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => msg(11, valueInfo(name, INT64, ['batch_size', 'sequence_length'])));
  const graph = [...nodes, str(2, 'bert'), ...inits, ...io, msg(12, valueInfo('last_hidden_state', FLOAT, ['batch_size', 'sequence_length', hidden]))];
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (version 2).
  return Buffer.concat([int(1, 8), str(2, 'podbrain-test'), msg(7, graph), msg(8, [str(1, ''), int(2, 17)])]);
}

// ---------------------------------------------------------------- the tokenizer

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const SUFFIXES = ['s', 'es', 'ed', 'ing', 'ly', 'er', 'ers', 'est', 'ion', 'ions', 'al', 'ity', 'ness', 'ment'];

/**
 * A WordPiece vocabulary from texts: the special tokens, then every ASCII punctuation mark,
 * digit and letter (alone and as a ## continuation, so any word can be spelled), common
 * suffixes, then the texts' lower-cased words by frequency (ties alphabetical).
 */
export function buildVocab(texts, maxWords = 4000) {
  const vocab = [...SPECIAL_TOKENS];
  const chars = [];
  for (let c = 33; c < 127; c++) {
    const ch = String.fromCharCode(c);
    if (!/[A-Z]/.test(ch)) chars.push(ch);
  }
  vocab.push(...chars, ...chars.filter((c) => /[a-z0-9]/.test(c)).map((c) => `##${c}`), ...SUFFIXES.map((s) => `##${s}`));
  const counts = new Map();
  for (const t of texts) {
    for (const w of t.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '').match(/[a-z0-9]+/g) ?? []) {
      if (w.length > 1) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  const seen = new Set(vocab);
  const words = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
  for (const w of words) {
    if (vocab.length - SPECIAL_TOKENS.length >= maxWords + chars.length * 2) break;
    if (!seen.has(w)) {
      seen.add(w);
      vocab.push(w);
    }
  }
  return vocab;
}

/** The Hugging Face tokenizer.json of a BERT uncased WordPiece tokenizer (the format all-MiniLM-L6-v2 ships). */
export function tokenizerJson(vocab) {
  const ids = Object.fromEntries(vocab.map((t, i) => [t, i]));
  const special = (t) => ({ id: ids[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [ids['[CLS]']], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [ids['[SEP]']], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: ids },
  };
}

// ---------------------------------------------------------------- the model directory

const SELF = fs.readFileSync(fileURLToPath(import.meta.url));

/** Sizes: `test` is small and fast; `minilm` is all-MiniLM-L6-v2's (what the bench measures). */
export const SHAPES = {
  test: { layers: 2, hidden: 64, heads: 4, intermediate: 128 },
  minilm: { layers: 6, hidden: 384, heads: 12, intermediate: 1536 },
};

/**
 * A model directory (model.onnx, tokenizer.json, config.json) for `texts`, generated once and
 * cached under `cacheDir` keyed by this script's bytes, the shape and the texts.
 */
export function ensureEmbeddingModel({ texts, shape = 'test', seed = 1, cacheDir = path.join(os.tmpdir(), 'podbrain-embedding-models') }) {
  const dims = typeof shape === 'string' ? SHAPES[shape] : shape;
  const key = createHash('sha256').update(SELF).update(JSON.stringify({ dims, seed })).update(JSON.stringify(texts)).digest('hex').slice(0, 16);
  const dir = path.join(cacheDir, `${typeof shape === 'string' ? shape : 'custom'}-${key}`);
  if (fs.existsSync(path.join(dir, 'model.onnx'))) return dir;
  const vocab = buildVocab(texts);
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(tmp, 'tokenizer.json'), JSON.stringify(tokenizerJson(vocab)));
  fs.writeFileSync(
    path.join(tmp, 'config.json'),
    JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: dims.hidden, num_hidden_layers: dims.layers, num_attention_heads: dims.heads, intermediate_size: dims.intermediate, max_position_embeddings: 512, vocab_size: vocab.length, random_weights: true }, null, 2),
  );
  fs.writeFileSync(path.join(tmp, 'model.onnx'), bertOnnx({ vocabSize: vocab.length, seed, ...dims }));
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    // Another process generated the same directory first: theirs is identical.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, 'model.onnx'))) throw e;
  }
  return dir;
}
