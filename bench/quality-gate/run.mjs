#!/usr/bin/env node
// Quality-gate figure (issue 16): false-positive rate on every fixture publisher transcript (the
// real feeds' episode descriptions and the FLEURS/JFK reference texts as two-speaker SRT and VTT,
// parsed by the feed engine's parser; goal 0) and detection rate on fake-model transcripts (the
// real whisper-cli decoding fixture audio with random-weight tiny models; goal 100 %).
// Needs the compiled services and whisper.cpp: `npm run build:native && npm run build`, then
// `npm run bench:quality-gate`. BENCH_SEEDS=1,3 (model seeds), BENCH_CLIPS (fixture audio files),
// BENCH_WORDLIST (another word list; a missing file shows the token-shape fallback).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = path.join(root, 'services/dist');
const require = createRequire(path.join(root, 'services/package.json'));
if (!existsSync(path.join(dist, 'eval/gate-corpus.js'))) {
  console.error(`missing ${dist}/eval/gate-corpus.js: run "npm run build -w services" first`);
  process.exit(2);
}
const { fixturePublisherTranscripts } = require(path.join(dist, 'eval/gate-corpus.js'));
const { parseTranscript } = require(path.join(dist, 'asr/feed/formats.js'));
const { assessTranscript, enrichBlocker, DEFAULT_WORDLIST, loadWordlist } = require(path.join(dist, 'asr/quality.js'));
const { writeFakeWhisperModel } = require(path.join(dist, 'asr/whisper/fake-model.js'));
const { createWhisperCppEngine } = require(path.join(dist, 'asr/whisper/engine.js'));
const { loadConfig } = require(path.join(dist, 'config/config.js'));
const { silentLogger } = require(path.join(dist, 'core/logger.js'));

const fixtures = process.env.PODBRAIN_FIXTURES ?? path.resolve(root, '../shared/fixtures');
const SEEDS = (process.env.BENCH_SEEDS ?? '1,3').split(',').map(Number);
const WORDLIST = process.env.BENCH_WORDLIST || DEFAULT_WORDLIST;
const CLIPS = (process.env.BENCH_CLIPS ?? 'jfk.wav,fleurs-en-000.ogg,fleurs-en-001.ogg,fleurs-en-002.ogg,fleurs-en-003.ogg,fleurs-en-004.ogg,fleurs-en-005.ogg,fleurs-en-006.ogg').split(',');

if (!loadWordlist(WORDLIST)) console.warn(`note: no word list at ${WORDLIST} (apt-get install wamerican): the gate falls back to token shape`);
const assess = (segments) => assessTranscript({ segments, speech: null, minCoverage: 0.9, language: 'en', wordlist: WORDLIST, countMetric: false });

// ---- clean publisher transcripts: none may be flagged ----
const corpus = fixturePublisherTranscripts(fixtures);
const clean = corpus.map((c) => {
  const segments = parseTranscript(c.body, c.format).segments;
  const a = assess(segments);
  return { name: c.name, words: a.text_check.words, word_share: a.text_check.word_share, status: a.status, reasons: a.reasons };
});
const falsePositives = clean.filter((c) => c.status !== 'valid');

// ---- fake-model transcripts: all must be flagged, and kept from enrichment ----
const work = mkdtempSync(path.join(os.tmpdir(), 'pb-bench-gate-'));
const fake = [];
try {
  for (const seed of SEEDS) {
    const models = path.join(work, `models-${seed}`);
    await writeFakeWhisperModel({ shape: 'tiny', outDir: models, seed });
    const config = loadConfig({
      env: { MODELS_DIR: models, WHISPER_MODEL: 'tiny', WHISPER_THREADS: '2', WHISPER_BEAM_SIZE: '1', WHISPER_LANGUAGE: 'en', WHISPER_TEMPERATURE_FALLBACK: 'false', ASR_ENGINES: 'whisper-cpp', LOG_LEVEL: 'silent' },
    });
    const engine = createWhisperCppEngine(config, { logger: silentLogger });
    for (const clip of CLIPS) {
      const wav = path.join(work, `${clip}.wav`);
      if (!existsSync(wav)) execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-i', path.join(fixtures, 'audio', clip), '-ar', '16000', '-ac', '1', wav]);
      const t0 = performance.now();
      const res = await engine.transcribe({ wavPath: wav, durationMs: null, transcripts: [], signal: new AbortController().signal });
      const a = assess(res.segments);
      const text = res.segments.map((s) => s.text).join(' ');
      fake.push({
        clip,
        seed,
        asr_s: Math.round(performance.now() - t0) / 1000,
        sample: text.length > 60 ? `${text.slice(0, 60)}…` : text,
        status: a.status,
        reasons: a.reasons,
        enrich_blocked: enrichBlocker({ reasons: a.reasons, repetition_ratio: a.repetition_ratio }) !== null,
      });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const detected = fake.filter((f) => f.status === 'degraded');

const pct = (n, d) => (d ? Math.round((n / d) * 1000) / 10 : 0);
const report = {
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${os.platform()} ${os.release()}`,
  wordlist: loadWordlist(WORDLIST) ? WORDLIST : null,
  publisher: { transcripts: clean.length, flagged: falsePositives.length, false_positive_rate_pct: pct(falsePositives.length, clean.length), min_word_share: Math.min(...clean.map((c) => c.word_share)) },
  fake_model: { transcripts: fake.length, detected: detected.length, detection_rate_pct: pct(detected.length, fake.length), enrich_blocked: fake.filter((f) => f.enrich_blocked).length },
};
console.table(clean.map(({ name, words, word_share, status }) => ({ name, words, word_share, status })));
console.table(fake.map(({ clip, seed, asr_s, sample, status, reasons }) => ({ clip, seed, asr_s, sample, status, reason: reasons.map((r) => r.split(':')[0]).join(',') })));
for (const f of falsePositives) console.log(`FALSE POSITIVE ${f.name}: ${f.reasons.join('; ')}`);
for (const f of fake.filter((x) => x.status !== 'degraded')) console.log(`MISSED ${f.clip} seed ${f.seed}: ${f.sample}`);
console.log(JSON.stringify(report, null, 2));
process.exit(falsePositives.length || detected.length < fake.length ? 1 : 0);
