import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { strToU8, Zip, ZipDeflate } from 'fflate';
import { episodeNote, noteFileName, uniqueName } from '../../export/episode-note';
import { frontMatter, mdEscape, safeFileName } from '../../export/markdown';
import { ChapterRepository } from '../../repositories/chapters.repository';
import { ContentRepository } from '../../repositories/content.repository';
import { RefeedRepository, type RefeedScope } from '../../repositories/refeed.repository';
import { ApiContext } from '../context';
import { notFound } from '../errors';

/** Most episodes one feed export holds (newest first); the index note says when more were left out. */
export const EXPORT_MAX_EPISODES = 5000;

/** Until the response can take more, or is gone (a client that left never drains). */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** `Content-Disposition: attachment` with an ASCII fallback name and the UTF-8 one. */
export function attachment(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/**
 * Markdown export (issue 17): one Obsidian-friendly note per episode (export/episode-note.ts),
 * a feed as a zip of its notes plus an index note, streamed: one note is built, compressed and
 * written at a time (waiting for the socket to drain), so memory stays flat for any feed size.
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly repo: RefeedRepository,
    private readonly content: ContentRepository,
    private readonly chapters: ChapterRepository,
    private readonly ctx: ApiContext,
  ) {}

  /** Links point at PUBLIC_URL when set, else the request's own origin. */
  private viewerBase(origin: string): string {
    return (this.ctx.config.notify.publicUrl || origin).replace(/\/+$/, '');
  }

  private async note(scope: RefeedScope, key: string, viewerBase: string, withTranscript: boolean): Promise<{ fileName: string; markdown: string; title: string; published: Date | null } | null> {
    const meta = await this.repo.noteMeta(scope, key);
    if (!meta) return null;
    const [summary, insights, graph, chapters, transcript] = await Promise.all([
      this.content.summary(key, null),
      this.content.insights(key),
      this.content.episodeGraph(key),
      this.chapters.forEpisode(key),
      withTranscript ? this.content.transcript(key, null) : Promise.resolve(null),
    ]);
    const nodes = graph?.nodes ?? [];
    const data = {
      key,
      title: meta.title,
      show: meta.show,
      published: meta.published_at,
      durationS: meta.duration_s,
      url: meta.url,
      summary: summary?.bullets ?? [],
      insights: (insights ?? []).map((i) => ({ text: i.text, insight_type: i.insight_type, quotes: i.quotes.map((q) => ({ text: q.text, start_ms: q.start_ms })) })),
      topics: nodes.filter((n) => n.type === 'Topic').map((n) => n.label),
      entities: nodes.filter((n) => n.type === 'Person' || n.type === 'Organization').map((n) => ({ label: n.label, type: n.type })),
      chapters: chapters.map((c) => ({ start_ms: c.start_ms, title: c.title })),
      transcript: transcript?.segments ?? null,
    };
    return { fileName: noteFileName(data), markdown: episodeNote(data, viewerBase), title: meta.title, published: meta.published_at };
  }

  /** One episode's note; 404 when the tenant does not follow its feed. */
  async episode(tenantId: string, key: string, origin: string, withTranscript: boolean): Promise<{ fileName: string; markdown: string }> {
    const n = await this.note({ tenantId, feedId: null }, key, this.viewerBase(origin), withTranscript);
    if (!n) throw notFound(`episode ${key}`);
    return n;
  }

  /**
   * A followed feed as a zip: `<show>/<date> <title>.md` per episode (names unique, safe on every
   * OS) and `<show>/<show>.md`, the index linking each note. 404 before anything is sent when the
   * tenant does not follow it; a failure half-way ends the download (the zip stays visibly broken).
   */
  async feedZip(tenantId: string, feedId: string, origin: string, res: Response): Promise<void> {
    const scope = { tenantId, feedId };
    const feed = await this.repo.feed(scope);
    if (!feed) throw notFound(`feed ${feedId}`);
    const base = this.viewerBase(origin);
    const show = feed.title || feed.url;
    const folder = safeFileName(show, 'podcast');
    const keys = await this.repo.episodeKeys(scope, EXPORT_MAX_EPISODES + 1);
    const truncated = keys.length > EXPORT_MAX_EPISODES;

    res.status(200).type('application/zip').set({ 'content-disposition': attachment(`${folder}.zip`), 'cache-control': 'no-store' });
    const zip = new Zip((err, chunk, final) => {
      if (err) {
        res.destroy(err);
        return;
      }
      // A client that went away: nothing more is written (a write to a destroyed response would emit an error).
      if (res.destroyed) return;
      res.write(chunk);
      if (final) res.end();
    });
    const add = async (name: string, text: string, mtime?: Date | null) => {
      const file = new ZipDeflate(`${folder}/${name}`, { level: 6 });
      if (mtime && mtime.getTime() > Date.UTC(1980, 0, 2)) file.mtime = mtime;
      zip.add(file);
      file.push(strToU8(text), true);
      if (res.writableNeedDrain && !res.destroyed) await drained(res);
    };

    const taken = new Set<string>();
    const indexName = uniqueName(`${folder}.md`, taken);
    const listed: string[] = [];
    try {
      for (const key of keys.slice(0, EXPORT_MAX_EPISODES)) {
        if (res.destroyed) return;
        const n = await this.note(scope, key, base, false);
        if (!n) continue;
        const name = uniqueName(n.fileName, taken);
        await add(name, n.markdown, n.published);
        listed.push(`- [[${name.replace(/\.md$/, '')}]]`);
      }
      const index = [
        frontMatter({ title: show, url: feed.url, podbrain: `${base}/feeds`, exported: new Date().toISOString(), episodes: listed.length }),
        `# ${mdEscape(show)}\n`,
        truncated ? `The newest ${EXPORT_MAX_EPISODES} episodes; older ones were left out.\n` : '',
        `${listed.join('\n')}\n`,
      ]
        .filter(Boolean)
        .join('\n');
      await add(indexName, index);
      zip.end();
    } catch (e) {
      this.ctx.log.warn({ feed_id: feedId, err: e instanceof Error ? e.message : String(e) }, 'feed export failed half-way; the download was cut');
      res.destroy(e instanceof Error ? e : new Error(String(e)));
    }
  }
}
