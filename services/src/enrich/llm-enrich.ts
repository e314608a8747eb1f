import { z } from 'zod';
import { loadPrompt, renderPrompt, type PromptTemplate } from '../llm/prompts';
import { jsonSchemaOf, type LlmProvider } from '../llm/provider';
import { buildGi, buildKg, feedPeople, type EpisodeInfo, type InsightDraft, type KgDraft } from './assemble';
import { analyse, entityNames, extractiveInsights, extractiveKgDraft, extractiveSummary, type Analysis, type ExtractiveOptions } from './extractive';
import { normalise } from './grounding';
import { splitSentences, type TranscriptText } from '../text/transcript-text';
import { ENRICH_SCHEMA_VERSION, type EnrichResult, type GroundedQuote, type PersonRole, type SummaryArtifact } from './types';

/**
 * LLM enrichment with map-reduce: the transcript is cut at segment boundaries into parts that
 * fit LLM_CONTEXT_TOKENS; summary, insights and KG are asked per part (map), then merged
 * (reduce: one LLM call for the summary, a union for insights and KG). Any task whose output
 * stays invalid after the repair attempt falls back to the extractive result, `degraded`.
 * Transport failures (server down after retries) are thrown: the stage fails and is retried
 * later, instead of caching a degraded result for good.
 */

const PROMPT_IDS = { summary: 'summary.v1', gi: 'gi.v1', kg: 'kg.v1', reduce: 'summary-reduce.v1' } as const;

const short = (max: number) => z.string().trim().min(1).max(max);

export const SummarySchema = z.object({
  title: short(300),
  bullets: z.array(short(600)).max(12),
  key_quotes: z.array(short(1000)).max(8),
});
const ReduceSchema = z.object({ title: short(300), bullets: z.array(short(600)).min(1).max(12) });
export const GiSchema = z.object({
  insights: z
    .array(
      z.object({
        text: short(600),
        insight_type: z.enum(['claim', 'recommendation', 'observation', 'question']),
        confidence: z.number().min(0).max(1),
        quotes: z.array(short(1000)).max(5),
        topics: z.array(short(80)).max(6),
      }),
    )
    .max(30),
});
export const KgSchema = z.object({
  people: z.array(z.object({ name: short(120), role: z.enum(['host', 'guest', 'mentioned']) })).max(60),
  organizations: z.array(z.object({ name: short(160) })).max(60),
  topics: z.array(z.object({ label: short(80) })).max(30),
  relations: z.array(z.object({ from: short(160), to: short(160) })).max(80),
});

/** ~4 chars per token: good enough to size parts, never used for billing. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export interface TranscriptPart {
  index: number;
  text: string;
}

/** Cuts the transcript at segment boundaries into parts of at most `maxTokens` (a longer segment is cut at sentences, then words). */
export function splitIntoParts(tt: TranscriptText, maxTokens: number): TranscriptPart[] {
  const maxChars = Math.max(200, maxTokens * 4);
  const pieces: string[] = [];
  for (const seg of tt.segments) {
    if (seg.text.length <= maxChars) pieces.push(seg.text);
    else {
      let cur = '';
      for (const s of splitSentences(seg.text)) {
        for (const w of s.text.length > maxChars ? s.text.split(' ') : [s.text]) {
          if (cur && cur.length + 1 + w.length > maxChars) {
            pieces.push(cur);
            cur = '';
          }
          cur = cur ? `${cur} ${w}` : w.slice(0, maxChars);
        }
      }
      if (cur) pieces.push(cur);
    }
  }
  const parts: TranscriptPart[] = [];
  let cur: string[] = [];
  let size = 0;
  for (const p of pieces) {
    if (cur.length && size + p.length + 1 > maxChars) {
      parts.push({ index: parts.length, text: cur.join('\n') });
      cur = [];
      size = 0;
    }
    cur.push(p);
    size += p.length + 1;
  }
  if (cur.length) parts.push({ index: parts.length, text: cur.join('\n') });
  return parts;
}

/** The transcript cannot close or reopen the data block it is placed in. */
function asData(text: string): string {
  return text.replace(/<\s*\/?\s*(transcript|summaries)\s*>/gi, '[$1]');
}

/** Sentences of our own prompts; model output that repeats one of them is a leak and is dropped. */
class LeakGuard {
  private readonly sentences: string[];
  blocked = 0;

  constructor(templates: PromptTemplate[]) {
    const all = templates.flatMap((t) => [t.system, t.user]).join('\n');
    this.sentences = [
      ...new Set(
        all
          .split(/\n|(?<=[.:])\s+/)
          .map((s) => normalise(s.replace(/\{\{\w+\}\}/g, '')).text)
          .filter((s) => s.length >= 24),
      ),
    ];
  }

