import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a structurally valid ggml Whisper model with small random weights, exactly in the layout
 * whisper.cpp's `whisper_model_load` reads: magic, hparams, mel filters, vocabulary, then every
 * tensor (n_dims, name length, type, dims, name, data). It decodes garbage, but loads and runs,
 * which is what tests and overhead benchmarks need without downloading a real model.
 */

export interface WhisperShape {
  n_vocab: number;
  n_audio_ctx: number;
  n_audio_state: number;
  n_audio_head: number;
  n_audio_layer: number;
  n_text_ctx: number;
  n_text_state: number;
  n_text_head: number;
  n_text_layer: number;
  n_mels: number;
}

const DIMS: Record<string, [state: number, heads: number, layers: number]> = {
  tiny: [384, 6, 4],
  base: [512, 8, 6],
  small: [768, 12, 12],
  medium: [1024, 16, 24],
  'large-v3': [1280, 20, 32],
};

export const FAKE_MODEL_SHAPES = ['tiny', 'tiny.en', 'base', 'base.en', 'small', 'small.en', 'medium', 'medium.en', 'large-v3'] as const;
export type FakeModelShape = (typeof FAKE_MODEL_SHAPES)[number];

export function whisperShape(shape: FakeModelShape): WhisperShape {
  const english = shape.endsWith('.en');
  const base = english ? shape.slice(0, -3) : shape;
  const [state, heads, layers] = DIMS[base];
  const large = base === 'large-v3';
  return {
    // .en models: 51864; multilingual: 51865; large-v3 adds one language: 51866.
    n_vocab: large ? 51866 : english ? 51864 : 51865,
    n_audio_ctx: 1500,
    n_audio_state: state,
    n_audio_head: heads,
    n_audio_layer: layers,
    n_text_ctx: 448,
    n_text_state: state,
    n_text_head: heads,
    n_text_layer: layers,
    n_mels: large ? 128 : 80,
  };
}

const GGML_MAGIC = 0x67676d6c;
const F32 = 0;
const F16 = 1;
const N_FFT = 201;
/** Ordinary (non-special) tokens written to the file; whisper.cpp adds the special tokens itself. */
const N_TEXT_TOKENS = 50256;

interface TensorSpec {
  name: string;
  /** ggml order: ne[0] first (the innermost dimension). */
  ne: number[];
  type: typeof F32 | typeof F16;
  init: 'random' | 'ones' | 'zeros';
}

function tensorSpecs(h: WhisperShape): TensorSpec[] {
  const s = h.n_audio_state;
  const t = h.n_text_state;
  const specs: TensorSpec[] = [];
  const add = (name: string, ne: number[], type: typeof F32 | typeof F16, init: TensorSpec['init'] = 'random') =>
    specs.push({ name, ne, type, init });
  const block = (prefix: string, n: number, ln: string[], attns: string[]) => {
    for (const a of attns) {
      add(`${prefix}.${a}_ln.weight`, [n], F32, 'ones');
      add(`${prefix}.${a}_ln.bias`, [n], F32, 'zeros');
      add(`${prefix}.${a}.query.weight`, [n, n], F16);
      add(`${prefix}.${a}.query.bias`, [n], F32);
      add(`${prefix}.${a}.key.weight`, [n, n], F16);
      add(`${prefix}.${a}.value.weight`, [n, n], F16);
      add(`${prefix}.${a}.value.bias`, [n], F32);
      add(`${prefix}.${a}.out.weight`, [n, n], F16);
      add(`${prefix}.${a}.out.bias`, [n], F32);
    }
    for (const l of ln) {
      add(`${prefix}.${l}.weight`, [n], F32, 'ones');
      add(`${prefix}.${l}.bias`, [n], F32, 'zeros');
    }
    add(`${prefix}.mlp.0.weight`, [n, 4 * n], F16);
    add(`${prefix}.mlp.0.bias`, [4 * n], F32);
    add(`${prefix}.mlp.2.weight`, [4 * n, n], F16);
    add(`${prefix}.mlp.2.bias`, [n], F32);
  };

  add('encoder.positional_embedding', [s, h.n_audio_ctx], F32);
  add('encoder.conv1.weight', [3, h.n_mels, s], F16);
  add('encoder.conv1.bias', [1, s], F32);
  add('encoder.conv2.weight', [3, s, s], F16);
  add('encoder.conv2.bias', [1, s], F32);
  for (let i = 0; i < h.n_audio_layer; i++) block(`encoder.blocks.${i}`, s, ['mlp_ln'], ['attn']);
  add('encoder.ln_post.weight', [s], F32, 'ones');
  add('encoder.ln_post.bias', [s], F32, 'zeros');

  add('decoder.positional_embedding', [t, h.n_text_ctx], F32);
  add('decoder.token_embedding.weight', [t, h.n_vocab], F16);
  for (let i = 0; i < h.n_text_layer; i++) block(`decoder.blocks.${i}`, t, ['mlp_ln'], ['attn', 'cross_attn']);
  add('decoder.ln.weight', [t], F32, 'ones');
  add('decoder.ln.bias', [t], F32, 'zeros');
  return specs;
}

