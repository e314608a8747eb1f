import fs from 'node:fs/promises';
import path from 'node:path';
import type { StagingDir } from '../artifacts/store';
import { enrichBlocker } from '../asr/quality';
import type { Transcript } from '../asr/types';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { hashOf } from '../core/hash';
import { buildGi, buildKg, feedPeople, type EpisodeInfo } from '../enrich/assemble';
import { Grounder } from '../enrich/grounding';
import { EXTRACTIVE_VERSION, enrichExtractive } from '../enrich/extractive';
import { enrichWithLlm, promptVersions, type LlmEnrichStats } from '../enrich/llm-enrich';
import { buildTranscriptText, type TranscriptText } from '../text/transcript-text';
import { ENRICH_SCHEMA_VERSION, GI_FILE, KG_FILE, SUMMARY_FILE, type EnrichResult } from '../enrich/types';
import { LlmProvider, llmConfigured } from '../llm/provider';
import { metrics } from '../telemetry/metrics';
import type { Stage, StageContext } from '../pipeline/stage';
import { buildChapters } from '../chapters/build';
import { chapterTitlesPromptVersion } from '../chapters/llm-titles';
import { CHAPTERS_FILE, CHAPTERS_VERSION } from '../chapters/types';
import { isLocalFeedLocation } from '../feeds/load';

const TRANSCRIPT_FILE = 'transcript.json';
/** LLM calls of one episode in flight at once (map parts × tasks); the output does not depend on it. */
const LLM_MAP_CONCURRENCY = 2;

/** The configured part of enrich's plan (its recipe): method, model, prompt file hashes, schema and algorithm versions. */
export function enrichRecipe(config: Config): Record<string, unknown> {
  const common = {
    schema_version: ENRICH_SCHEMA_VERSION,
    extractive: EXTRACTIVE_VERSION,
    degraded_transcripts: config.llm.enrichDegraded,
    chapters: CHAPTERS_VERSION,
    chapters_generate: config.chapters.generate,
    chapters_max_bytes: config.chapters.maxBytes,
  };
  if (!llmConfigured(config)) return { method: 'extractive', ...common };
  return {
    method: 'llm',
    model: config.llm.model,
    base_url: (config.openai.baseUrl || 'https://api.openai.com/v1').replace(/\/+$/, ''),
    prompts: { ...promptVersions(), chapter_titles: chapterTitlesPromptVersion() },
    context_tokens: config.llm.contextTokens,
    max_output_tokens: config.llm.maxOutputTokens,
    ...common,
  };
}

/** Everything that changes enrich output: its recipe and what it takes from the episode. */
export function enrichPlanParts(config: Config, episode: StageContext['episode']): Record<string, unknown> {
  return {
    ...enrichRecipe(config),
    // Hosts/guests from the feed shape the KG roles.
    feed_people: hashOf(feedPeople(episode)).slice(0, 16),
    title: episode.title,
    // The publisher's podcast:chapters: a new URL fetches them again.
    chapters_url: episode.chaptersUrl ?? null,
  };
}

async function readTranscript(dir: string): Promise<Transcript> {
  const file = path.join(dir, TRANSCRIPT_FILE);
  let t: Transcript;
  try {
    t = JSON.parse(await fs.readFile(file, 'utf8')) as Transcript;
  } catch (e) {
    throw new PodbrainError('bad_transcript', `cannot read ${file}: ${(e as Error).message}`, { file });
  }
  if (!t || !Array.isArray(t.segments)) throw new PodbrainError('bad_transcript', `${file} has no segments array`, { file });
  return t;
}

/**
 * What enrich writes for a transcript the quality gate calls unfit (garbage, empty, mostly a loop):
 * no bullets, insights or graph beyond the episode, status invalid and the reason as the problem,
 * so the api and viewer say why instead of summarising noise.
 */
function notGenerated(tt: TranscriptText, episode: EpisodeInfo, blocker: string): EnrichResult {
  const outcome = { method: 'extractive' as const, status: 'invalid' as const, problem: `not generated: the transcript is degraded (${blocker}); ENRICH_DEGRADED_TRANSCRIPTS=true enriches it anyway` };
  return {
    summary: { schema_version: ENRICH_SCHEMA_VERSION, episode_key: episode.episodeKey, title: episode.title?.trim() || 'Untitled episode', bullets: [], key_quotes: [], ...outcome },
    gi: buildGi(episode, [], new Grounder(tt), { people: [], orgs: [], topics: [] }, outcome),
    kg: buildKg(episode, { people: [], orgs: [], topics: [], relations: [] }, outcome),
  };
}

/** The extractive result written in the LLM's place: `degraded`, with why, so the api and viewer say so. */
function standIn(r: EnrichResult, problem: string): EnrichResult {
  const mark = { status: 'degraded' as const, problem };
  return { summary: { ...r.summary, ...mark }, gi: { ...r.gi, ...mark }, kg: { ...r.kg, ...mark } };
}

/**
 * Summary, grounded insights and knowledge graph (ARCHITECTURE §5): LLM when configured, extractive
 * otherwise. An LLM that fails after its retries (down, 5xx, timeouts) does not fail the episode:
 * the extractive result stands in, `degraded`, with meta info `llm_fallback` (reason, error type)
 * and podbrain_enrich_llm_fallback_total{reason="unreachable"}. A task whose output stays invalid
 * after the repair round falls back alone (llm-enrich.ts; reason="invalid_output").
 */
