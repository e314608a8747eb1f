import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { PodbrainError } from '../../core/errors';
import { isDirectory, readTranscriptText, TRANSCRIPT_EXTENSIONS } from '../../eval/reference-text';
import { wordErrorRate, type WerResult } from '../../eval/wer';
import { registerEvalSearchCommand } from './eval-search';

interface WerRow extends WerResult {
  name: string;
  ref: string;
  hyp: string;
}

/** Pairs `NAME.txt` in the reference dir with `NAME.{json,vtt,srt,txt}` in the hypothesis dir. */
function pairDirectories(refDir: string, hypDir: string): { name: string; ref: string; hyp: string | null }[] {
  const refs = readdirSync(refDir)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  if (!refs.length) throw new PodbrainError('eval_no_refs', `no reference .txt files in ${refDir}`);
  const hyps = new Set(readdirSync(hypDir));
  return refs.map((f) => {
    const name = f.slice(0, -4);
    const hyp = TRANSCRIPT_EXTENSIONS.map((ext) => `${name}${ext}`).find((h) => hyps.has(h) && !(path.resolve(hypDir, h) === path.resolve(refDir, f)));
    return { name, ref: path.join(refDir, f), hyp: hyp ? path.join(hypDir, hyp) : null };
  });
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function totalOf(rows: WerRow[]): WerResult {
  const sum = (k: 'substitutions' | 'deletions' | 'insertions' | 'refWords' | 'hypWords') => rows.reduce((n, r) => n + r[k], 0);
  const refWords = sum('refWords');
  const errors = sum('substitutions') + sum('deletions') + sum('insertions');
  return {
    wer: refWords ? errors / refWords : errors ? 1 : 0,
    substitutions: sum('substitutions'),
    deletions: sum('deletions'),
    insertions: sum('insertions'),
    refWords,
    hypWords: sum('hypWords'),
  };
}

const jsonRow = (r: WerResult) => ({
  wer: Math.round(r.wer * 1e6) / 1e6,
  substitutions: r.substitutions,
  deletions: r.deletions,
  insertions: r.insertions,
  ref_words: r.refWords,
  hyp_words: r.hypWords,
});

export function registerEvalCommands(program: Command): void {
  const evalCmd = program.command('eval').description('Measure output quality against references');

  registerEvalSearchCommand(evalCmd);

  evalCmd
    .command('wer')
    .description('Normalised word error rate of a transcript against a reference text (or of every clip in two directories)')
    .requiredOption('--ref <file|dir>', 'reference text (.txt), or a directory of NAME.txt references')
    .requiredOption('--hyp <file|dir>', 'transcript.json, verbose_json, .srt, .vtt or .txt; or a directory of NAME.<ext> hypotheses')
    .option('--json', 'print JSON')
    .option('--max-wer <fraction>', 'exit with status 1 when the (total) WER is above this, e.g. 0.15', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new PodbrainError('eval_bad_option', `--max-wer expects a number ≥ 0 (a fraction, 0.15 = 15%), got ${JSON.stringify(v)}`);
      return n;
    })
    .action((opts: { ref: string; hyp: string; json?: boolean; maxWer?: number }) => {
      const refIsDir = isDirectory(opts.ref);
      if (refIsDir !== isDirectory(opts.hyp)) {
        throw new PodbrainError('eval_bad_option', '--ref and --hyp must both be files or both be directories');
      }
      const pairs = refIsDir ? pairDirectories(opts.ref, opts.hyp) : [{ name: path.basename(opts.ref).replace(/\.[^.]+$/, ''), ref: opts.ref, hyp: opts.hyp }];
      const missing = pairs.filter((p) => p.hyp === null).map((p) => p.name);
      const rows: WerRow[] = pairs
        .filter((p): p is { name: string; ref: string; hyp: string } => p.hyp !== null)
        .map((p) => ({ name: p.name, ref: p.ref, hyp: p.hyp, ...wordErrorRate(readTranscriptText(p.ref), readTranscriptText(p.hyp)) }));
      const total = totalOf(rows);

      if (opts.json) {
        const doc = refIsDir
          ? { total: jsonRow(total), clips: rows.map((r) => ({ name: r.name, ref: r.ref, hyp: r.hyp, ...jsonRow(r) })), missing }
          : { ref: rows[0].ref, hyp: rows[0].hyp, ...jsonRow(rows[0]) };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      } else {
        const line = (label: string, r: WerResult) =>
          `${label}WER ${pct(r.wer).padStart(7)}  (S ${r.substitutions}, D ${r.deletions}, I ${r.insertions}; ${r.refWords} reference words, ${r.hypWords} hypothesis words)`;
        const lines = refIsDir ? [...rows.map((r) => line(`${r.name.padEnd(24)} `, r)), line(`${'TOTAL'.padEnd(24)} `, total)] : [line('', total)];
        if (missing.length) lines.push(`no hypothesis for: ${missing.join(', ')}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (opts.maxWer !== undefined && total.wer > opts.maxWer) {
        process.stderr.write(`podbrain: WER ${pct(total.wer)} is above --max-wer ${pct(opts.maxWer)}\n`);
        process.exitCode = 1;
      }
    });
}