  leaks(text: string): boolean {
    const n = normalise(text).text;
    return this.sentences.some((s) => n.includes(s) || (n.length >= 24 && s.includes(n)));
  }

  /** The strings that do not leak, counting the ones that do. */
  keep(list: string[]): string[] {
    return list.filter((s) => {
      const bad = this.leaks(s);
      if (bad) this.blocked++;
      return !bad;
    });
  }
}

export interface LlmEnrichStats {
  parts: number;
  calls: number;
  prompt_tokens: number;
  completion_tokens: number;
  repaired: number;
  leaks_blocked: number;
  degraded_tasks: string[];
  key_quotes_dropped: number;
}

export interface LlmEnrichOptions extends ExtractiveOptions {
  contextTokens: number;
  maxOutputTokens: number;
  /** LLM calls in flight at once (default 1). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (fraction: number, note?: string) => void;
}

type Task = 'summary' | 'gi' | 'kg';

export async function enrichWithLlm(
  tt: TranscriptText,
  episode: EpisodeInfo,
  provider: LlmProvider,
  opts: LlmEnrichOptions,
): Promise<{ result: EnrichResult; stats: LlmEnrichStats; analysis: Analysis }> {
  const a = analyse(tt, episode, opts);
  const prompts = { summary: loadPrompt(PROMPT_IDS.summary), gi: loadPrompt(PROMPT_IDS.gi), kg: loadPrompt(PROMPT_IDS.kg), reduce: loadPrompt(PROMPT_IDS.reduce) };
  const guard = new LeakGuard(Object.values(prompts));
  const schemas = { summary: SummarySchema, gi: GiSchema, kg: KgSchema } as const;
  const knownPeople = feedPeople(episode);
  const knownText = knownPeople.length ? knownPeople.map((p) => `${p.name} (${p.role})`).join(', ') : 'none';

  // Room for the transcript: the window minus the answer and the largest prompt with its schema.
  const overhead = Math.max(
    ...(['summary', 'gi', 'kg'] as const).map((t) => estimateTokens(prompts[t].system + prompts[t].user + JSON.stringify(jsonSchemaOf(schemas[t])) + knownText + episode.title)),
  );
  const budget = Math.max(200, Math.floor((opts.contextTokens - opts.maxOutputTokens - overhead - 64) * 0.9));
  const parts = tt.text ? splitIntoParts(tt, budget) : [];

  const stats: LlmEnrichStats = { parts: parts.length, calls: 0, prompt_tokens: 0, completion_tokens: 0, repaired: 0, leaks_blocked: 0, degraded_tasks: [], key_quotes_dropped: 0 };
  const problems: Partial<Record<Task | 'reduce', string>> = {};
  const maps = { summary: [] as z.output<typeof SummarySchema>[], gi: [] as z.output<typeof GiSchema>[], kg: [] as z.output<typeof KgSchema>[] };

  const totalCalls = parts.length * 3 + (parts.length > 1 ? 1 : 0);
  let done = 0;
  async function call<T>(task: string, tpl: PromptTemplate, schema: z.ZodType<T>, vars: Record<string, string>, signal = opts.signal) {
    const res = await provider.completeJson(
      { task, schemaName: task.replace(/[^a-z]/g, '_'), schema, system: renderPrompt(tpl.system, vars), user: renderPrompt(tpl.user, vars) },
      signal,
    );
    stats.calls += res.usage.calls;
    stats.prompt_tokens += res.usage.promptTokens;
    stats.completion_tokens += res.usage.completionTokens;
    if (res.ok && res.repaired) stats.repaired++;
    opts.onProgress?.(++done / Math.max(1, totalCalls), task);
    return res;
  }

  // Map: every (part, task) call, `concurrency` at a time; results keep part order.
  const jobs = parts.flatMap((part) => (['summary', 'gi', 'kg'] as const).map((task) => ({ part, task })));
  const byPart = { summary: [] as unknown[], gi: [] as unknown[], kg: [] as unknown[] };
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { part, task } = jobs[next++];
      if (problems[task]) continue; // already falling back for this task
      const vars = { episode_title: episode.title, part: String(part.index + 1), parts: String(parts.length), transcript: asData(part.text), known_people: knownText };
      const res = await call(task, prompts[task], schemas[task] as z.ZodType<unknown>, vars, signal);
      if (res.ok) byPart[task][part.index] = res.value;
      else problems[task] ??= `${task}, part ${part.index + 1}: ${res.problem}`;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 1, jobs.length)) }, worker));
  } catch (e) {
    stop.abort(e); // a transport failure ends the other calls too
    throw e;
  }
  maps.summary = byPart.summary.filter(Boolean) as typeof maps.summary;
  maps.gi = byPart.gi.filter(Boolean) as typeof maps.gi;
  maps.kg = byPart.kg.filter(Boolean) as typeof maps.kg;

  // --- summary (reduce by LLM when there is more than one part) ---
  let summary: SummaryArtifact | null = null;
  if (!problems.summary && maps.summary.length) {
    let title = maps.summary[0].title;
    let bullets = maps.summary.flatMap((m) => m.bullets);
    if (maps.summary.length > 1) {
      const partText = maps.summary.map((m, i) => `Part ${i + 1}: ${m.title}\n${m.bullets.map((b) => `- ${b}`).join('\n')}`).join('\n\n');
      const res = await call('summary-reduce', prompts.reduce, ReduceSchema, { episode_title: episode.title, part_summaries: asData(partText) });
      if (res.ok) ({ title, bullets } = res.value);
      else problems.summary = `summary-reduce: ${res.problem}`;
    }
    if (!problems.summary) {
      const keyQuotes: GroundedQuote[] = [];
      for (const q of maps.summary.flatMap((m) => m.key_quotes)) {
        const g = a.grounder.ground(q);
        if (g && !keyQuotes.some((k) => k.char_start === g.char_start)) keyQuotes.push(g);
        else if (!g) stats.key_quotes_dropped++;
      }
      const safeTitle = guard.keep([title])[0] ?? episode.title;
      summary = {
        schema_version: ENRICH_SCHEMA_VERSION,
        episode_key: episode.episodeKey,
        title: safeTitle,
        bullets: guard.keep(bullets),
        key_quotes: keyQuotes.slice(0, opts.keyQuotes ?? 5),
        status: 'valid',
        method: 'llm',
      };
    }
  }
  summary ??= extractiveSummary(a, episode, opts, problems.summary ? 'degraded' : 'valid', problems.summary);

  // --- insights (union over parts; grounding against the whole transcript) ---
  const names = entityNames(a, episode);
  const gi = problems.gi
    ? buildGi(episode, extractiveInsights(a, opts), a.grounder, names, { method: 'extractive', status: 'degraded', problem: problems.gi })
    : buildGi(
        episode,
        maps.gi
          .flatMap((m) => m.insights)
          .filter((i) => !guard.leaks(i.text))
          .map((i): InsightDraft => ({ ...i, topics: guard.keep(i.topics) }))
          .sort((x, y) => y.confidence - x.confidence)
          .slice(0, opts.maxInsights ?? 20),
        a.grounder,
        names,
        { method: 'llm', status: 'valid' },
      );
  if (!problems.gi) stats.leaks_blocked += maps.gi.flatMap((m) => m.insights).filter((i) => guard.leaks(i.text)).length;

  // --- knowledge graph (union over parts) ---
  let kg;
  if (problems.kg) kg = buildKg(episode, extractiveKgDraft(a), { method: 'extractive', status: 'degraded', problem: problems.kg });
  else {
    const normText = normalise(tt.text).text;
    const count = (name: string) => {
      const n = normalise(name).text;
      if (n.length < 2) return 0;
      let c = 0;
      for (let i = normText.indexOf(n); i >= 0; i = normText.indexOf(n, i + n.length)) c++;
      return c;
    };
    const draft: KgDraft = { people: [], orgs: [], topics: [], relations: [] };
    for (const m of maps.kg) {
      for (const p of m.people) if (!guard.leaks(p.name)) draft.people.push({ name: p.name, role: p.role as PersonRole, count: count(p.name) });
      for (const o of m.organizations) if (!guard.leaks(o.name)) draft.orgs.push({ name: o.name, count: count(o.name) });
      for (const t of m.topics) if (!guard.leaks(t.label)) draft.topics.push({ name: t.label, count: count(t.label) });
      for (const r of m.relations) draft.relations.push({ from: r.from, to: r.to, weight: 1 });
    }
    kg = buildKg(episode, draft, { method: 'llm', status: 'valid' });
  }

  stats.leaks_blocked += guard.blocked;
  stats.degraded_tasks = Object.keys(problems).filter((k) => k !== 'reduce');
  return { result: { summary, gi, kg }, stats, analysis: a };
}

/** Prompt file versions (id@hash) in the enrich fingerprint. */
export function promptVersions(): Record<string, string> {
  return Object.fromEntries(Object.entries(PROMPT_IDS).map(([k, id]) => [k, `${id}@${loadPrompt(id).hash}`]));
}
