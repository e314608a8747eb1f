import type { TranscriptSegment } from '../asr/types';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { FeedEpisode } from '../feeds/types';
import type { LlmProvider } from '../llm/provider';
import { generateChapters } from './generate';
import { llmChapterTitles } from './llm-titles';
import { fetchPublisherChapters } from './publisher';
import { CHAPTERS_SCHEMA_VERSION, type ChaptersArtifact } from './types';

export interface BuildChaptersInput {
  config: Config;
  episode: Pick<FeedEpisode, 'title' | 'chaptersUrl'>;
  segments: readonly TranscriptSegment[];
  log: Logger;
  signal?: AbortSignal;
  /** Why the transcript is not fit to generate chapters from (the enrich quality gate's blocker), or null. */
  blocker: string | null;
  /** The LLM titles generated chapters when there is one; null: extractive titles. */
  llm: LlmProvider | null;
  /** Local chapter files are read only for feeds on the local disk. */
  allowLocalFiles: boolean;
}

const joinNotes = (...notes: (string | undefined)[]) => notes.filter(Boolean).join('; ') || undefined;

/**
 * The episode's chapters.json: the publisher's podcast:chapters when they can be fetched and used;
 * else (CHAPTERS_GENERATE) chapters from topic shifts in the transcript, titled by the LLM when
 * one is configured and its titles are usable, extractively otherwise; else none, with why.
 * Nothing here fails the episode except an abort.
 */
export async function buildChapters(p: BuildChaptersInput): Promise<ChaptersArtifact> {
  let publisherNote: string | undefined;
  if (p.episode.chaptersUrl) {
    const r = await fetchPublisherChapters(p.config, p.episode.chaptersUrl, { maxBytes: p.config.chapters.maxBytes, signal: p.signal, allowLocalFiles: p.allowLocalFiles });
    if (r.ok) return { schema_version: CHAPTERS_SCHEMA_VERSION, source: 'publisher', chapters: r.chapters };
    publisherNote = `publisher chapters not used: ${r.problem}`;
    p.log.warn({ chapters_url: p.episode.chaptersUrl, reason: r.problem }, 'chapters: the publisher chapters cannot be used; generating them from the transcript instead');
  }
  const none = (note: string): ChaptersArtifact => ({ schema_version: CHAPTERS_SCHEMA_VERSION, source: null, chapters: [], note: joinNotes(publisherNote, note) });
  if (!p.config.chapters.generate) return none('no chapters generated (CHAPTERS_GENERATE=false)');
  if (p.blocker) return none(`no chapters generated: the transcript is degraded (${p.blocker})`);

  const g = generateChapters(p.segments);
  if (!g.chapters.length) return none(g.note ?? 'no chapters generated');
  const out: ChaptersArtifact = { schema_version: CHAPTERS_SCHEMA_VERSION, source: 'generated', chapters: g.chapters, titles: 'extractive' };
  if (p.llm) {
    const t = await llmChapterTitles(p.llm, { episodeTitle: p.episode.title, chapters: g.chapters, segments: p.segments, keyTerms: g.keyTerms, contextTokens: p.config.llm.contextTokens, signal: p.signal });
    if (t.ok) {
      out.chapters = g.chapters.map((c, k) => ({ ...c, title: t.titles[k] }));
      out.titles = 'llm';
    } else {
      out.note = `extractive chapter titles: the LLM's were unusable (${t.problem.slice(0, 300)})`;
      p.log.warn({ problem: t.problem }, 'chapters: LLM titles unusable, the extractive titles stand');
    }
  }
  if (publisherNote) out.note = joinNotes(publisherNote, out.note);
  return out;
}
