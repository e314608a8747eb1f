import { metrics } from '../telemetry/metrics';
import type { TranscriptSegment } from './types';

/**
 * Quality guards for transcripts (issue 3). Two failure modes seen in real deployments:
 * a model that silently drops part of the speech (→ low speech coverage) and a busy or
 * confused ASR server that answers HTTP 200 with garbage such as "thank you thank you …"
 * (→ repetition loop). Either makes the transcript `degraded`: it is kept, but marked,
 * counted in `podbrain_transcripts_degraded_total{reason}` and explained in its JSON.
 */

export interface SpeechSpan {
  start_ms: number;
  end_ms: number;
}

export type DegradedReasonCode = 'low_coverage' | 'repetition_loop' | 'empty_transcript';

export interface TranscriptAssessment {
  status: 'valid' | 'degraded';
  /** `code: explanation`, e.g. `low_coverage: 62% of the detected speech is covered (minimum 90%)`. */
  reasons: string[];
  speech_coverage: number | null;
  repetition_ratio: number;
  /** The longest stretch that keeps repeating itself, when there is one worth reporting. */
  loop: { start_ms: number; words: number } | null;
}

export interface AssessOptions {
  segments: TranscriptSegment[];
  /** VAD speech spans of the audio; null when not measured (then coverage is null). */
  speech: SpeechSpan[] | null;
  /** Coverage below this is degraded (ASR_MIN_COVERAGE, default 0.9). */
  minCoverage: number;
  /** Repetition ratio at or above this is a loop (ASR_MAX_REPETITION, default 0.5). */
  maxRepetition?: number;
  /** Count degraded transcripts in the metric (default true; call once per transcript). */
  countMetric?: boolean;
}

/** n-gram length and look-back window (words) of the repetition detector. */
const NGRAM = 3;
const WINDOW_WORDS = 100;
/** A run of this many words in which every trigram repeats recent text is a loop even in a long transcript. */
const LOOP_RUN_WORDS = 50;
/** Below this many words the global ratio says little (a short "yes yes yes" is not a loop). */
const MIN_WORDS_FOR_RATIO = 8;
/** With less detected speech than this, an empty transcript is plausible (silence, music). */
const MIN_SPEECH_MS_FOR_TEXT = 1000;
const DEFAULT_MAX_REPETITION = 0.5;

function merged(spans: SpeechSpan[]): SpeechSpan[] {
  const sorted = spans
    .filter((s) => Number.isFinite(s.start_ms) && Number.isFinite(s.end_ms) && s.end_ms > s.start_ms)
    .map((s) => ({ start_ms: s.start_ms, end_ms: s.end_ms }))
    .sort((a, b) => a.start_ms - b.start_ms);
  const out: SpeechSpan[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.start_ms <= last.end_ms) last.end_ms = Math.max(last.end_ms, s.end_ms);
    else out.push(s);
  }
  return out;
}

const total = (spans: SpeechSpan[]) => spans.reduce((sum, s) => sum + (s.end_ms - s.start_ms), 0);

/**
 * Share (0..1) of the detected speech covered by transcript segments that carry text, both
 * taken as unions of intervals. null speech → null (not measured); no speech at all → 1.
 */
export function speechCoverage(speech: SpeechSpan[] | null, segments: TranscriptSegment[]): number | null {
  if (speech === null) return null;
  const sp = merged(speech);
  const speechMs = total(sp);
  if (speechMs === 0) return 1;
  const seg = merged(segments.filter((s) => s.text.trim() !== ''));
  let covered = 0;
  for (let i = 0, j = 0; i < sp.length && j < seg.length; ) {
    const lo = Math.max(sp[i].start_ms, seg[j].start_ms);
    const hi = Math.min(sp[i].end_ms, seg[j].end_ms);
    if (hi > lo) covered += hi - lo;
    if (sp[i].end_ms < seg[j].end_ms) i++;
    else j++;
  }
  return Math.round((covered / speechMs) * 10_000) / 10_000;
}

interface Word {
  word: string;
  start_ms: number;
}

