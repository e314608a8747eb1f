import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAi, type ChatRequestBody, type FakeOpenAi } from './support/fake-openai';
import { fixture } from './support/fixtures';

/** `podbrain run` from the built dist: the prompt files are found from dist, enrich uses the LLM when configured. */

const CLI = path.resolve(__dirname, '../dist/cli/main.js');

function podbrain(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ASR_ENGINES: 'feed', ...env }, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let dir: string;
let ai: FakeOpenAi;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pb-c1-cli-'));
  copyFileSync(fixture('audio', 'jfk.mp3'), path.join(dir, 'episode.mp3'));
  const said = readFileSync(fixture('audio', 'jfk.txt'), 'utf8').trim();
  writeFileSync(path.join(dir, 'episode.srt'), `1\n00:00:00,000 --> 00:00:11,000\n${said}\n`);
  writeFileSync(
    path.join(dir, 'feed.xml'),
    `<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Speeches</title>
     <item><guid>jfk</guid><title>Inaugural address</title><pubDate>Fri, 20 Jan 1961 17:00:00 GMT</pubDate>
     <enclosure url="episode.mp3" type="audio/mpeg" length="1"/><podcast:transcript url="episode.srt" type="application/srt"/></item></channel></rss>`,
  );
  ai = await startFakeOpenAi({
    chat: (b: ChatRequestBody) => {
      const task = b.response_format?.json_schema?.name;
      if (task === 'summary') return { title: 'Ask not', bullets: ['Citizens should serve their country.'], key_quotes: ['ask what you can do for your country'] };
      if (task === 'gi') return { insights: [{ text: 'Service over entitlement.', insight_type: 'recommendation', confidence: 0.9, quotes: ['ask not what your country can do for you'], topics: ['civic duty'] }] };
      return { people: [{ name: 'John F. Kennedy', role: 'host' }], organizations: [], topics: [{ label: 'civic duty' }], relations: [] };
    },
  });
});

afterAll(async () => {
  await ai?.close();
  rmSync(dir, { recursive: true, force: true });
});

function enrichDirs(out: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith('enrich@')) found.push(path.join(d, e.name));
      else walk(path.join(d, e.name));
    }
  };
  walk(path.join(out, 'corpus'));
  return found.sort();
}

describe('podbrain run → enrich', () => {
  it('extractive without an LLM, then LLM output from the fake server once LLM_MODEL/OPENAI_BASE_URL are set', async () => {
    const out = path.join(dir, 'out');
    const first = await podbrain(['run', '--feed', path.join(dir, 'feed.xml'), '--out', out, '--json'], {});
    const enrich1 = JSON.parse(first.stdout).episodes[0].stages.find((s: { stage: string }) => s.stage === 'enrich');
    expect(enrich1, first.stderr).toMatchObject({ status: 'done' });
    expect(JSON.parse(readFileSync(path.join(enrich1.dir, 'summary.json'), 'utf8'))).toMatchObject({ method: 'extractive', status: 'valid' });

    const second = await podbrain(['run', '--feed', path.join(dir, 'feed.xml'), '--out', out, '--json'], { LLM_MODEL: 'fake-model', OPENAI_BASE_URL: ai.url });
    const stages = JSON.parse(second.stdout).episodes[0].stages as { stage: string; status: string; dir: string }[];
    expect(stages.find((s) => s.stage === 'transcribe')?.status).toBe('reused');
    const enrich2 = stages.find((s) => s.stage === 'enrich')!;
    expect(enrich2, second.stderr).toMatchObject({ status: 'done' });
    const summary = JSON.parse(readFileSync(path.join(enrich2.dir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ method: 'llm', status: 'valid', title: 'Ask not', key_quotes: [{ text: 'ask what you can do for your country', start_ms: 0, end_ms: 11000 }] });
    const gi = JSON.parse(readFileSync(path.join(enrich2.dir, 'gi.json'), 'utf8'));
    expect(gi.stats).toMatchObject({ insights: 1, quotes_total: 1, quotes_dropped: 0 });
    expect(ai.chatRequests()).toHaveLength(3);
    expect(enrichDirs(out)).toHaveLength(2);
  });
});
