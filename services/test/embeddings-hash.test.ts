import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { createEmbeddingProvider, embeddingsUnavailableReason } from '../src/index/embeddings';
import { HashEmbeddings } from '../src/index/embeddings/hash';
import { createIndexStage } from '../src/stages/index.stage';
import { TOPICS } from './support/index-corpus';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));

describe('hash embeddings (built-in, offline)', () => {
  const h = new HashEmbeddings(384);

  it('is deterministic and unit length at the configured dimension', async () => {
    const [a, b] = await h.embed(['The goalkeeper saved a penalty.', 'The goalkeeper saved a penalty.']);
    expect(a.length).toBe(384);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(norm(a)).toBeCloseTo(1, 5);
    expect(new HashEmbeddings(64).embedOne('hello world podcast').length).toBe(64);
    // Pinned value: a change of hashing must bump HASH_MODEL (it is part of the index fingerprint).
    const v = h.embedOne('black holes');
    const nonZero = Array.from(v.entries()).filter(([, x]) => x !== 0);
    expect(nonZero.length).toBe(3);
  });

  it('scores texts on the same topic closer than unrelated texts', () => {
    const topics = Object.values(TOPICS);
    for (const [i, sentences] of topics.entries()) {
      const a = h.embedOne(sentences.slice(0, 5).join(' '));
      const same = h.embedOne(sentences.slice(5).join(' ') + ' ' + sentences[0]);
      for (const [j, other] of topics.entries()) {
        if (i === j) continue;
        const b = h.embedOne(other.join(' '));
        expect(dot(a, same)).toBeGreaterThan(dot(a, b));
      }
    }
    const q = h.embedOne('sourdough starter');
    // Unrelated texts only meet through hash collisions (small at 384 dimensions).
    expect(dot(q, h.embedOne(TOPICS.cooking.join(' ')))).toBeGreaterThan(1.5 * dot(q, h.embedOne(TOPICS.football.join(' '))));
  });

  it('gives a zero vector (no NaN) for text without content words', () => {
    const v = h.embedOne('the and of ...');
    expect(v.every((x) => x === 0)).toBe(true);
  });

  it('is what the default (auto) comes to without a local model; onnx says clearly what is missing', async () => {
    const config = loadConfig({ env: { MODELS_DIR: '/nonexistent/models' } });
    expect(config.embeddings.provider).toBe('auto');
    expect(createEmbeddingProvider(config).name).toBe('hash');
    const onnx = loadConfig({ env: { EMBEDDINGS_PROVIDER: 'onnx', MODELS_DIR: '/nonexistent/models' } });
    expect(embeddingsUnavailableReason(onnx)).toMatch(/no ONNX embedding model in \/nonexistent\/models\/embeddings\/all-MiniLM-L6-v2 .*fetch-embeddings-model\.sh/);
    const plan = await createIndexStage().plan({ config: onnx, episode: {} as never, inputs: {} });
    expect(plan).toEqual({ configured: false, reason: expect.stringMatching(/no ONNX embedding model/) });
  });

  it('puts provider, model and dimension into the stage fingerprint parts', async () => {
    const stage = createIndexStage();
    const parts = async (env: Record<string, string>) => {
      const plan = await stage.plan({ config: loadConfig({ env }), episode: {} as never, inputs: {} });
      if (!plan.configured) throw new Error(plan.reason);
      return JSON.stringify(plan.parts);
    };
    const base = await parts({});
    expect(await parts({ EMBEDDINGS_DIM: '256' })).not.toBe(base);
    expect(await parts({ EMBEDDINGS_PROVIDER: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', EMBEDDINGS_MODEL: 'm' })).not.toBe(base);
    expect(await parts({ CHUNK_TOKENS: '200' })).not.toBe(base);
    expect(await parts({ LOG_LEVEL: 'debug' })).toBe(base);
  });
});
