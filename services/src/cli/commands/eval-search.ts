import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { EMBEDDING_PROVIDERS, type Config } from '../../config/config';
import { PodbrainError, errorMessage } from '../../core/errors';
import { createLogger } from '../../core/logger';
import { buildLibrary, defaultFixturesDir, fixtureLibraryEpisodes } from '../../eval/search-corpus';
import { type QualityReport, type Qrels, evaluateSearch, parseQrels } from '../../eval/search-quality';
import { closeEmbeddingProviders, resolveEmbeddings } from '../../index/embeddings';
import { createSearchService } from '../../index/search.service';
import { configFrom } from '../context';

type Provider = (typeof EMBEDDING_PROVIDERS)[number];
type Corpus = 'data' | 'fixtures';

interface ProviderRun {
  /** As asked (`auto` stays `auto`). */
  provider: Provider;
  /** The space actually searched: `auto` resolved, the onnx model's name and checksum. */
  embeddings: { provider: string; model: string; dim: number };
  /** false when no hit of any query came from the vector side (keywords alone answered). */
  vector: boolean;
  report: QualityReport;
}

function parseProviders(v: string, previous: Provider[] = []): Provider[] {
  const out = [...previous];
  for (const p of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(EMBEDDING_PROVIDERS as readonly string[]).includes(p)) {
      throw new PodbrainError('eval_bad_option', `--provider expects ${EMBEDDING_PROVIDERS.join('|')} (comma-separated or repeated), got ${JSON.stringify(p)}`);
    }
    if (!out.includes(p as Provider)) out.push(p as Provider);
  }
  return out;
}

function readQrels(file: string): Qrels {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PodbrainError('eval_bad_qrels', `cannot read --qrels ${file}: ${errorMessage(e)}`);
  }
  return parseQrels(text, file);
}

/** Searches every judged query against the library in config.dataDir with config's embeddings. */
async function runProvider(config: Config, provider: Provider, qrels: Qrels, k: number, log: ReturnType<typeof createLogger>): Promise<ProviderRun> {
  const resolved = resolveEmbeddings(config);
  if (resolved.unavailable) throw new PodbrainError('eval_provider_unavailable', `--provider ${provider}: ${resolved.unavailable}`);
  const service = createSearchService(config, log);
  await service.sync();
  let vector = false;
  const report = await evaluateSearch(
    qrels,
    async (query, n) => {
      const r = await service.search(query, { k: n });
      vector ||= r.hits.some((h) => h.vector_rank !== null);
      return r.hits;
    },
    k,
  );
  return { provider, embeddings: resolved.space, vector, report };
}

const fixed = (x: number) => x.toFixed(3);
const round = (x: number) => Math.round(x * 1e4) / 1e4;

