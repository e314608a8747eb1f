/**
 * A podcast served over local HTTP for platform tests: `count` episodes whose enclosures are
 * the fixture audio files (cycled), plus the expected outcome of the stage chain under a
 * config (done, or skipped naming the first stage this build/config cannot run).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import type { FeedEpisode } from '../../src/feeds/types';
import { buildStages } from '../../src/pipeline/stages';
import { fixture } from './fixtures';
import { serveBody, serveFile, startFixtureServer, type FixtureServer } from './http-fixture-server';

export const CLIPS = ['fleurs-en-000.ogg', 'fleurs-en-001.ogg', 'fleurs-en-002.ogg', 'fleurs-en-003.ogg', 'fleurs-en-004.ogg', 'fleurs-en-005.ogg', 'fleurs-en-006.ogg'];

export async function startPodcastServer(opts: { count: number; title?: string; clip?: (i: number) => string; audioFile?: (i: number) => string }): Promise<{ server: FixtureServer; feedUrl: string; titles: string[] }> {
  const server = await startFixtureServer();
  const titles: string[] = [];
  const items: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    const file = opts.audioFile?.(i) ?? fixture('audio', opts.clip?.(i) ?? CLIPS[i % CLIPS.length]);
    if (!existsSync(file)) throw new Error(`missing audio ${file}`);
    const route = `/audio/${i}${path.extname(file)}`;
    server.route(route, serveFile(file, { contentType: 'audio/ogg', ranges: true }));
    const title = `Episode ${i + 1}`;
    titles.push(title);
    const day = String((i % 28) + 1).padStart(2, '0');
    items.push(`<item><guid isPermaLink="false">ep-${i}</guid><title>${title}</title><pubDate>Mon, ${day} Jan 2024 10:00:00 GMT</pubDate><enclosure url="${server.url(route)}" type="audio/ogg" length="1000"/></item>`);
  }
  const xml = `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>${opts.title ?? 'Platform Test Show'}</title><link>https://example.com/</link><description>test</description>${items.join('')}</channel></rss>`;
  server.route('/feed.xml', serveBody(xml, { contentType: 'application/rss+xml', etag: true }));
  return { server, feedUrl: server.url('/feed.xml'), titles };
}

/** What every episode's final state must be under this env: `done`, or `skipped` with "not configured: <stage>…". */
export async function expectedOutcome(env: Record<string, string>): Promise<{ state: 'done' } | { state: 'skipped'; stage: string; reason: string }> {
  const config = loadConfig({ env: { ...env } });
  const episode: FeedEpisode = {
    guid: 'probe', title: 'Probe', description: null, link: null, image: null, published: null, durationS: 10,
    enclosure: { url: 'http://127.0.0.1:9/probe.ogg', type: 'audio/ogg', length: 1000 }, transcripts: [], chaptersUrl: null, persons: [], season: null,
    episode: null, episodeType: null, explicit: null, author: null, feedId: 'probe', feedUrl: 'http://127.0.0.1:9/feed.xml', episodeKey: 'probe',
  };
  for (const stage of buildStages(config)) {
    const plan = await stage.plan({ config, episode, inputs: {} });
    if (!plan.configured) return { state: 'skipped', stage: stage.name, reason: plan.reason };
  }
  return { state: 'done' };
}
