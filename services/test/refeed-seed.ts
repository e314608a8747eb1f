/**
 * Shared seed of refeed-*.test.ts and export-*.test.ts: two followed feeds of the default tenant
 * (one with a hostile episode), a feed only tenant t2 follows, and what podbrain made of the first
 * episode (transcript, summary, insights with quotes, chapters, graph).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'pg';

export const F1 = 'feedr1';
export const F2 = 'feedr2';
export const F3 = 'feedr3';
export const EP_A = 'ep-r1-a';
export const EP_EVIL = 'ep-r1-evil';
export const EP_C = 'ep-r2-c';
export const EP_T2 = 'ep-r3-t2';
export const EVIL_TITLE = 'Evil ]]> </title><item> & "quotes" \u0001\u001f\ufffe <![CDATA[ x ]]> end';
export const EVIL_DESCRIPTION = '<p>desc ]]> <script>alert(1)</script> \u0007 &amp; &bogus; </content:encoded></p>';
export const LOCAL_AUDIO = Buffer.from('ID3localcopy0123456789');

async function feed(pg: Client, id: string, title: string, tenant = 'default', image: string | null = null) {
  await pg.query(`INSERT INTO feeds (id, url, title, image, poll_interval_s, next_poll_at) VALUES ($1, $2, $3, $4, 3600, now() + interval '1 hour')`, [id, `https://example.com/${id}.xml`, title, image]);
  await pg.query(`INSERT INTO subscriptions (tenant_id, feed_id) VALUES ($1, $2)`, [tenant, id]);
}

async function episode(pg: Client, p: { key: string; feed: string; guid: string | null; title: string; published: string | null; duration: number | null; enclosure: unknown; source: Record<string, unknown>; state?: string }) {
  await pg.query(
    `INSERT INTO episodes (episode_key, feed_id, guid, title, published_at, duration_s, enclosure, transcripts, source, state) VALUES ($1,$2,$3,$4,$5,$6,$7,'[]',$8,$9)`,
    [p.key, p.feed, p.guid, p.title, p.published, p.duration, JSON.stringify(p.enclosure), JSON.stringify(p.source), p.state ?? 'done'],
  );
}

export async function seedRefeed(pg: Client): Promise<void> {
  await pg.query(`INSERT INTO tenants (id, name) VALUES ('t2', 'Second') ON CONFLICT DO NOTHING`);
  await feed(pg, F1, 'Show One', 'default', 'https://cdn.example.com/show1.jpg');
  await feed(pg, F2, 'Show Two');
  await feed(pg, F3, 'Other Tenant Show', 't2');

  await episode(pg, {
    key: EP_A,
    feed: F1,
    guid: 'guid-A',
    title: 'First & best',
    published: '2024-03-02T10:00:00Z',
    duration: 3725,
    enclosure: { url: 'https://cdn.example.com/a.mp3', type: 'audio/mpeg', length: 12345 },
    source: { description: '<p>Publisher <b>notes</b></p>', link: 'https://show.example.com/a' },
  });
  await episode(pg, {
    key: EP_EVIL,
    feed: F1,
    guid: null,
    title: EVIL_TITLE,
    published: '2024-03-01T10:00:00Z',
    duration: null,
    enclosure: { url: 'file:///srv/local/evil.mp3', type: 'audio/mpeg', length: null },
    source: { description: EVIL_DESCRIPTION },
  });
  await episode(pg, { key: EP_C, feed: F2, guid: 'guid-C', title: 'Two C', published: '2024-03-03T10:00:00Z', duration: 60, enclosure: { url: 'http://two.example.com/c.mp3', type: 'audio/mpeg', length: 99 }, source: {} });
  await episode(pg, { key: EP_T2, feed: F3, guid: 'guid-T2', title: 'Not yours', published: '2024-03-04T10:00:00Z', duration: 60, enclosure: { url: 'https://t2.example.com/t.mp3', type: 'audio/mpeg', length: 1 }, source: {} });
  await pg.query(`INSERT INTO transcript_segments (episode_key, fingerprint, idx, start_ms, end_ms, speaker, text) VALUES ($1,'fp',0,0,1500,NULL,'Hello <world> & --> friends'),($1,'fp',1,1500,1500,NULL,'   '),($1,'fp',2,3661001,3662500,'Ada','Second\nline')`, [EP_T2]);

  // What podbrain made of EP_A.
  await pg.query(
    `INSERT INTO transcript_segments (episode_key, fingerprint, idx, start_ms, end_ms, speaker, text) VALUES ($1,'fp',0,0,1500,NULL,'Hello <world> & --> friends'),($1,'fp',1,1500,1600,NULL,'   '),($1,'fp',2,3661001,3662500,'Ada','Second\nline')`,
    [EP_A],
  );
  await pg.query(`INSERT INTO summaries (episode_key, fingerprint, title, bullets, key_quotes, status) VALUES ($1,'fp','A title','["Bullet <one>","two & three"]','[]','valid')`, [EP_A]);
  await pg.query(`INSERT INTO insights (episode_key, id, fingerprint, text, insight_type, confidence) VALUES ($1,'i1','fp','Insight <b>one</b>','claim',0.9),($1,'i2','fp','Insight two','observation',0.4)`, [EP_A]);
  await pg.query(`INSERT INTO quotes (episode_key, id, fingerprint, text, start_ms, end_ms) VALUES ($1,'q1','fp','We said *this* [exactly]',65000,70000)`, [EP_A]);
  await pg.query(`INSERT INTO insight_support (episode_key, insight_id, quote_id) VALUES ($1,'i1','q1')`, [EP_A]);
  await pg.query(`INSERT INTO chapters (episode_key, fingerprint, idx, start_ms, end_ms, title, source, url, image) VALUES ($1,'fp',0,0,60000,'Intro','publisher',NULL,NULL),($1,'fp',1,60000,NULL,'The # main [part]','generated','https://show.example.com/ch','https://cdn.example.com/ch.jpg')`, [EP_A]);
  await pg.query(`INSERT INTO kg_nodes (id, kind, label, props) VALUES ('person:ada-r','Person','Ada Lovelace','{}'),('topic:engines-r','Topic','Analytical engines','{}'),('org:acme-r','Organization','Acme [Corp]','{}') ON CONFLICT DO NOTHING`);
  await pg.query(`INSERT INTO kg_edges (episode_key, fingerprint, source_id, target_id, kind, props) VALUES ($1,'fp','person:ada-r','topic:engines-r','MENTIONS','{}'),($1,'fp','org:acme-r','topic:engines-r','MENTIONS','{}')`, [EP_A]);

  // EP_EVIL's enclosure is no http(s) URL, but podbrain has a copy of the audio.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'refeed-ingest-'));
  writeFileSync(path.join(dir, 'audio.mp3'), LOCAL_AUDIO);
  writeFileSync(path.join(dir, 'ingest.json'), JSON.stringify({ schema_version: 1, episode_key: EP_EVIL, audio_file: 'audio.mp3', content_type: 'audio/mpeg' }));
  await pg.query(`INSERT INTO stage_runs (episode_key, stage, fingerprint, status, attempts, finished_at, artifact_path) VALUES ($1, 'ingest', 'fp', 'done', 1, now(), $2)`, [EP_EVIL, dir]);
}
