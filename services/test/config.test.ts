import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config';

describe('config model', () => {
  it('works with nothing set', () => {
    const c = loadConfig({ env: {} });
    expect(c.apiPort).toBe(8100);
    expect(c.asr.engines).toEqual(['feed', 'whisper-cpp']);
    expect(c.embeddings.provider).toBe('auto');
    expect(c.net.allowPrivateNetwork).toBe(false);
    expect(c.feeds.maxBytes).toBe(20 * 1024 * 1024);
  });

  it('applies file < env < flags', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pb-cfg-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'apiPort: 9000\nasr:\n  threads: 3\n  beamSize: 2\nnet:\n  allowPrivateNetwork: true\n');
    const c = loadConfig({ env: { WHISPER_THREADS: '6' }, file, overrides: { 'asr.beamSize': 7 } });
    expect(c.apiPort).toBe(9000);
    expect(c.asr.threads).toBe(6);
    expect(c.asr.beamSize).toBe(7);
    expect(c.net.allowPrivateNetwork).toBe(true);
  });

  it('fails at start naming the key and what was expected', () => {
    expect(() => loadConfig({ env: { WHISPER_THREADS: 'many' } })).toThrow(/WHISPER_THREADS \(asr\.threads, from env\): expected .*number/);
    expect(() => loadConfig({ env: { EMBEDDINGS_PROVIDER: 'magic' } })).toThrow(/EMBEDDINGS_PROVIDER .*one of auto, hash, openai, onnx, got "magic"/);
    expect(() => loadConfig({ env: { ASR_ENGINES: 'feed,dragon' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { DATABASE_URL: 'mysql://x' } })).toThrow(/DATABASE_URL .*postgres:\/\//);
    expect(() => loadConfig({ env: { API_PORT: '70000' } })).toThrow(/API_PORT/);
  });

  it('rejects unknown keys in the config file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pb-cfg-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'asr:\n  thread: 3\n');
    expect(() => loadConfig({ env: {}, file })).toThrow(/asr\.thread \(config file\): unknown setting/);
  });
});
