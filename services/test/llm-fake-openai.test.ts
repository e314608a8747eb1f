import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { hashEmbedding, startFakeOpenAi, type FakeOpenAi } from './support/fake-openai';

/** The shared fake OpenAI server behaves like the real API for the SDK (C2 and the platform tests rely on it). */

let ai: FakeOpenAi | null = null;
afterEach(async () => {
  await ai?.close();
  ai = null;
});

const client = (url: string, maxRetries = 0) => new OpenAI({ apiKey: 'test', baseURL: url, maxRetries });

describe('fake OpenAI server', () => {
  it('embeddings: the SDK default (base64 float32) decodes to the same deterministic unit vectors as encoding_format float', async () => {
    ai = await startFakeOpenAi({ embeddingDim: 16 });
    const c = client(ai.url);
    const b64 = await c.embeddings.create({ model: 'e', input: ['alpha', 'beta'] });
    const flt = await c.embeddings.create({ model: 'e', input: ['alpha', 'beta'], encoding_format: 'float' });
    expect(ai.requests.map((r) => r.body.encoding_format)).toEqual(['base64', 'float']);
    for (let i = 0; i < 2; i++) {
      const v = b64.data[i].embedding as number[];
      expect(v).toHaveLength(16);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
      (flt.data[i].embedding as number[]).forEach((x, j) => expect(v[j]).toBeCloseTo(x, 6));
    }
    expect(b64.data[0].embedding).not.toEqual(b64.data[1].embedding);
    expect(hashEmbedding('alpha', 16)).toEqual(flt.data[0].embedding);
    expect(b64.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('chat: objects become JSON content with usage; failFirst scripts 429s; models are listed', async () => {
    ai = await startFakeOpenAi({ chat: (_b, n) => ({ n }), failFirst: { status: 429, times: 2, path: 'chat' } });
    const c = client(ai.url);
    await expect(c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 429 });
    await expect(c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 429 });
    const ok = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(JSON.parse(ok.choices[0].message.content!)).toEqual({ n: 1 });
    expect(ok.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 2 });
    expect((await c.models.list()).data.map((m) => m.id)).toEqual(['fake-model']);
  });

  it('delayMs makes a slow server: the SDK times out', async () => {
    ai = await startFakeOpenAi({ delayMs: 800 });
    const c = new OpenAI({ apiKey: 'test', baseURL: ai.url, maxRetries: 0, timeout: 200 });
    await expect(c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow(/timed out/i);
  });
});
