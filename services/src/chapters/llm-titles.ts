import { z } from 'zod';
import type { TranscriptSegment } from '../asr/types';
import { PodbrainError } from '../core/errors';
import { loadPrompt, renderPrompt } from '../llm/prompts';
import type { LlmProvider } from '../llm/provider';
import { cleanTitle } from './publisher';
import type { Chapter } from './types';

export const CHAPTER_TITLES_PROMPT = 'chapter-titles.v1';

/** The prompt's version for the enrich recipe (editing it re-titles the chapters). */
export function chapterTitlesPromptVersion(): string {
  return `${CHAPTER_TITLES_PROMPT}@${loadPrompt(CHAPTER_TITLES_PROMPT).hash}`;
}

/** Characters of transcript shown per chapter: its start (what it opens with), bounded for the context. */
export function excerptChars(contextTokens: number, chapters: number): number {
  return Math.max(300, Math.min(2_000, Math.floor((contextTokens * 4 * 0.6) / Math.max(1, chapters))));
}

const asData = (text: string) => text.replace(/<\s*\/?\s*chapter\b[^>]*>/gi, '[chapter]');

export type LlmTitles = { ok: true; titles: string[] } | { ok: false; problem: string };

/**
 * Titles for generated chapters from the LLM: one call for all of them (each chapter's opening
 * text and its extractive key terms), checked against a schema: exactly one non-empty title per
 * chapter, each at most 120 characters. An unusable answer (after the provider's repair round) is
 * `ok: false` with why; the caller keeps the extractive titles. A provider that cannot be reached
 * after its retries is `ok: false` too (chapters are not worth failing the episode for); an abort
 * is thrown.
 */
export async function llmChapterTitles(
  provider: LlmProvider,
  p: { episodeTitle: string; chapters: readonly Chapter[]; segments: readonly TranscriptSegment[]; keyTerms: readonly string[][]; contextTokens: number; signal?: AbortSignal },
): Promise<LlmTitles> {
  const n = p.chapters.length;
  const schema = z.object({ titles: z.array(z.string().trim().min(1).max(120)).length(n) });
  const per = excerptChars(p.contextTokens, n);
  const blocks = p.chapters.map((c, k) => {
    const end = c.end_ms ?? Infinity;
    let text = '';
    for (const s of p.segments) {
      if (s.start_ms < c.start_ms || s.start_ms >= end) continue;
      text += (text ? ' ' : '') + s.text;
      if (text.length >= per) break;
    }
    const terms = p.keyTerms[k]?.length ? ` key_terms="${p.keyTerms[k].join(', ').replace(/"/g, '')}"` : '';
    return `<chapter index="${k + 1}"${terms}>\n${asData(text.slice(0, per))}\n</chapter>`;
  });
  const tpl = loadPrompt(CHAPTER_TITLES_PROMPT);
  const vars = { episode_title: p.episodeTitle.slice(0, 300), count: String(n), chapters: blocks.join('\n\n') };
  try {
    const res = await provider.completeJson({ task: 'chapter-titles', schemaName: 'chapter_titles', schema, system: renderPrompt(tpl.system, vars), user: renderPrompt(tpl.user, vars) }, p.signal);
    if (!res.ok) return { ok: false, problem: res.problem };
    const titles = res.value.titles.map(cleanTitle);
    if (titles.some((t) => !t)) return { ok: false, problem: 'the LLM gave an empty title' };
    return { ok: true, titles };
  } catch (e) {
    if (p.signal?.aborted || !(e instanceof PodbrainError) || e.code !== 'llm_provider_failed') throw e;
    return { ok: false, problem: `LLM unusable: ${e.message}` };
  }
}