export function createEnrichStage(): Stage {
  return {
    name: 'enrich',
    needs: ['transcribe'],
    plan: ({ config, episode }) => ({ configured: true, parts: enrichPlanParts(config, episode), recipe: enrichRecipe(config) }),
    recipes: (config) => [enrichRecipe(config)],
    run: async (ctx: StageContext, out: StagingDir) => {
      const input = ctx.inputs.transcribe;
      if (!input) throw new PodbrainError('missing_input', 'enrich needs the transcribe artifact');
      const transcript = await readTranscript(input.dir);
      const tt = buildTranscriptText(transcript.segments);
      const t0 = performance.now();

      let result: EnrichResult;
      let provider: LlmProvider | null = null;
      let llm: LlmEnrichStats | null = null;
      let fallback: { reason: 'unreachable'; error_type: string; problem: string } | null = null;
      const blocker = ctx.config.llm.enrichDegraded ? null : enrichBlocker(transcript.quality, ctx.config.asr.maxRepetition);
      if (blocker) {
        result = notGenerated(tt, ctx.episode, blocker);
        ctx.log.warn({ reason: blocker }, 'enrich: no summary or insights for a degraded transcript (ENRICH_DEGRADED_TRANSCRIPTS=false)');
        ctx.progress(1);
      } else if (llmConfigured(ctx.config)) {
        provider = new LlmProvider(ctx.config, { logger: ctx.log });
        try {
          const r = await enrichWithLlm(tt, ctx.episode, provider, {
            contextTokens: ctx.config.llm.contextTokens,
            maxOutputTokens: ctx.config.llm.maxOutputTokens,
            concurrency: LLM_MAP_CONCURRENCY,
            signal: ctx.signal,
            onProgress: (f, note) => ctx.progress(f, note),
          });
          result = r.result;
          llm = r.stats;
          if (r.stats.degraded_tasks.length) metrics.enrichLlmFallbackTotal.inc({ reason: 'invalid_output' }, r.stats.degraded_tasks.length);
        } catch (e) {
          // An abort (job timeout, shutdown) is not the LLM's failure: the job is retried as usual.
          if (ctx.signal.aborted || !(e instanceof PodbrainError) || e.code !== 'llm_provider_failed') throw e;
          fallback = { reason: 'unreachable', error_type: String(e.details.error_type ?? 'unknown'), problem: `LLM unusable, extractive result stands in: ${e.message}` };
          result = standIn(enrichExtractive(tt, ctx.episode), fallback.problem);
          metrics.enrichLlmFallbackTotal.inc({ reason: 'unreachable' });
          ctx.log.warn({ model: ctx.config.llm.model, error_type: fallback.error_type, err: e.message }, 'enrich: the LLM failed after retries; the extractive result stands in');
          ctx.progress(1);
        }
      } else {
        if (ctx.config.llm.model) ctx.log.warn({ model: ctx.config.llm.model }, 'LLM_MODEL is set but neither OPENAI_BASE_URL nor OPENAI_API_KEY: using the extractive fallback');
        result = enrichExtractive(tt, ctx.episode);
        ctx.progress(1);
      }

      await out.writeJson(SUMMARY_FILE, result.summary);
      await out.writeJson(GI_FILE, result.gi);
      await out.writeJson(KG_FILE, result.kg);
      const chapters = await buildChapters({
        config: ctx.config,
        episode: ctx.episode,
        segments: tt.segments,
        log: ctx.log,
        signal: ctx.signal,
        blocker,
        // An LLM that just failed after its retries is not asked again for titles.
        llm: fallback ? null : provider,
        allowLocalFiles: isLocalFeedLocation(ctx.episode.feedUrl),
      });
      await out.writeJson(CHAPTERS_FILE, chapters);

      const degraded = [result.summary, result.gi, result.kg].some((a) => a.status !== 'valid');
      const info = {
        method: llm ? 'llm' : 'extractive',
        model: llm ? ctx.config.llm.model : null,
        status: degraded ? 'degraded' : 'valid',
        ...(blocker ? { not_generated: blocker } : {}),
        methods: { summary: result.summary.method, gi: result.gi.method, kg: result.kg.method },
        insights: result.gi.stats.insights,
        quotes_total: result.gi.stats.quotes_total,
        quotes_dropped: result.gi.stats.quotes_dropped,
        ungrounded_insights: result.gi.stats.ungrounded_insights,
        kg_nodes: result.kg.nodes.length,
        kg_edges: result.kg.edges.length,
        chapters: { source: chapters.source, count: chapters.chapters.length, ...(chapters.titles ? { titles: chapters.titles } : {}), ...(chapters.note ? { note: chapters.note } : {}) },
        enrich_ms: Math.round(performance.now() - t0),
        ...(llm ? { llm } : {}),
        ...(fallback ? { llm_fallback: { reason: fallback.reason, error_type: fallback.error_type, model: ctx.config.llm.model, problem: fallback.problem } } : {}),
      };
      if (degraded && !blocker && !fallback) ctx.log.warn({ degraded_tasks: llm?.degraded_tasks }, 'enrich degraded: LLM output unusable, extractive result stands in');
      return { info };
    },
  };
}