/** Deterministic xorshift32 so the same seed writes the same file. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** IEEE half from a float in the normal f16 range (enough for small weights; subnormals flush to 0). */
function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | ((x >>> 13) & 0x3ff);
}

/**
 * A pool of random values that tensor data is sliced from at random offsets: generating every
 * weight of large-v3 one by one in JS would take minutes; slicing a pool is disk-bound.
 */
function randomPools(seed: number, amplitude: number): { half: Buffer; float: Buffer } {
  const rnd = xorshift(seed);
  const n = 1 << 21; // 2 Mi values: 4 MiB of f16, 8 MiB of f32
  const half = Buffer.allocUnsafe(n * 2);
  const float = Buffer.allocUnsafe(n * 4);
  for (let i = 0; i < n; i++) {
    const v = (rnd() * 2 - 1) * amplitude;
    half.writeUInt16LE(toHalf(v), i * 2);
    float.writeFloatLE(v, i * 4);
  }
  return { half, float };
}

function vocabulary(): Buffer {
  const parts: Buffer[] = [];
  const u32le = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  parts.push(u32le(N_TEXT_TOKENS));
  for (let i = 0; i < N_TEXT_TOKENS; i++) {
    // Printable ASCII only, so whatever garbage the model decodes is valid UTF-8/JSON.
    let word: string;
    if (i === 220) word = ' ';
    else if (i >= 33 && i < 127) word = String.fromCharCode(i);
    else word = ` w${i.toString(36)}`;
    const b = Buffer.from(word, 'utf8');
    parts.push(u32le(b.length), b);
  }
  return Buffer.concat(parts);
}

export interface FakeModelOptions {
  shape: FakeModelShape;
  outDir: string;
  /** File is `ggml-<name>.bin`; defaults to the shape. */
  name?: string;
  seed?: number;
  /** Weights are uniform in ±amplitude (small keeps activations finite). */
  amplitude?: number;
}

export async function writeFakeWhisperModel(opts: FakeModelOptions): Promise<{ path: string; bytes: number }> {
  const h = whisperShape(opts.shape);
  const file = path.join(opts.outDir, `ggml-${opts.name ?? opts.shape}.bin`);
  await fs.mkdir(opts.outDir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const out = createWriteStream(tmp, { highWaterMark: 8 << 20 });
  let bytes = 0;
  const write = async (b: Buffer) => {
    bytes += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  const pools = randomPools(opts.seed ?? 1234, opts.amplitude ?? 0.02);
  const rnd = xorshift((opts.seed ?? 1234) ^ 0x5bd1e995);

  try {
    const header = Buffer.alloc(4 * 12);
    [GGML_MAGIC, h.n_vocab, h.n_audio_ctx, h.n_audio_state, h.n_audio_head, h.n_audio_layer, h.n_text_ctx, h.n_text_state,
      h.n_text_head, h.n_text_layer, h.n_mels, /* ftype: mostly f16 */ 1].forEach((v, i) => header.writeUInt32LE(v, i * 4));
    await write(header);

    const mel = Buffer.alloc(8 + h.n_mels * N_FFT * 4);
    mel.writeInt32LE(h.n_mels, 0);
    mel.writeInt32LE(N_FFT, 4);
    for (let m = 0; m < h.n_mels; m++) {
      // Triangular-ish filter bank: enough for a non-degenerate spectrogram.
      const centre = Math.round(((m + 1) * (N_FFT - 1)) / (h.n_mels + 1));
      for (let k = Math.max(0, centre - 2); k <= Math.min(N_FFT - 1, centre + 2); k++) {
        mel.writeFloatLE(0.02 * (3 - Math.abs(k - centre)), 8 + (m * N_FFT + k) * 4);
      }
    }
    await write(mel);
    await write(vocabulary());

    for (const spec of tensorSpecs(h)) {
      const nameBytes = Buffer.from(spec.name, 'utf8');
      const head = Buffer.alloc(12 + 4 * spec.ne.length);
      head.writeInt32LE(spec.ne.length, 0);
      head.writeInt32LE(nameBytes.length, 4);
      head.writeInt32LE(spec.type, 8);
      spec.ne.forEach((d, i) => head.writeInt32LE(d, 12 + 4 * i));
      await write(Buffer.concat([head, nameBytes]));

      const count = spec.ne.reduce((a, b) => a * b, 1);
      const elem = spec.type === F16 ? 2 : 4;
      if (spec.init !== 'random') {
        const b = Buffer.alloc(count * elem);
        if (spec.init === 'ones') for (let i = 0; i < count; i++) b.writeFloatLE(1, i * 4);
        await write(b);
        continue;
      }
      const pool = spec.type === F16 ? pools.half : pools.float;
      let left = count * elem;
      while (left > 0) {
        const start = Math.floor(rnd() * (pool.length / elem / 2)) * elem;
        const n = Math.min(left, pool.length - start);
        await write(pool.subarray(start, start + n));
        left -= n;
      }
    }
    out.end();
    await once(out, 'finish');
    await fs.rename(tmp, file);
  } catch (e) {
    out.destroy();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  return { path: file, bytes };
}