function wordsOf(segments: TranscriptSegment[]): Word[] {
  const out: Word[] = [];
  for (const s of segments) {
    for (const w of s.text.toLowerCase().normalize('NFKC').split(/[^\p{L}\p{N}']+/u)) {
      const word = w.replace(/^'+|'+$/g, '');
      if (word) out.push({ word, start_ms: s.start_ms });
    }
  }
  return out;
}

interface RepetitionScan {
  ratio: number;
  longestRun: { startWord: number; words: number } | null;
  words: Word[];
}

function scanRepetition(segments: TranscriptSegment[]): RepetitionScan {
  const words = wordsOf(segments);
  const grams = words.length - NGRAM + 1;
  if (grams <= 0) return { ratio: 0, longestRun: null, words };
  const lastSeen = new Map<string, number>();
  let repeated = 0;
  let runStart = -1;
  let best: { startWord: number; words: number } | null = null;
  for (let i = 0; i < grams; i++) {
    const key = words
      .slice(i, i + NGRAM)
      .map((w) => w.word)
      .join(' ');
    const prev = lastSeen.get(key);
    lastSeen.set(key, i);
    if (prev !== undefined && i - prev <= WINDOW_WORDS) {
      repeated++;
      // The loop starts at the first occurrence of what is being repeated.
      if (runStart < 0) runStart = prev;
      const runWords = i - runStart + NGRAM;
      if (!best || runWords > best.words) best = { startWord: runStart, words: runWords };
    } else {
      runStart = -1;
    }
  }
  return { ratio: Math.round((repeated / grams) * 10_000) / 10_000, longestRun: best, words };
}

/** Share (0..1) of word trigrams that repeat one seen in the previous 100 words: ~0 for speech, ~1 for loops. */
export function repetitionRatio(segments: TranscriptSegment[]): number {
  return scanRepetition(segments).ratio;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** The code part of a reason string (`low_coverage: …` → `low_coverage`). */
export function reasonCode(reason: string): string {
  return reason.split(':', 1)[0].trim();
}

/** Applies the quality guards to a transcript; see the module comment. */
export function assessTranscript(opts: AssessOptions): TranscriptAssessment {
  const maxRepetition = opts.maxRepetition ?? DEFAULT_MAX_REPETITION;
  const coverage = speechCoverage(opts.speech, opts.segments);
  const scan = scanRepetition(opts.segments);
  const reasons: string[] = [];

  const speechMs = opts.speech ? total(merged(opts.speech)) : null;
  if (scan.words.length === 0 && (speechMs === null || speechMs >= MIN_SPEECH_MS_FOR_TEXT)) {
    reasons.push(
      speechMs === null
        ? 'empty_transcript: the engine returned no text'
        : `empty_transcript: the engine returned no text for ${Math.round(speechMs / 1000)} s of detected speech`,
    );
  }
  if (coverage !== null && coverage < opts.minCoverage) {
    reasons.push(`low_coverage: ${pct(coverage)} of the detected speech is covered by transcript segments (minimum ${pct(opts.minCoverage)})`);
  }

  const run = scan.longestRun;
  const loop = run && run.words >= LOOP_RUN_WORDS ? { start_ms: scan.words[run.startWord].start_ms, words: run.words } : null;
  if (scan.words.length >= MIN_WORDS_FOR_RATIO && scan.ratio >= maxRepetition) {
    reasons.push(`repetition_loop: ${pct(scan.ratio)} of the word sequences repeat recent text (limit ${pct(maxRepetition)})`);
  } else if (loop) {
    reasons.push(`repetition_loop: ${loop.words} words from ${clock(loop.start_ms)} keep repeating the same text`);
  }

  if (opts.countMetric ?? true) {
    for (const r of reasons) metrics.transcriptsDegradedTotal.inc({ reason: reasonCode(r) });
  }
  return {
    status: reasons.length ? 'degraded' : 'valid',
    reasons,
    speech_coverage: coverage,
    repetition_ratio: scan.ratio,
    loop,
  };
}