function formatRuns(runs: ProviderRun[], head: string, verbose: boolean): string {
  const lines = [head, ''];
  const k = runs[0].report.k;
  const rows = runs.map((r) => [
    r.provider,
    `${r.embeddings.provider} ${r.embeddings.model} (${r.embeddings.dim})${r.vector ? '' : ' — keywords only'}`,
    fixed(r.report.mrr),
    fixed(r.report.ndcg),
    `${Math.round(r.report.recall * r.report.queries)}/${r.report.queries}`,
  ]);
  const header = ['provider', 'embeddings', `MRR@${k}`, `nDCG@${k}`, `found@${k}`];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [header, ...rows]) lines.push(r.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());
  if (verbose) {
    for (const r of runs) {
      lines.push('', `${r.provider}: per query (rank of the first relevant hit, nDCG@${k})`);
      for (const q of r.report.perQuery) {
        lines.push(`  ${q.id.padEnd(6)} ${(q.firstRelevant ? `#${q.firstRelevant}` : '—').padStart(3)}  ${fixed(q.ndcg)}  ${q.query}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

export function registerEvalSearchCommand(evalCmd: Command): void {
  evalCmd
    .command('search')
    .description('Search quality (MRR@k, nDCG@k) on judged queries: a hit is relevant when its episode matches and its time span overlaps a judged span')
    .requiredOption('--qrels <file>', 'judged queries, YAML or JSON: { queries: [{ id, query, relevant: [{ episode, start_ms, end_ms, grade }] }] }')
    .option('--provider <names>', `embedding providers to compare (${EMBEDDING_PROVIDERS.join('|')}; comma-separated or repeated); default EMBEDDINGS_PROVIDER`, parseProviders)
    .option('--corpus <data|fixtures>', "what to search: the library in DATA_DIR (or --out), or 'fixtures': a temporary library indexed from the fixture publisher transcripts per provider; default the qrels file's `corpus`, else data")
    .option('--out <dir>', 'data directory of a `podbrain run --out DIR` (overrides DATA_DIR; --corpus data)')
    .option('--fixtures <dir>', 'shared fixtures directory (--corpus fixtures; default PODBRAIN_FIXTURES or ../shared/fixtures)')
    .option('-k, --k <n>', 'cut-off rank (1–100)', '10')
    .option('--verbose', 'per query: the rank of the first relevant hit and its nDCG')
    .option('--json', 'print JSON')
    .action(async (opts: { qrels: string; provider?: Provider[]; corpus?: string; out?: string; fixtures?: string; k: string; verbose?: boolean; json?: boolean }, cmd: Command) => {
      const k = Number(opts.k);
      if (!Number.isInteger(k) || k < 1 || k > 100) throw new PodbrainError('eval_bad_option', `--k expects a whole number 1–100, got ${JSON.stringify(opts.k)}`);
      const qrels = readQrels(opts.qrels);
      const corpus = (opts.corpus ?? qrels.corpus ?? 'data') as Corpus;
      if (corpus !== 'data' && corpus !== 'fixtures') throw new PodbrainError('eval_bad_option', `--corpus expects data or fixtures, got ${JSON.stringify(corpus)}`);
      const base = configFrom(cmd, opts.out ? { DATA_DIR: opts.out } : {});
      const providers = opts.provider?.length ? opts.provider : [base.embeddings.provider];
      if (corpus === 'data' && providers.length > 1) {
        throw new PodbrainError('eval_bad_option', '--corpus data searches the one index in DATA_DIR: compare providers with --corpus fixtures');
      }
      const log = createLogger({ service: 'podbrain-cli', level: base.logLevel === 'info' ? 'warn' : base.logLevel, destination: process.stderr });

      const runs: ProviderRun[] = [];
      let episodes: number | null = null;
      try {
        if (corpus === 'data') {
          const config = configFrom(cmd, { ...(opts.out ? { DATA_DIR: opts.out } : {}), EMBEDDINGS_PROVIDER: providers[0] });
          runs.push(await runProvider(config, providers[0], qrels, k, log));
        } else {
          const library = fixtureLibraryEpisodes(opts.fixtures ?? defaultFixturesDir());
          episodes = library.length;
          for (const provider of providers) {
            const dir = await fs.mkdtemp(path.join(os.tmpdir(), `podbrain-eval-search-${provider}-`));
            try {
              const config = configFrom(cmd, { DATA_DIR: dir, EMBEDDINGS_PROVIDER: provider });
              const unavailable = resolveEmbeddings(config).unavailable;
              if (unavailable) throw new PodbrainError('eval_provider_unavailable', `--provider ${provider}: ${unavailable}`);
              await buildLibrary(config, library, log);
              runs.push(await runProvider(config, provider, qrels, k, log));
            } finally {
              await fs.rm(dir, { recursive: true, force: true });
            }
          }
        }
      } finally {
        await closeEmbeddingProviders();
      }

      const corpusLabel = corpus === 'fixtures' ? `fixtures (${episodes} episodes, indexed per provider)` : `data (${base.dataDir})`;
      if (opts.json) {
        const doc = {
          qrels: opts.qrels,
          corpus,
          k,
          queries: qrels.queries.length,
          providers: runs.map((r) => ({
            provider: r.provider,
            embeddings: r.embeddings,
            vector: r.vector,
            mrr: round(r.report.mrr),
            ndcg: round(r.report.ndcg),
            found: round(r.report.recall),
            per_query: r.report.perQuery.map((q) => ({
              id: q.id,
              query: q.query,
              first_relevant: q.firstRelevant,
              reciprocal_rank: round(q.reciprocalRank),
              ndcg: round(q.ndcg),
              ...(opts.verbose ? { hits: q.hits.map((h) => ({ episode_key: h.episode_key, start_ms: h.start_ms, end_ms: h.end_ms })) } : {}),
            })),
          })),
        };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      } else {
        process.stdout.write(formatRuns(runs, `${qrels.queries.length} queries from ${opts.qrels}; corpus ${corpusLabel}; k = ${k}`, opts.verbose ?? false));
        for (const r of runs.filter((x) => x.embeddings.provider !== x.provider && x.provider !== 'auto')) {
          process.stderr.write(`note: --provider ${r.provider} searched ${r.embeddings.provider}\n`);
        }
        if (providers.includes('auto') && runs.some((r) => r.provider === 'auto' && r.embeddings.provider === 'hash')) {
          process.stderr.write('note: auto fell back to hash: no ONNX embedding model is in place (EMBEDDINGS_MODEL_PATH, podbrain models)\n');
        }
      }
    });
}
