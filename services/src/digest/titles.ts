import { z } from 'zod';
import { errorMessage } from '../core/errors';
import type { Logger } from '../core/logger';
import { loadPrompt, renderPrompt } from '../llm/prompts';
import type { LlmProvider } from '../llm/provider';

/** What a cluster's title is made from. */
export interface TitleSource {
  /** Graph entities its episodes share, most shared first. */
  entities: readonly string[];
  /** Its passages' texts, most central first (insights before chunks). */
  texts: readonly string[];
}

export const TITLE_MAX_CHARS = 90;
/** What the LLM sees of each cluster: a few passages, each cut. */
const LLM_TEXTS_PER_CLUSTER = 3;
const LLM_TEXT_CHARS = 280;

/** `text` cut at a word boundary to at most `max` characters, with an ellipsis when cut. */
export function shorten(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (t.length <= max) return t;
  const cut = t.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.–—-]+$/, '')}…`;
}

const joinLabels = (labels: readonly string[]) => (labels.length <= 1 ? (labels[0] ?? '') : `${labels.slice(0, -1).join(', ')} and ${labels[labels.length - 1]}`);

/**
 * The extractive title: the entities the episodes share (up to three), else the most central
 * passage's first sentence, shortened.
 */
export function extractiveTitle(c: TitleSource): string {
  if (c.entities.length) return shorten(joinLabels(c.entities.slice(0, 3)), TITLE_MAX_CHARS);
  const text = c.texts[0] ?? '';
  const sentence = /^(.{20,}?[.!?])(\s|$)/.exec(text.trim())?.[1] ?? text;
  return shorten(sentence.replace(/[.!?]+$/, ''), TITLE_MAX_CHARS) || 'Shared subject';
}

const TitlesSchema = z.object({
  titles: z
    .array(
      z.object({
        cluster: z.number().int().min(1),
        title: z.string().trim().min(3).max(TITLE_MAX_CHARS * 2),
      }),
    )
    .min(1)
    .max(200),
});

export interface TitleResult {
  titles: { title: string; source: 'llm' | 'extractive' }[];
  /** Why the LLM's titles were not used (all or some), or null. */
  problem: string | null;
}

/**
 * Titles for every cluster: one bounded LLM call for all of them when a provider is given (JSON
 * schema, validated), each title it does not give, or gives unusable, is extractive and labelled
 * so; any failure of the call → every title extractive, with the problem.
 */
export async function titleClusters(clusters: readonly TitleSource[], llm: LlmProvider | null, log: Logger, signal?: AbortSignal): Promise<TitleResult> {
  const extractive = () => clusters.map((c) => ({ title: extractiveTitle(c), source: 'extractive' as const }));
  if (!llm || !clusters.length) return { titles: extractive(), problem: null };
  const tpl = loadPrompt('digest-titles.v1');
  const vars = {
    clusters: clusters
      .map((c, i) => {
        const lines = c.texts.slice(0, LLM_TEXTS_PER_CLUSTER).map((t) => `- ${shorten(t, LLM_TEXT_CHARS)}`);
        return `Cluster ${i + 1}${c.entities.length ? ` (shared: ${c.entities.slice(0, 5).join(', ')})` : ''}:\n${lines.join('\n')}`;
      })
      .join('\n\n'),
  };
  try {
    const res = await llm.completeJson({ task: 'digest-titles', schemaName: 'digest_titles', schema: TitlesSchema, system: renderPrompt(tpl.system, vars), user: renderPrompt(tpl.user, vars) }, signal);
    if (!res.ok) {
      log.warn({ problem: res.problem }, 'digest: the LLM titles were unusable; titles are extractive');
      return { titles: extractive(), problem: res.problem };
    }
    const byCluster = new Map<number, string>();
    for (const t of res.value.titles) {
      const title = t.title.replace(/^["'“”]+|["'“”.]+$/g, '').replace(/\s+/g, ' ').trim();
      if (title.length >= 3 && !byCluster.has(t.cluster)) byCluster.set(t.cluster, shorten(title, TITLE_MAX_CHARS));
    }
    const titles = clusters.map((c, i) => {
      const t = byCluster.get(i + 1);
      return t ? { title: t, source: 'llm' as const } : { title: extractiveTitle(c), source: 'extractive' as const };
    });
    const missing = titles.filter((t) => t.source === 'extractive').length;
    return { titles, problem: missing ? `the LLM gave no usable title for ${missing} of ${clusters.length} cluster(s)` : null };
  } catch (e) {
    if (signal?.aborted) throw e;
    log.warn({ err: errorMessage(e) }, 'digest: the LLM could not title the clusters; titles are extractive');
    return { titles: extractive(), problem: errorMessage(e) };
  }
}
