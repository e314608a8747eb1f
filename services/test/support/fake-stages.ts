import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Stage } from '../../src/pipeline/stage';
import { createIngestStage } from '../../src/stages/ingest.stage';
import { fixture } from './fixtures';

/**
 * The stage chain with the real ingest stage (it copies a local fixture enclosure) and small
 * deterministic transcribe, enrich and index stages whose artifacts the projection accepts:
 * a full episode runs in well under a second. `runs` counts each fake stage's executions and
 * `order` lists (stage, episode title) as they ran.
 */
export function fakeStages(opts: { beforeRun?: (stage: string, title: string) => Promise<void> | void } = {}) {
  const runs = { transcribe: 0, enrich: 0, index: 0 };
  const order: { stage: string; title: string }[] = [];
  const fake = (name: 'transcribe' | 'enrich' | 'index', files: (key: string, title: string) => Record<string, unknown>): Stage => ({
    name,
    needs: name === 'transcribe' ? ['ingest'] : ['transcribe'],
    plan: () => ({ configured: true, parts: { fake: name, v: 1 } }),
    async run(ctx, out) {
      await opts.beforeRun?.(name, ctx.episode.title);
      runs[name]++;
      order.push({ stage: name, title: ctx.episode.title });
      for (const [file, value] of Object.entries(files(ctx.episode.episodeKey, ctx.episode.title))) {
        if (typeof value === 'string') await out.writeText(file, value);
        else await out.writeJson(file, value);
      }
      return { info: { fake: true } };
    },
  });
  const stages: Stage[] = [
    createIngestStage(),
    fake('transcribe', (key, title) => ({
      'transcript.json': {
        schema_version: 1, episode_key: key, engine: 'fake', model: 'none', language: 'en', duration_ms: 2000, speech_coverage: 1, status: 'valid', quality: { reasons: [] },
        segments: [{ start_ms: 0, end_ms: 2000, text: `Welcome to ${title}.` }],
      },
    })),
    fake('enrich', () => ({
      'summary.json': { schema_version: 1, title: 'Plants', bullets: ['sunlight'], key_quotes: [], status: 'valid', method: 'extractive' },
      'gi.json': { schema_version: 1, nodes: [], edges: [] },
      'kg.json': { schema_version: 1, nodes: [], edges: [] },
    })),
    fake('index', (_key, title) => ({ 'chunks.jsonl': `${JSON.stringify({ idx: 0, text: `Welcome to ${title}.`, start_ms: 0, end_ms: 2000, vector_id: 1 })}\n` })),
  ];
  return { stages, runs, order };
}

/** A local RSS file whose items' enclosures are copies of a fixture clip beside it. */
export function writeLocalFeed(dir: string, name: string, titles: string[]): string {
  const items = titles.map((title, i) => {
    const audio = `${name}-${i}.ogg`;
    copyFileSync(fixture('audio', 'fleurs-en-000.ogg'), path.join(dir, audio));
    return `<item><guid>${name}-${i}</guid><title>${title}</title><pubDate>Mon, 0${i + 1} Jan 2024 10:00:00 GMT</pubDate><enclosure url="${audio}" type="audio/ogg" length="1000"/></item>`;
  });
  const file = path.join(dir, `${name}.xml`);
  writeFileSync(file, `<?xml version="1.0"?><rss version="2.0"><channel><title>${name}</title><link>https://example.com</link><description>d</description>${items.join('')}</channel></rss>`);
  return file;
}
